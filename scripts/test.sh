#!/usr/bin/env bash
# The README's second command (and what CI runs): set up, start the local services, run pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
bash scripts/services.sh
ruff check .
exec python -m pytest "$@"
