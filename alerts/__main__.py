"""`python -m alerts [--check] [--output PATH]`: write (or check) the Prometheus rule file.

Without options it writes `deploy/prometheus/rules/ragplane.rules.yml`. `--check` writes
nothing and exits 1, naming the file, when the file differs from what the code generates
(the drift test and CI run it). An invalid `alerts/slos.yaml` exits 2 with its error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from alerts.render import OUTPUT, ROOT, render
from alerts.slos import SloError
from ragplane.ops.generated import sync


def _shown(path: Path) -> Path:
    """`path` relative to the repository when it is inside it (for the help text)."""
    try:
        return path.resolve().relative_to(ROOT)
    except ValueError:
        return path


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alerts", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the file is out of date")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"the rule file (default: {_shown(OUTPUT)})")
    args = parser.parse_args(argv)
    try:
        text = render()
    except SloError as exc:
        _say(f"alerts: {exc}")
        return 2
    command = "python -m alerts" + ("" if args.output == OUTPUT else f" --output {args.output}")
    return sync({args.output: text}, check=args.check, command=command, say=_say)


if __name__ == "__main__":
    sys.exit(main())
