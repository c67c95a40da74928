#!/usr/bin/env bash
# Start the local MariaDB, Mosquitto and Redis the integration tests talk to, if they are installed
# and not already running. Safe to run repeatedly.
set -uo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 3306 && [ -x /usr/sbin/mariadbd ]; then
    echo "==> starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
if ! port_open 1883 && command -v mosquitto >/dev/null; then
    echo "==> starting Mosquitto"
    mosquitto -d -c /etc/mosquitto/mosquitto.conf
fi
if ! port_open 6379 && command -v redis-server >/dev/null; then
    echo "==> starting Redis (jobs on RQ: tests/server/test_server_jobs_rq.py)"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
fi
for _ in $(seq 1 30); do
    { port_open 3306 || [ ! -x /usr/sbin/mariadbd ]; } && { port_open 1883 || ! command -v mosquitto >/dev/null; } \
        && { port_open 6379 || ! command -v redis-server >/dev/null; } && exit 0
    sleep 1
done
echo "warning: a local service did not come up within 30 s" >&2
