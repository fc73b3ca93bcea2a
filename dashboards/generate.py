"""Render the dashboards to JSON files, or check that the committed files match.

Output is `json.dumps(sort_keys=True, indent=2)` plus a trailing newline (grafanalib's own
`write_dashboard`), one `<uid>.json` per dashboard, so a diff shows exactly what changed
and a check is a byte comparison.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafanalib._gen import write_dashboard

from ragplane.ops.generated import sync

from . import dashboards

OUTPUT = Path(__file__).resolve().parent / "generated"


def render(dashboard: Any) -> str:
    stream = io.StringIO()
    write_dashboard(dashboard, stream)
    return stream.getvalue()


def expected() -> dict[str, str]:
    """File name → content for every dashboard."""
    files: dict[str, str] = {}
    for dashboard in dashboards():
        name = f"{dashboard.uid}.json"
        if name in files:
            raise ValueError(f"two dashboards have the uid {dashboard.uid}")
        files[name] = render(dashboard)
    return files


def sync_files(directory: Path, *, check: bool, say: Callable[[str], None]) -> int:
    """Write every dashboard into `directory` and remove JSON files no dashboard makes any more;
    with `check`, write nothing and return 1 naming each missing, drifted or stale file."""
    files = {directory / name: text for name, text in expected().items()}
    stale = sorted(set(directory.glob("*.json")) - set(files)) if directory.is_dir() else []
    command = "python -m dashboards" + ("" if directory == OUTPUT else f" --output {directory}")
    return sync(files, check=check, command=command, say=say, stale=stale)
