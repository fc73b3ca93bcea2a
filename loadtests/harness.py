"""The Locust side of the harness: the profile's shape, the mid-run fault, gates at exit.

Imported by every locustfile (never by the tests or the services: importing Locust
monkey-patches the process for gevent). Only the master (or a lone local runner) shapes the
load, injects faults and judges the run; workers only run users.

- `ProfileShape` is a `LoadTestShape` driven by a profile of `profiles.yaml`; at each stage
  boundary it copies Locust's counters so every stage gets its own figures.
- On `test_start` a profile's fault is scheduled: `POST /internal/faults/{dependency}` on the
  query service at `at_s`, and on `test_stop` it is removed and the breaker reset, so the
  stack is left as it was found.
- On `quitting` the run is summarised and gated (`process_exit_code` 1 when a gate fails);
  `summary.json` goes next to the CSV files when `--csv` is given; the gate table is printed
  on `quit`, after Locust's own tables.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from pathlib import Path
from typing import Any, ClassVar

import gevent
import httpx
import locust.stats
from locust import LoadTestShape, events
from locust.env import Environment
from locust.runners import WorkerRunner
from locust.stats import RequestStats, StatsEntry

from alerts import slos
from loadtests import config, gates, measure, profiles, summary
from ragplane.kit.service_auth import HEADER as SERVICE_TOKEN

locust.stats.PERCENTILES_TO_REPORT = [0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0]
locust.stats.PERCENTILES_TO_CHART = [0.5, 0.95, 0.99]

CONFIG = config.load()

log = logging.getLogger("loadtests")
_verdict: list[str] = []  # the gate table, printed on `quit`


def _counts(entry: StatsEntry) -> measure.Counts:
    return measure.Counts(entry.num_requests, entry.num_failures, dict(entry.response_times))


def snapshot(stats: RequestStats) -> measure.Snapshot:
    endpoints = {f"{e.method} {e.name}": _counts(e) for e in stats.entries.values()}
    return measure.Snapshot(time.monotonic(), _counts(stats.total), endpoints)


class ProfileShape(LoadTestShape):
    """Stages of the profile named by PROFILE, or of `default_profile` (the locustfile's own)."""

    abstract = True
    default_profile: ClassVar[str] = "smoke"

    def __init__(self) -> None:
        super().__init__()
        self.profile = profiles.load(CONFIG.profiles, CONFIG.profile or self.default_profile, CONFIG.fault)
        self.snapshots: list[measure.Snapshot] = []
        self._stage: int | None = None
        self.started = dt.datetime.now(dt.UTC)
        self.load_at_start = summary.load_average()

    def restart(self) -> None:
        self.snapshots, self._stage = [], None
        self.started, self.load_at_start = dt.datetime.now(dt.UTC), summary.load_average()

    def tick(self) -> tuple[int, float] | None:
        run_time = self.get_run_time()
        stage = self.profile.stage_at(run_time)
        if stage != self._stage or not self.snapshots:
            assert self.runner is not None  # Locust sets it before the first tick
            self.snapshots.append(snapshot(self.runner.stats))  # a boundary: the previous stage ends here
            self._stage = stage
        return self.profile.tick(run_time)


def profile_of(environment: Environment) -> profiles.Profile:
    shape = environment.shape_class
    if not isinstance(shape, ProfileShape):
        raise RuntimeError("loadtests users need a ProfileShape in their locustfile")
    return shape.profile


def _judging(environment: Environment) -> bool:
    return not isinstance(environment.runner, WorkerRunner) and isinstance(environment.shape_class, ProfileShape)


class FaultDrill:
    """Injects the profile's fault into the query service for its window, and removes it."""

    def __init__(self, fault: profiles.Fault) -> None:
        if not CONFIG.query_url or not CONFIG.service_token:
            raise RuntimeError("a fault needs LOAD_QUERY_URL and LOAD_SERVICE_TOKEN (make load sets both)")
        self.fault = fault
        self.client = httpx.Client(base_url=CONFIG.query_url, headers={SERVICE_TOKEN: CONFIG.service_token}, timeout=10)
        self.outcome: dict[str, Any] = {"injected": False}

    def inject(self) -> None:
        body: dict[str, Any] = {"mode": self.fault.mode, "seconds": self.fault.seconds}
        if self.fault.latency_ms is not None:
            body["latency_ms"] = self.fault.latency_ms
        try:
            response = self.client.post(f"/internal/faults/{self.fault.dependency}", json=body)
        except httpx.HTTPError as exc:
            self.outcome["error"] = str(exc)
            return
        self.outcome.update(injected=response.status_code == 200, status=response.status_code)
        if response.status_code != 200:
            self.outcome["error"] = response.text[:300]
        log.warning("fault injected: %s (HTTP %s)", self.fault.describe(), response.status_code)

    def end(self) -> None:
        """Remove the fault if it is still on and close the breaker it may have opened."""
        try:
            self.client.delete(f"/internal/faults/{self.fault.dependency}")
            self.client.post(f"/internal/breakers/{self.fault.dependency}/reset")
        except httpx.HTTPError as exc:
            log.warning("could not clear the fault: %s", exc)
        self.client.close()


_drill: FaultDrill | None = None


@events.test_start.add_listener
def _start(environment: Environment, **_: Any) -> None:
    global _drill
    if not _judging(environment):
        return
    shape = environment.shape_class
    assert isinstance(shape, ProfileShape)
    shape.restart()
    if shape.profile.fault is not None:
        _drill = FaultDrill(shape.profile.fault)
        gevent.spawn_later(shape.profile.fault.at_s, _drill.inject)


@events.test_stop.add_listener
def _stop(environment: Environment, **_: Any) -> None:
    if _drill is not None and _judging(environment):
        _drill.end()


@events.quitting.add_listener
def _judge(environment: Environment, **_: Any) -> None:
    if not _judging(environment) or environment.runner is None:
        return
    shape = environment.shape_class
    assert isinstance(shape, ProfileShape)
    if not shape.snapshots:
        return  # the run never started (a web UI session closed without a test)
    # The last boundary is now: users stopping at the end (stop-timeout) have finished.
    shape.snapshots[len(shape.profile.stages) :] = []
    shape.snapshots.append(snapshot(environment.runner.stats))
    overrides = gates.Overrides(CONFIG.p95_ms, CONFIG.max_error_ratio, CONFIG.min_rps_ratio)
    result, verdicts = summary.build(
        shape.profile,
        shape.snapshots,
        gates.objectives(slos.load(), overrides),
        host=environment.host or "",
        unique=CONFIG.unique,
        started=shape.started,
        load_at_start=shape.load_at_start,
    )
    passed = result["passed"]
    if _drill is not None:
        result["fault"] = {**(result["fault"] or {}), **_drill.outcome}
        passed = passed and _drill.outcome["injected"]
    environment.process_exit_code = 0 if passed else 1
    _verdict[:] = [gates.table(verdicts)]
    if _drill is not None and not _drill.outcome["injected"]:
        _verdict.append(f"the fault was NOT injected: {_drill.outcome.get('error', 'unknown error')}")
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if prefix:
        path = Path(prefix).parent / summary.SUMMARY
        path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")


@events.quit.add_listener
def _print_verdict(**_: Any) -> None:
    if _verdict:
        print("\n" + "\n".join(_verdict), flush=True)
