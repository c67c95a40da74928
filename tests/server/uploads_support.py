"""Helpers shared by the album and deepfake tests: run the queued jobs, list the stored files."""

from __future__ import annotations

from pathlib import Path


def run_jobs(app) -> int:
    """Run every queued background job in this thread (what the worker threads would do)."""
    from server.jobs import run_pending

    return run_pending(app)


def stored_files(app) -> list[str]:
    """Every file under the app's local storage folder (relative paths)."""
    root = Path(app.instance_path) / "storage"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []
