"""`python -m dashboards [--check] [--output DIR]`: write the dashboard JSON, or check it is current."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .generate import OUTPUT, check, write


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards", description=__doc__)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming each file that differs")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"directory of the JSON files (default {OUTPUT})")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.output)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run `python -m dashboards` to regenerate", file=sys.stderr)
            return 1
        return 0
    for path in write(args.output):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
