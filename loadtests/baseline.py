"""Baselines: a profile's `summary.json` kept in `loadtests/baselines/`, and a run compared with it.

A run regresses when, against its profile's baseline:

- its p95 over all requests grew by more than 25 %;
- a sustain stage missed its target and achieved more than 15 % less than the baseline did
  (a run that meets its target has not regressed, whatever the baseline achieved);
- its error ratio is above the error gate.

Machines are noisy, and a baseline may come from another one, so every run also measures
the raw embedder before and after itself (reference.py) and figures are compared
*normalised* to the baseline's machine: with `speed` = this run's reference / the baseline's, a latency is multiplied by
`speed` and a rate divided by it. The table shows the raw figure beside the normalised one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests import tables

DIRECTORY = Path(__file__).with_name("baselines")
P95_TOLERANCE = 0.25
RPS_TOLERANCE = 0.15
REFERENCE = "embedder_batched_per_s"
UNSTEADY = 0.25  # before and after the run further apart than this: the machine changed under it


@dataclass(frozen=True)
class Row:
    metric: str
    baseline: float | None
    current: float | None
    normalised: float | None
    limit: str
    passed: bool | None  # None: shown for information, not judged

    @property
    def change(self) -> float | None:
        if self.baseline is None or self.normalised is None or self.baseline == 0:
            return None
        return self.normalised / self.baseline - 1


def describe_reference(reference: Mapping[str, float]) -> str:
    """The reference in words, with a warning when the machine changed speed under the run."""
    before, after = reference["before_per_s"], reference["after_per_s"]
    line = f"reference: raw embedder {reference[REFERENCE]:.0f} sentences/s batched"
    line += f" (before the run {before:.0f}, after it {after:.0f})"
    if abs(after - before) > UNSTEADY * max(before, after):
        line += (
            f": the machine's speed changed by more than {UNSTEADY:.0%} during the run; normalised figures are rough"
        )
    return line


def path_for(profile: str, directory: Path = DIRECTORY) -> Path:
    return directory / f"{profile}.json"


def save(summary: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def speed(baseline: Mapping[str, Any], current: Mapping[str, Any], normalise: bool = True) -> float:
    """How much faster this machine is now than the baseline's was (1.0 when either lacks a reference)."""
    if not normalise:
        return 1.0
    base = (baseline.get("reference") or {}).get(REFERENCE)
    now = (current.get("reference") or {}).get(REFERENCE)
    return now / base if base and now else 1.0


def _error_limit(summary: Mapping[str, Any]) -> float:
    for gate in summary["gates"]:
        if gate["name"] == "errors all requests":
            return float(gate["limit"])
    raise ValueError("the summary has no error gate over all requests")


def _sustains(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [stage for stage in summary["stages"] if stage["name"] == "sustain"]


def compare(
    baseline: Mapping[str, Any], current: Mapping[str, Any], min_rps_ratio: float = 0.95, *, normalise: bool = True
) -> list[Row]:
    """The judged rows (p95, sustain rate, errors) and, for information, each endpoint's p95."""
    factor = speed(baseline, current, normalise)
    base_total, total = baseline["run"]["total"], current["run"]["total"]
    rows = []
    p95, base_p95 = total["p95_ms"], base_total["p95_ms"]
    normal = p95 * factor if p95 is not None else None
    ok = normal is not None and base_p95 is not None and normal <= base_p95 * (1 + P95_TOLERANCE)
    rows.append(Row("p95 all requests (ms)", base_p95, p95, normal, f"<= +{P95_TOLERANCE:.0%}", ok))
    for base_stage, stage in zip(_sustains(baseline), _sustains(current), strict=False):
        rps, base_rps = stage["total"]["rps"], base_stage["total"]["rps"]
        met = rps >= min_rps_ratio * stage["target_rps"]
        ok = met or rps / factor >= base_rps * (1 - RPS_TOLERANCE)
        limit = f">= -{RPS_TOLERANCE:.0%} (or target met)"
        rows.append(Row(f"rps {stage['name']} (/s)", base_rps, rps, rps / factor, limit, ok))
    errors, error_limit = total["error_ratio"], _error_limit(current)
    rows.append(
        Row("error ratio", base_total["error_ratio"], errors, errors, f"< {error_limit:.2%}", errors < error_limit)
    )
    for name, figures in current["run"]["endpoints"].items():
        base = baseline["run"]["endpoints"].get(name, {}).get("p95_ms")
        value = figures["p95_ms"]
        rows.append(Row(f"p95 {name} (ms)", base, value, value * factor if value is not None else None, "", None))
    return rows


def _number(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:.2%}" if percent else f"{value:.1f}"


def table(rows: list[Row], baseline: Mapping[str, Any], current: Mapping[str, Any], *, normalise: bool = True) -> str:
    factor = speed(baseline, current, normalise)
    head = [("metric", "baseline", "this run", "normalised", "change", "limit", "verdict")]
    body = []
    for row in rows:
        percent = row.metric == "error ratio"
        change = f"{row.change:+.0%}" if row.change is not None and not percent else ""
        verdict = "" if row.passed is None else ("pass" if row.passed else "REGRESSION")
        cells = (_number(row.baseline, percent), _number(row.current, percent), _number(row.normalised, percent))
        body.append((row.metric, *cells, change, row.limit, verdict))
    base_ref = (baseline.get("reference") or {}).get(REFERENCE)
    ref = (current.get("reference") or {}).get(REFERENCE)
    how = (
        f"normalised = this run x {factor:.2f} for latencies, / {factor:.2f} for rates"
        if normalise
        else "not normalised (LOAD_NORMALISE=false)"
    )
    note = f"reference (raw embedder, sentences/s): baseline {_number(base_ref)}, this run {_number(ref)}; {how}"
    regressions = [row.metric for row in rows if row.passed is False]
    verdict = f"regressions: {', '.join(regressions)}" if regressions else "no regression against the baseline"
    return f"{tables.render(head + body)}\n{note}\n{verdict}"


def regressed(rows: list[Row]) -> bool:
    return any(row.passed is False for row in rows)
