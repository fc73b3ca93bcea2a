"""Generated, committed files: write them, or check that the committed ones still match.

Kong's config, the alert rules and the dashboards are generated from code and committed;
each generator's `--check` (which the drift tests run) compares bytes, so CI fails when a
generated file was edited by hand or not regenerated. One implementation, so the three
generators write the same way (only files whose text changed are touched) and say the same
things.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path


def write(path: Path, text: str) -> bool:
    """Write `text` to `path` unless it is there already; whether the file changed."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def sync(
    files: Mapping[Path, str],
    *,
    check: bool,
    command: str,
    say: Callable[[str], None],
    stale: Iterable[Path] = (),
) -> int:
    """Write `files` (path → text) and remove the `stale` ones the generator no longer makes;
    with `check`, write nothing and return 1 naming each file that is missing, out of date or
    stale, with the `command` that regenerates them."""
    if not check:
        for path in stale:
            path.unlink()
            say(f"removed {path}")
        for path, text in files.items():
            say(f"{'wrote' if write(path, text) else 'unchanged'} {path}")
        return 0
    problems = [f"{path} is no longer generated" for path in stale]
    for path, text in files.items():
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            say(f"{path} is up to date")
        else:
            problems.append(f"{path} is {'missing' if current is None else 'out of date'}")
    for problem in problems:
        say(f"{problem}: run `{command}`")
    return 1 if problems else 0
