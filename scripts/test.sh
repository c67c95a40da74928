#!/usr/bin/env bash
# The README's second command (and what CI runs): set up, start the local services, run pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
bash scripts/services.sh
ruff check .
# Headless Chromium for the browser tests (tests/browser): Debian's package, driven by Playwright for
# Python (no Playwright browser download). Installed once, only when missing.
if [ ! -x /usr/bin/chromium ]; then
    echo "==> installing Chromium for the browser tests"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver
fi
# The device profile (Python 3.10, only '.[edge]') on a full run; a run of chosen tests skips it.
if [ "$#" -eq 0 ]; then
    bash scripts/test_edge.sh
fi
exec python -m pytest "$@"
