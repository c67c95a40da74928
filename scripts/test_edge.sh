#!/usr/bin/env bash
# The device profile (issue: the edge on its real device): a Python 3.10 virtual environment with
# only `pip install '.[edge]'` (what JetPack 6 runs: no PyTorch, no server packages), then every test
# module marked `device_profile`. Run by scripts/test.sh; models/ must be exported already.
set -euo pipefail
cd "$(dirname "$0")/.."

is_310() { [ -n "$1" ] && "$1" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; }

find_python310() {
    local root candidate
    root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
    # an explicit choice, then python3.10 on PATH (a pyenv shim may refuse), then pyenv's newest 3.10.x
    for candidate in "${PYTHON310:-}" "$(command -v python3.10 || true)" \
        $(find "$root/versions" -maxdepth 3 -path '*/3.10.*/bin/python3.10' 2>/dev/null | sort -rV); do
        if is_310 "$candidate"; then echo "$candidate"; return; fi
    done
}

PY310="$(find_python310)"
if [ -z "$PY310" ]; then
    echo "test_edge.sh: no Python 3.10 interpreter found (JetPack 6's Python); install one" \
         "(pyenv install 3.10) or set PYTHON310=/path/to/python3.10." >&2
    exit 2
fi

VENV=.venv-edge
stamp="$VENV/.visage-installed"
if ! is_310 "$VENV/bin/python"; then
    echo "==> creating $VENV with $("$PY310" -V)"
    rm -rf "$VENV"
    "$PY310" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ]; then
    echo "==> installing the device profile: pip install '.[edge]' (and pytest to run the tests)"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e '.[edge]' 'pytest>=8'
    touch "$stamp"
fi

# The profile must hold no server package and no PyTorch: a device never installs them.
"$VENV/bin/python" - <<'PY'
import importlib.util, sys
found = [n for n in ("torch", "flask", "sqlalchemy", "alembic", "pymysql", "onnx") if importlib.util.find_spec(n)]
if found:
    sys.exit(f"test_edge.sh: the device profile holds {', '.join(found)}; it must install with '.[edge]' only.")
PY

mapfile -t modules < <(grep -l "pytest.mark.device_profile" tests/test_*.py)
echo "==> device profile: ${#modules[@]} test modules on $("$VENV/bin/python" -V)"
VISAGE_TEST_PROFILE=edge exec "$VENV/bin/python" -m pytest -p no:cacheprovider -m device_profile -q "${modules[@]}"
