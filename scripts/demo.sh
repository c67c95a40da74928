#!/usr/bin/env bash
# The README's first command: set everything up, then run the main job on the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
exec visage faces demo "$@"
