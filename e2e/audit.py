"""Lighthouse on the Search view of a real stack: `make audit` (after `npm ci` in audit/).

Two runs of Lighthouse 12.2.3 in Debian's Chromium against a `ragplane up` holding the e2e
corpus. The first, Lighthouse's default (a mid-range phone on a slow 4G network, simulated),
gives the scores: performance, accessibility and best practices. The second, a desktop on
this machine's own network (nothing simulated), gives the time to interactive the page
really takes here. Both reports (HTML and JSON) go to reports/audit/; the numbers are printed;
the exit status is 1 when one misses its target.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from e2e.stacks import COLLECTION, ready_stacks

ROOT = Path(__file__).resolve().parent.parent
LIGHTHOUSE = ROOT / "audit" / "node_modules" / ".bin" / "lighthouse"
REPORTS = ROOT / "reports" / "audit"
CATEGORIES = ("performance", "accessibility", "best-practices")
MIN_SCORES = {"performance": 98, "accessibility": 98, "best-practices": 95}
MAX_INTERACTIVE_MS = 300.0
RUNS = {
    "phone": [],  # Lighthouse's defaults: a Moto G Power on slow 4G, simulated
    "desktop": ["--preset=desktop", "--throttling-method=provided"],
}


def lighthouse(url: str, run: str) -> dict[str, Any]:
    """One Lighthouse run's report (also written to reports/audit/lighthouse-RUN.report.{html,json})."""
    output = REPORTS / f"lighthouse-{run}"
    command = [
        str(LIGHTHOUSE),
        url,
        "--quiet",
        "--output=json",
        "--output=html",
        f"--output-path={output}",
        f"--only-categories={','.join(CATEGORIES)}",
        f"--chrome-flags={' '.join(['--headless=new', *CHROMIUM_ARGS])}",
        *RUNS[run],
    ]
    subprocess.run(command, check=True, env={**os.environ, "CHROME_PATH": CHROMIUM}, timeout=300)  # noqa: S603
    report: dict[str, Any] = json.loads(output.with_suffix(".report.json").read_text())
    return report


def misses(phone: dict[str, Any], desktop: dict[str, Any]) -> list[str]:
    """What misses its target, as sentences; prints every number."""
    missed = []
    for category, minimum in MIN_SCORES.items():
        score = round(phone["categories"][category]["score"] * 100)
        print(f"{category}: {score} (target ≥ {minimum})")
        if score < minimum:
            missed.append(f"{category} scored {score}, under {minimum}")
    for name, report in (("phone", phone), ("desktop", desktop)):
        audits = report["audits"]
        figures = {key: audits[key]["numericValue"] for key in ("first-contentful-paint", "interactive")}
        shift = audits["cumulative-layout-shift"]["numericValue"]
        print(
            f"{name}: first contentful paint {figures['first-contentful-paint']:.0f} ms, "
            f"time to interactive {figures['interactive']:.0f} ms, cumulative layout shift {shift:g}"
        )
    interactive = desktop["audits"]["interactive"]["numericValue"]
    if interactive >= MAX_INTERACTIVE_MS:
        missed.append(f"time to interactive {interactive:.0f} ms, not under {MAX_INTERACTIVE_MS:.0f} ms")
    return missed


def main() -> int:
    if not LIGHTHOUSE.exists():
        print("Lighthouse is not installed: run `make audit` (it runs `npm ci` in audit/).", file=sys.stderr)
        return 2
    REPORTS.mkdir(parents=True, exist_ok=True)
    with ready_stacks({}, filled=True) as [stack]:
        url = f"{stack.urls['gateway']}/?collection={COLLECTION}#/search"
        phone, desktop = lighthouse(url, "phone"), lighthouse(url, "desktop")
    missed = misses(phone, desktop)
    for sentence in missed:
        print(f"MISSED: {sentence}", file=sys.stderr)
    print(f"Reports: {REPORTS.relative_to(ROOT)}/lighthouse-{{phone,desktop}}.report.{{html,json}}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
