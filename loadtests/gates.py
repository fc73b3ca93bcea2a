"""SLO gates: the verdict of a run, from the same objectives the burn-rate alerts use.

The limits come from `alerts/slos.yaml`, so a load test and the alerts can never disagree
about what "fast enough" and "reliable enough" mean:

- every route an SLO covers is gated on its own objectives: its p95 must stay under the
  latency SLO's `threshold_s` (search 0.5 s, Q&A 5 s) and its error ratio under the
  availability SLO's error budget (search 0.1 %, Q&A 0.5 %);
- all requests together, including routes no SLO covers (collection management), must meet
  the loosest of those numbers: whatever no SLO promises, no route may do worse than the
  most lenient promise;
- every `sustain` stage must achieve at least LOAD_MIN_RPS_RATIO (95 %) of its target rate.

LOAD_P95_MS and LOAD_MAX_ERROR_RATIO replace every latency and error limit for one run.
A failure is anything Locust counts as one: a 4xx or 5xx answer, a timeout, a reset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from alerts.slos import Slo
from loadtests import tables

DEFAULT_MIN_RPS_RATIO = 0.95
ALL = "all requests"


@dataclass(frozen=True)
class Overrides:
    """LOAD_P95_MS, LOAD_MAX_ERROR_RATIO and LOAD_MIN_RPS_RATIO; None keeps the default."""

    p95_ms: float | None = None
    max_error_ratio: float | None = None
    min_rps_ratio: float | None = None


@dataclass(frozen=True)
class Limit:
    value: float
    source: str


@dataclass(frozen=True)
class Objectives:
    """The latency and error limits of each route an SLO covers, and of all requests."""

    p95_ms: Mapping[str, Limit]
    error_ratio: Mapping[str, Limit]
    min_rps_ratio: Limit


@dataclass(frozen=True)
class Gate:
    name: str
    measured: float | None
    limit: float
    bound: Literal["below", "at least"]
    unit: Literal["ms", "%", "/s"]
    source: str

    @property
    def passed(self) -> bool:
        if self.measured is None:
            return False
        return self.measured < self.limit if self.bound == "below" else self.measured >= self.limit

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def objectives(slos: Sequence[Slo], overrides: Overrides = Overrides()) -> Objectives:
    p95: dict[str, Limit] = {}
    errors: dict[str, Limit] = {}
    for slo in slos:
        if slo.sli == "latency" and slo.threshold_s is not None:
            limit = Limit(slo.threshold_s * 1000, f"slos.yaml {slo.name}")
            p95.update((route, limit) for route in slo.routes)
        elif slo.sli == "availability":
            limit = Limit(float(slo.budget), f"slos.yaml {slo.name}")
            errors.update((route, limit) for route in slo.routes)
    if p95:
        p95[ALL] = max(p95.values(), key=lambda limit: limit.value)
    if errors:
        errors[ALL] = max(errors.values(), key=lambda limit: limit.value)
    if overrides.p95_ms is not None:
        p95 = {route: Limit(overrides.p95_ms, "LOAD_P95_MS") for route in p95}
    if overrides.max_error_ratio is not None:
        errors = {route: Limit(overrides.max_error_ratio, "LOAD_MAX_ERROR_RATIO") for route in errors}
    rps = (
        Limit(overrides.min_rps_ratio, "LOAD_MIN_RPS_RATIO")
        if overrides.min_rps_ratio is not None
        else Limit(DEFAULT_MIN_RPS_RATIO, "harness default")
    )
    return Objectives(p95, errors, rps)


def _route(endpoint: str) -> str:
    """The route of an endpoint's name: `GET /api/v1/rag/search` → `/api/v1/rag/search`."""
    return endpoint.partition(" ")[2]


def evaluate(run: Mapping[str, Any], stages: Sequence[Mapping[str, Any]], objectives: Objectives) -> list[Gate]:
    """Every gate of a run: `run` is its whole-run window (measure.window), `stages` its stages."""
    measured = {**run["endpoints"], ALL: run["total"]}
    gates: list[Gate] = []
    for name, figures in measured.items():
        route = ALL if name == ALL else _route(name)
        if route in objectives.p95_ms:
            limit = objectives.p95_ms[route]
            gates.append(Gate(f"p95 {name}", figures["p95_ms"], limit.value, "below", "ms", limit.source))
        if route in objectives.error_ratio:
            limit = objectives.error_ratio[route]
            gates.append(Gate(f"errors {name}", figures["error_ratio"], limit.value, "below", "%", limit.source))
    ratio = objectives.min_rps_ratio
    for stage in stages:
        if stage["name"] == "sustain":
            source = f"{ratio.value:.0%} of {stage['target_rps']:g}/s ({ratio.source})"
            limit = ratio.value * stage["target_rps"]
            gates.append(Gate(f"rps {stage['name']}", stage["total"]["rps"], limit, "at least", "/s", source))
    return gates


def _show(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if unit == "%":
        return f"{value * 100:.2f} %"
    return f"{value:.1f} ms" if unit == "ms" else f"{value:.1f}/s"


def table(gates: Sequence[Gate]) -> str:
    """The gates as a plain-text table, with a last line naming the failed ones."""
    rows: list[tuple[str, ...]] = [("gate", "measured", "limit", "verdict", "from")]
    for gate in gates:
        bound = "<" if gate.bound == "below" else ">="
        limit = f"{bound} {_show(gate.limit, gate.unit)}"
        rows.append((gate.name, _show(gate.measured, gate.unit), limit, "pass" if gate.passed else "FAIL", gate.source))
    failed = [gate.name for gate in gates if not gate.passed]
    verdict = f"gates failed: {', '.join(failed)}" if failed else f"all {len(gates)} gates passed"
    return f"{tables.render(rows)}\n{verdict}"
