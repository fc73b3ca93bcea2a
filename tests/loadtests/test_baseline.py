"""Baselines: saving, and a run compared with one, normalised by the reference."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from loadtests import baseline

SEARCH = "GET /api/v1/rag/search"


def summary(
    p95: float = 100, rps: float = 9.8, target: float = 10, errors: float = 0, ref: float = 500
) -> dict[str, Any]:
    total = {"p95_ms": p95, "rps": rps, "error_ratio": errors}
    return {
        "profile": "t",
        "reference": {baseline.REFERENCE: ref},
        "run": {"total": total, "endpoints": {SEARCH: {"p95_ms": p95 / 2}}},
        "stages": [
            {"name": "ramp-up", "target_rps": target, "total": {"rps": rps / 2}},
            {"name": "sustain", "target_rps": target, "total": {"rps": rps}},
        ],
        "gates": [{"name": "errors all requests", "limit": 0.005}],
    }


def verdicts(rows: list[baseline.Row]) -> dict[str, bool | None]:
    return {row.metric: row.passed for row in rows}


def test_a_run_equal_to_its_baseline_passes(tmp_path: Path) -> None:
    path = baseline.path_for("t", tmp_path / "baselines")
    baseline.save(summary(), path)
    saved = baseline.load(path)
    rows = baseline.compare(saved, summary())
    assert not baseline.regressed(rows)
    assert verdicts(rows) == {
        "p95 all requests (ms)": True,
        "rps sustain (/s)": True,
        "error ratio": True,
        f"p95 {SEARCH} (ms)": None,  # shown, not judged
    }


def test_p95_may_grow_by_a_quarter_and_no_more() -> None:
    assert not baseline.regressed(baseline.compare(summary(p95=100), summary(p95=125)))
    rows = baseline.compare(summary(p95=100), summary(p95=126))
    assert verdicts(rows)["p95 all requests (ms)"] is False
    assert rows[0].change is not None and round(rows[0].change, 2) == 0.26


def test_figures_are_normalised_by_the_reference() -> None:
    # Twice as slow a machine now (reference halved): 190 ms then is 95 ms on the baseline's machine.
    rows = baseline.compare(summary(p95=100, ref=500), summary(p95=190, ref=250))
    assert rows[0].current == 190 and rows[0].normalised == 95 and rows[0].passed
    # And a faster machine does not hide a regression: 110 ms on a machine twice as fast is 220.
    rows = baseline.compare(summary(p95=100, ref=250), summary(p95=110, ref=500))
    assert rows[0].normalised == 220 and rows[0].passed is False
    assert baseline.speed({}, summary()) == 1.0  # without a reference, raw figures
    raw = baseline.compare(summary(p95=100, ref=500), summary(p95=190, ref=250), normalise=False)
    assert raw[0].normalised == 190 and raw[0].passed is False  # LOAD_NORMALISE=false
    assert "not normalised" in baseline.table(raw, summary(), summary(), normalise=False)


def test_a_rate_that_meets_its_target_never_regresses() -> None:
    # The baseline machine was faster, so the normalised rate is lower, but the target is met.
    rows = baseline.compare(summary(rps=10, ref=500), summary(rps=9.6, ref=1000))
    assert verdicts(rows)["rps sustain (/s)"] is True and rows[1].normalised == 4.8


def test_a_rate_that_misses_its_target_may_drop_by_15_percent() -> None:
    base = summary(rps=300, target=1000)
    assert verdicts(baseline.compare(base, summary(rps=256, target=1000)))["rps sustain (/s)"] is True
    assert verdicts(baseline.compare(base, summary(rps=254, target=1000)))["rps sustain (/s)"] is False


def test_errors_above_the_gate_regress() -> None:
    rows = baseline.compare(summary(), summary(errors=0.006))
    assert verdicts(rows)["error ratio"] is False


def test_the_table_shows_both_figures_and_names_the_regressions() -> None:
    old, new = summary(p95=100, ref=500), summary(p95=300, ref=400)
    rows = baseline.compare(old, new)
    text = baseline.table(rows, old, new)
    lines = text.splitlines()
    assert lines[0].split() == ["metric", "baseline", "this", "run", "normalised", "change", "limit", "verdict"]
    p95 = next(line for line in lines if line.startswith("p95 all requests"))
    assert "100.0" in p95 and "300.0" in p95 and "240.0" in p95 and "+140%" in p95 and "REGRESSION" in p95
    assert "baseline 500.0, this run 400.0" in text
    assert lines[-1] == "regressions: p95 all requests (ms)"


def test_the_reference_warns_when_the_machine_changed_speed_under_the_run() -> None:
    steady = baseline.describe_reference({baseline.REFERENCE: 500, "before_per_s": 520, "after_per_s": 480})
    assert steady == "reference: raw embedder 500 sentences/s batched (before the run 520, after it 480)"
    shaky = baseline.describe_reference({baseline.REFERENCE: 400, "before_per_s": 600, "after_per_s": 200})
    assert "changed by more than 25% during the run" in shaky


def test_sustain_stages_pair_up_in_order() -> None:
    old = summary()
    new = copy.deepcopy(old)
    new["stages"].append({"name": "sustain", "target_rps": 10, "total": {"rps": 1}})
    assert [row.metric for row in baseline.compare(old, new)].count("rps sustain (/s)") == 1
