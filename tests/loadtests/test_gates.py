"""The SLO gates: limits from alerts/slos.yaml, overrides, verdicts and the table."""

from __future__ import annotations

from typing import Any

import pytest

from alerts import slos
from loadtests import gates
from loadtests.gates import ALL, Gate, Overrides

SEARCH, QA = "GET /api/v1/rag/search", "POST /api/v1/rag/query"


def figures(p95: float | None, errors: float = 0.0, rps: float = 10.0) -> dict[str, Any]:
    return {"p95_ms": p95, "error_ratio": errors, "rps": rps, "requests": 100, "failures": round(errors * 100)}


def run(search_p95: float = 100, qa_p95: float = 900, search_errors: float = 0, qa_errors: float = 0) -> dict[str, Any]:
    """A whole-run window; the collections route is slow, which no SLO covers."""
    return {
        "endpoints": {
            SEARCH: figures(search_p95, search_errors),
            QA: figures(qa_p95, qa_errors),
            "DELETE /api/v1/rag/collections/{name}": figures(4000),
        },
        "total": figures(800, (search_errors + qa_errors) / 3),
    }


SUSTAIN = [{"name": "ramp-up", "target_rps": 10, "total": figures(50, rps=4)}]
SUSTAIN.append({"name": "sustain", "target_rps": 10, "total": figures(50, rps=9.6)})


def by_name(found: list[Gate]) -> dict[str, Gate]:
    return {gate.name: gate for gate in found}


def test_limits_come_from_the_slos_of_each_route() -> None:
    objectives = gates.objectives(slos.load())
    by_slo = {slo.name: slo for slo in slos.load()}
    assert objectives.p95_ms["/api/v1/rag/search"].value == by_slo["search-latency"].threshold_s * 1000
    assert objectives.p95_ms["/api/v1/rag/query"].value == by_slo["qa-latency"].threshold_s * 1000
    assert objectives.error_ratio["/api/v1/rag/search"].value == float(by_slo["search-availability"].budget)
    assert objectives.error_ratio["/rag/query"].value == float(by_slo["qa-availability"].budget)
    # all requests together: the most lenient promise any SLO makes
    assert objectives.p95_ms[ALL].value == max(s.threshold_s or 0 for s in slos.load()) * 1000
    assert objectives.error_ratio[ALL].value == max(float(s.budget) for s in slos.load() if s.sli == "availability")
    assert objectives.min_rps_ratio.value == gates.DEFAULT_MIN_RPS_RATIO
    assert objectives.p95_ms["/api/v1/rag/search"].source == "slos.yaml search-latency"


def test_a_healthy_run_passes_every_gate_and_unslod_routes_are_judged_only_in_the_total() -> None:
    found = gates.evaluate(run(), SUSTAIN, gates.objectives(slos.load()))
    names = [gate.name for gate in found]
    assert names == [
        f"p95 {SEARCH}",
        f"errors {SEARCH}",
        f"p95 {QA}",
        f"errors {QA}",
        f"p95 {ALL}",
        f"errors {ALL}",
        "rps sustain",
    ]
    assert all(gate.passed for gate in found)


def test_each_gate_fails_on_its_own() -> None:
    objectives = gates.objectives(slos.load())
    slow = by_name(gates.evaluate(run(search_p95=500), SUSTAIN, objectives))
    assert not slow[f"p95 {SEARCH}"].passed and slow[f"p95 {QA}"].passed  # the limit is strict: < 500 ms
    errors = by_name(gates.evaluate(run(search_errors=0.003), SUSTAIN, objectives))
    assert not errors[f"errors {SEARCH}"].passed and errors[f"errors {ALL}"].passed  # 0.1 % vs 0.5 %
    short = [{**SUSTAIN[1], "total": figures(50, rps=9.4)}]
    assert not by_name(gates.evaluate(run(), short, objectives))["rps sustain"].passed


def test_overrides_replace_every_limit_of_their_kind() -> None:
    objectives = gates.objectives(slos.load(), Overrides(p95_ms=1, max_error_ratio=0.5, min_rps_ratio=0.5))
    found = by_name(gates.evaluate(run(qa_errors=0.3), SUSTAIN, objectives))
    assert [g.name for g in found.values() if not g.passed] == [f"p95 {SEARCH}", f"p95 {QA}", f"p95 {ALL}"]
    assert found[f"errors {QA}"].passed and found[f"errors {QA}"].source == "LOAD_MAX_ERROR_RATIO"
    assert found["rps sustain"].limit == 5 and "LOAD_MIN_RPS_RATIO" in found["rps sustain"].source


def test_a_route_without_data_fails_its_gate() -> None:
    assert not Gate("p95 x", None, 500, "below", "ms", "s").passed


def test_the_table_shows_every_gate_and_names_the_failed_ones() -> None:
    found = gates.evaluate(run(search_p95=650), SUSTAIN, gates.objectives(slos.load()))
    text = gates.table(found)
    lines = text.splitlines()
    assert lines[0].split() == ["gate", "measured", "limit", "verdict", "from"]
    assert len(lines) == len(found) + 2
    row = next(line for line in lines if line.startswith(f"p95 {SEARCH}"))
    assert "650.0 ms" in row and "< 500.0 ms" in row and "FAIL" in row
    assert "0.00 %" in text and "9.6/s" in text and ">= 9.5/s" in text
    assert lines[-1] == f"gates failed: p95 {SEARCH}"
    assert gates.table(gates.evaluate(run(), SUSTAIN, gates.objectives(slos.load()))).endswith("all 7 gates passed")


@pytest.mark.parametrize("value", [0.0, 0.000999])
def test_errors_just_under_the_budget_pass(value: float) -> None:
    found = by_name(gates.evaluate(run(search_errors=value), SUSTAIN, gates.objectives(slos.load())))
    assert found[f"errors {SEARCH}"].passed
