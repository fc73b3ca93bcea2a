"""`make load` end to end: Locust, as a subprocess, against a real embedded stack.

The smoke profile runs exactly as `make load PROFILE=smoke` runs it (its own private stack);
the other checks share one stack (`HOST`, as against a deployment) and a brief profile of
their own, since they prove that the gates and the comparison catch a regression, not how
the stack holds a load.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadtests.stack import ROOT, Stack

pytestmark = pytest.mark.subprocess

# Search only, uncached: every request embeds, so a fault on the embedder reaches every one.
BRIEF = """
profiles:
  brief:
    locustfile: search
    user_rps: 1
    stages:
      - {name: ramp-up, seconds: 2, rps: 3, ramp_s: 2}
      - {name: sustain, seconds: 10, rps: 3}
      - {name: ramp-down, seconds: 2, rps: 0, ramp_s: 2}
"""


def load(tmp: Path, *args: str, **env: str) -> tuple[int, str, Path]:
    """`python -m loadtests.run` with `env` on top of a clean environment; (exit code, output, run dir)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOAD_") and k not in ("HOST", "PROFILE")}
    reports = tmp / "reports"
    result = subprocess.run(
        [sys.executable, "-m", "loadtests.run", "--reports", str(reports), *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    runs = sorted(reports.iterdir()) if reports.is_dir() else []
    return result.returncode, result.stdout + result.stderr, runs[-1] if runs else reports


def summary(where: Path) -> dict[str, Any]:
    """A run directory's summary.json, or the brief baseline in a baselines directory."""
    path = where / "summary.json" if (where / "summary.json").is_file() else where / "brief.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def gate(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in data["gates"] if g["name"] == name)


def test_make_load_smoke_passes_its_gates_and_writes_the_reports(tmp_path: Path) -> None:
    code, output, run = load(tmp_path, "--profile", "smoke")
    assert code == 0, output
    assert run.name.endswith("-smoke")
    assert "<html" in (run / "report.html").read_text()[:1000].lower()
    with (run / "locust_stats_history.csv").open() as history:
        rows = list(csv.DictReader(history))
    assert {row["Name"] for row in rows} >= {"/api/v1/rag/search", "/api/v1/rag/query", "Aggregated"}
    data = summary(run)
    assert data["passed"] and all(g["passed"] for g in data["gates"]) and "all 7 gates passed" in output
    assert [s["name"] for s in data["stages"]] == ["ramp-up", "sustain", "spike", "ramp-down"]
    endpoints = set(data["run"]["endpoints"])
    assert {"GET /api/v1/rag/search", "POST /api/v1/rag/query", "POST /api/v1/rag/collections"} <= endpoints
    assert "DELETE /api/v1/rag/collections/{name}" in endpoints and "GET /api/v1/rag/jobs/{job_id}" in endpoints
    for figures in (data["run"]["total"], data["stages"][1]["total"]):
        assert figures["requests"] > 0 and figures["p95_ms"] is not None and figures["p99_ms"] is not None
    assert data["machine"]["cores"] == os.cpu_count() and len(data["machine"]["load_average_start"]) == 3
    reference = data["reference"]
    mean = (reference["before_per_s"] + reference["after_per_s"]) / 2
    assert reference["embedder_batched_per_s"] == pytest.approx(mean, abs=0.1)  # each rounded to 0.1
    assert data["stack"]["private"] and data["stack"]["version"]
    # The observability agrees with the load: the gateway counted what Locust sent.
    assert data["server"]["agrees"], data["server"]
    assert data["server"]["query"]["requests"] > 0


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One running stack, addressed as a deployment is: HOST, a load-plan token, the query service."""
    profiles = tmp_path_factory.mktemp("profiles") / "profiles.yaml"
    profiles.write_text(BRIEF)
    with Stack() as stack:
        yield {
            "HOST": stack.urls["gateway"],
            "LOAD_TOKEN": stack.token(),
            "LOAD_QUERY_URL": stack.urls["query"],
            "LOAD_SERVICE_TOKEN": stack.service_token,
            "LOAD_PROFILES": str(profiles),
            "LOAD_UNIQUE": "true",
            # These runs prove what fails a run; the counting margin of a 10 s stage is not their subject.
            "LOAD_MIN_RPS_RATIO": "0.5",
        }


def test_an_impossible_p95_fails_the_p95_gates(shared: dict[str, str], tmp_path: Path) -> None:
    code, output, run = load(tmp_path, "--profile", "brief", **shared, LOAD_P95_MS="1")
    assert code == 1, output
    lines = output.splitlines()
    assert any(line.startswith("gates failed: p95 GET /api/v1/rag/search, p95 all requests") for line in lines)
    row = next(line for line in lines if line.startswith("p95 GET /api/v1/rag/search"))
    assert "< 1.0 ms" in row and "FAIL" in row and "LOAD_P95_MS" in row
    assert gate(summary(run), "errors GET /api/v1/rag/search")["passed"]


def test_an_injected_error_fault_fails_the_error_gate_and_the_breaker_sheds_load(
    shared: dict[str, str], tmp_path: Path
) -> None:
    code, output, run = load(tmp_path, "--profile", "brief", **shared, LOAD_FAULT="error")
    assert code == 1, output
    data = summary(run)
    assert data["fault"]["injected"] and data["fault"]["mode"] == "error"
    assert not gate(data, "errors GET /api/v1/rag/search")["passed"]
    assert "gates failed: errors GET /api/v1/rag/search" in output
    with (run / "locust_failures.csv").open() as failures:
        assert any("503" in row["Error"] for row in csv.DictReader(failures))
    sustain = data["stages"][1]["total"]
    assert sustain["failures"] > 0 and sustain["error_ratio"] > data["stages"][0]["total"]["error_ratio"]


def test_compare_fails_when_a_delay_is_injected(shared: dict[str, str], tmp_path: Path) -> None:
    """300 ms, or four times the baseline's p95 if that is more: on a machine so busy that an
    uncached search takes a second, 300 ms would be noise, and the verdict must not hang on it."""
    baselines = tmp_path / "baselines"
    lenient = {**shared, "LOAD_P95_MS": "60000"}  # the delay must fail the comparison, not a gate
    code, output, _ = load(tmp_path, "--profile", "brief", "--save-baseline", "--baselines", str(baselines), **lenient)
    assert code == 0, output
    assert (baselines / "brief.json").is_file() and "baseline saved" in output
    delay_ms = max(300, 4 * summary(baselines)["run"]["total"]["p95_ms"], key=float)
    code, output, run = load(
        tmp_path,
        "--profile",
        "brief",
        "--compare",
        "--baselines",
        str(baselines),
        **lenient,
        LOAD_FAULT=f"delay:{delay_ms:.0f}ms",
    )
    assert code == 1, output
    row = next(line for line in output.splitlines() if line.startswith("p95 all requests (ms)"))
    assert "REGRESSION" in row
    assert "regressions: p95 all requests (ms)" in output
    assert summary(run)["fault"]["latency_ms"] == round(delay_ms)


def test_compare_without_a_baseline_says_how_to_make_one(tmp_path: Path) -> None:
    code, output, _ = load(tmp_path, "--profile", "smoke", "--compare", "--baselines", str(tmp_path / "none"))
    assert code == 2 and "make load-baseline PROFILE=smoke" in output
