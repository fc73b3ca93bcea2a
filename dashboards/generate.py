"""Render the dashboards to JSON files, or check that the committed files match.

Output is `json.dumps(sort_keys=True, indent=2)` plus a trailing newline (grafanalib's own
`write_dashboard`), one `<uid>.json` per dashboard, so a diff shows exactly what changed
and a check is a byte comparison.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from grafanalib._gen import write_dashboard

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


def write(directory: Path) -> list[Path]:
    """Write every dashboard into `directory` (created if needed) and remove stale JSON files there."""
    directory.mkdir(parents=True, exist_ok=True)
    files = expected()
    for stale in sorted(set(_existing(directory)) - set(files)):
        (directory / stale).unlink()
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def check(directory: Path) -> list[str]:
    """What differs between `directory` and the generator: one line per drifted, missing or extra file."""
    files = expected()
    existing = _existing(directory)
    problems = []
    for name, text in sorted(files.items()):
        path = directory / name
        if name not in existing:
            problems.append(f"missing: {path}")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"drifted: {path}")
    problems += [f"extra: {directory / name}" for name in sorted(set(existing) - set(files))]
    return problems


def _existing(directory: Path) -> set[str]:
    return {p.name for p in directory.glob("*.json")} if directory.is_dir() else set()
