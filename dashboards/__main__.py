"""`python -m dashboards [--check] [--output DIR]`: write the dashboard JSON, or check it is current."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .generate import OUTPUT, sync_files


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards", description=__doc__)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming each file that differs")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"directory of the JSON files (default {OUTPUT})")
    args = parser.parse_args(argv)
    return sync_files(args.output, check=args.check, say=_say)


if __name__ == "__main__":
    sys.exit(main())
