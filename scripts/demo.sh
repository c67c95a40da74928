#!/usr/bin/env bash
# The README's first command: set everything up, then run the whole system on the embedded default
# (SQLite, embedded MQTT broker, in-process jobs, a simulated classroom camera). Ctrl-C stops it.
# Options go to `visage demo` (e.g. --port 8080); `visage faces demo` still runs the face core alone.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
exec visage demo "$@"
