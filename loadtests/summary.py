"""`summary.json`: one run's figures per stage and endpoint, its gates, and where it ran.

Built from the stage-boundary snapshots (measure.py) when Locust quits; `run.py` adds the
server's view, the reference measurement and the stack's version before writing it again.
Figures from a shared machine only mean something next to what else the machine was doing,
so the machine section records the load average before and after beside the core count.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from loadtests import gates, measure
from loadtests.profiles import Profile

SUMMARY = "summary.json"


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return None


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine(load_at_start: Sequence[float]) -> dict[str, Any]:
    """The machine the load generator ran on: cores, CPU, load average at start and end."""
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "load_average_start": list(load_at_start),
        "load_average_end": load_average(),
    }


def stages(profile: Profile, snapshots: Sequence[measure.Snapshot]) -> list[dict[str, Any]]:
    """One entry per completed stage: its plan and what happened between its boundary snapshots."""
    out = []
    for stage, (start, end) in zip(profile.stages, itertools.pairwise(snapshots), strict=False):
        planned = {"name": stage.name, "target_rps": stage.rps, "planned_seconds": stage.seconds}
        out.append({**planned, **measure.window(start, end)})
    return out


def build(
    profile: Profile,
    snapshots: Sequence[measure.Snapshot],
    objectives: gates.Objectives,
    *,
    host: str,
    unique: bool,
    started: dt.datetime,
    load_at_start: Sequence[float],
) -> tuple[dict[str, Any], list[gates.Gate]]:
    """Everything Locust's side knows about a finished run, and its gates."""
    per_stage = stages(profile, snapshots)
    run = measure.window(snapshots[0], snapshots[-1])
    verdicts = gates.evaluate(run, per_stage, objectives)
    result = {
        "profile": profile.name,
        "locustfile": f"loadtests/{profile.locustfile}.py",
        "host": host,
        "started": started.isoformat(timespec="seconds"),
        "user_rps": profile.user_rps,
        "queries": {"unique": unique, **asdict(profile.queries)},
        "fault": asdict(profile.fault) if profile.fault else None,
        "machine": machine(load_at_start),
        "stages": per_stage,
        "run": run,
        "gates": [gate.as_dict() for gate in verdicts],
        "passed": all(gate.passed for gate in verdicts),
    }
    return result, verdicts
