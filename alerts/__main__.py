"""`python -m alerts [--check] [--output PATH]`: write (or check) the Prometheus rule file.

Without options it writes `deploy/prometheus/rules/ragplane.rules.yml`. `--check` writes
nothing and exits 1, naming the file, when the file differs from what the code generates
(the drift test and CI run it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from alerts.render import OUTPUT, ROOT, render
from alerts.slos import SloError


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alerts", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the file is out of date")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"the rule file (default: {_shown(OUTPUT)})")
    args = parser.parse_args(argv)
    output: Path = args.output
    try:
        text = render()
    except SloError as exc:
        print(f"alerts: {exc}", file=sys.stderr)
        return 2
    current = output.read_text() if output.exists() else None
    if args.check:
        if current != text:
            print(f"{_shown(output)} is out of date: run `python -m alerts` and commit the result", file=sys.stderr)
            return 1
        print(f"{_shown(output)} is up to date")
        return 0
    if current != text:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        print(f"wrote {_shown(output)}")
    else:
        print(f"{_shown(output)} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
