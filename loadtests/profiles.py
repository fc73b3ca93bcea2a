"""Load profiles (`profiles.yaml`): their stages, and the arithmetic a Locust shape runs on.

A profile's stages move a target *rate* (requests per second), not a user count: each user
is paced at `user_rps` (Locust's `constant_throughput`), so a rate of R needs R / user_rps
users. Within a stage the rate goes linearly from the previous stage's rate to the stage's
own over `ramp_s` seconds (0: at once) and holds it for the rest of the stage.

`Profile.tick(t)` is what `LoadTestShape.tick()` returns at `t` seconds into the run; it is a
pure function here so the unit tests check the stage arithmetic without Locust.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from loadtests.config import FaultOverride

LOCUSTFILES = ("search", "query", "collections", "mixed")
FAULT_MODES = ("error", "hang", "delay")
DEPENDENCIES = ("embedder", "qdrant", "llm", "cache")
SUSTAIN = "sustain"  # the stage whose achieved rate is gated


class ProfileError(ValueError):
    """profiles.yaml says something the harness cannot run; the message names the profile and key."""


@dataclass(frozen=True)
class Stage:
    name: str
    seconds: float
    rps: float
    ramp_s: float = 0.0


@dataclass(frozen=True)
class Fault:
    """A fault injected through /internal/faults, `at_s` seconds into the run, for `seconds`."""

    mode: str
    at_s: float
    seconds: float
    dependency: str = "embedder"
    latency_ms: float | None = None

    def describe(self) -> str:
        what = f"{self.mode} {self.latency_ms:g} ms" if self.latency_ms is not None else self.mode
        return f"{self.dependency} {what} from {self.at_s:g} s for {self.seconds:g} s"


@dataclass(frozen=True)
class Queries:
    seed: int = 12
    zipf_s: float = 1.1
    tail: float = 0.25


@dataclass(frozen=True)
class Profile:
    name: str
    locustfile: str
    user_rps: float
    stages: tuple[Stage, ...]
    queries: Queries = Queries()
    fault: Fault | None = None

    @property
    def duration(self) -> float:
        return sum(stage.seconds for stage in self.stages)

    def starts(self) -> list[float]:
        """When each stage starts, in seconds from the start of the run."""
        out, t = [], 0.0
        for stage in self.stages:
            out.append(t)
            t += stage.seconds
        return out

    def stage_at(self, t: float) -> int | None:
        """The index of the stage running at `t`, or None once the run is over."""
        for index, (start, stage) in enumerate(zip(self.starts(), self.stages, strict=True)):
            if start <= t < start + stage.seconds:
                return index
        return None

    def rps_at(self, t: float) -> float:
        index = self.stage_at(t)
        if index is None:
            return 0.0
        stage, start = self.stages[index], self.starts()[index]
        before = self.stages[index - 1].rps if index else 0.0
        if stage.ramp_s <= 0 or t - start >= stage.ramp_s:
            return stage.rps
        return before + (stage.rps - before) * (t - start) / stage.ramp_s

    def users_at(self, t: float) -> int:
        """Users needed for the target rate at `t`: every started user_rps needs one more user."""
        return math.ceil(round(self.rps_at(t) / self.user_rps, 9))

    def tick(self, t: float) -> tuple[int, float] | None:
        """(users, spawn rate) for Locust's shape at `t`; None ends the run.

        Called about once a second; the spawn rate lets the whole target be reached within a
        second, so a ramp advances in one-second steps and a spike arrives at once.
        """
        if self.stage_at(t) is None:
            return None
        users = self.users_at(t)
        return users, float(max(users, 1))

    def with_fault(self, override: FaultOverride) -> Profile:
        """This profile with LOAD_FAULT's fault, timed by the profile's fault or its sustain stage."""
        at_s, seconds = (self.fault.at_s, self.fault.seconds) if self.fault else self.sustain_window()
        fault = Fault(
            mode=override.mode,
            at_s=at_s,
            seconds=seconds,
            dependency=override.dependency or (self.fault.dependency if self.fault else "embedder"),
            latency_ms=override.latency_ms,
        )
        return replace(self, fault=fault)

    def sustain_window(self) -> tuple[float, float]:
        """(start, length) of the first sustain stage; the middle third of the run if there is none."""
        for start, stage in zip(self.starts(), self.stages, strict=True):
            if stage.name == SUSTAIN:
                return start, stage.seconds
        return self.duration / 3, self.duration / 3


def _number(where: str, raw: Any, *, positive: bool = False) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0 or (positive and raw == 0):
        raise ProfileError(f"{where} must be a number {'> 0' if positive else '>= 0'}, got {raw!r}")
    return float(raw)


def _keys(where: str, raw: Any, required: set[str], optional: set[str]) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise ProfileError(f"{where} must be a mapping, got {raw!r}")
    missing, unknown = required - set(raw), set(raw) - required - optional
    if missing or unknown:
        raise ProfileError(f"{where}: missing {sorted(missing)}, unknown {sorted(unknown)}")
    return raw


def _stage(where: str, raw: Any) -> Stage:
    entry = _keys(where, raw, {"name", "seconds", "rps"}, {"ramp_s"})
    if not isinstance(entry["name"], str) or not entry["name"]:
        raise ProfileError(f"{where}.name must be a non-empty string")
    stage = Stage(
        entry["name"],
        _number(f"{where}.seconds", entry["seconds"], positive=True),
        _number(f"{where}.rps", entry["rps"]),
        _number(f"{where}.ramp_s", entry.get("ramp_s", 0)),
    )
    if stage.ramp_s > stage.seconds:
        raise ProfileError(f"{where}.ramp_s ({stage.ramp_s:g}) is longer than the stage ({stage.seconds:g} s)")
    return stage


def _queries(where: str, raw: Any, base: Queries) -> Queries:
    entry = _keys(where, raw, set(), {"seed", "zipf_s", "tail"})
    tail = _number(f"{where}.tail", entry.get("tail", base.tail))
    if tail > 1:
        raise ProfileError(f"{where}.tail is a share between 0 and 1, got {tail:g}")
    seed = entry.get("seed", base.seed)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ProfileError(f"{where}.seed must be an integer, got {seed!r}")
    return Queries(seed, _number(f"{where}.zipf_s", entry.get("zipf_s", base.zipf_s)), tail)


def _fault(where: str, raw: Any, profile: Profile) -> Fault:
    entry = _keys(where, raw, {"mode"}, {"dependency", "latency_ms", "at_s", "seconds"})
    mode, dependency = entry["mode"], entry.get("dependency", "embedder")
    if mode not in FAULT_MODES:
        raise ProfileError(f"{where}.mode must be one of {', '.join(FAULT_MODES)}, got {mode!r}")
    if dependency not in DEPENDENCIES:
        raise ProfileError(f"{where}.dependency must be one of {', '.join(DEPENDENCIES)}, got {dependency!r}")
    if (mode == "delay") != ("latency_ms" in entry):
        raise ProfileError(f"{where}: latency_ms goes with mode delay, and only with it")
    at_s, seconds = profile.sustain_window()
    fault = Fault(
        mode=mode,
        dependency=dependency,
        latency_ms=_number(f"{where}.latency_ms", entry["latency_ms"], positive=True) if mode == "delay" else None,
        at_s=_number(f"{where}.at_s", entry.get("at_s", at_s)),
        seconds=_number(f"{where}.seconds", entry.get("seconds", seconds), positive=True),
    )
    if fault.at_s >= profile.duration:
        raise ProfileError(f"{where}.at_s ({fault.at_s:g}) is after the run ends ({profile.duration:g} s)")
    return fault


def parse_profile(name: str, raw: Any, defaults: Queries = Queries()) -> Profile:
    where = f"profiles.{name}"
    entry = _keys(where, raw, {"locustfile", "user_rps", "stages"}, {"fault", "queries"})
    if entry["locustfile"] not in LOCUSTFILES:
        raise ProfileError(f"{where}.locustfile must be one of {', '.join(LOCUSTFILES)}, got {entry['locustfile']!r}")
    if not isinstance(entry["stages"], list) or not entry["stages"]:
        raise ProfileError(f"{where}.stages must be a non-empty list")
    profile = Profile(
        name=name,
        locustfile=entry["locustfile"],
        user_rps=_number(f"{where}.user_rps", entry["user_rps"], positive=True),
        stages=tuple(_stage(f"{where}.stages[{i}]", s) for i, s in enumerate(entry["stages"])),
        queries=_queries(f"{where}.queries", entry.get("queries", {}), defaults),
    )
    if "fault" in entry:
        profile = replace(profile, fault=_fault(f"{where}.fault", entry["fault"], profile))
    return profile


def parse(text: str) -> dict[str, Profile]:
    document = yaml.safe_load(text)
    if not isinstance(document, dict) or not isinstance(document.get("profiles"), dict) or not document["profiles"]:
        raise ProfileError("expected a mapping with profiles under `profiles`")
    defaults = _queries("defaults.queries", (document.get("defaults") or {}).get("queries", {}), Queries())
    return {str(name): parse_profile(str(name), raw, defaults) for name, raw in document["profiles"].items()}


def load(path: Path, name: str, fault: FaultOverride | None = None) -> Profile:
    """Profile `name` of the file at `path`, with LOAD_FAULT's fault when one is given."""
    profiles = parse(path.read_text())
    if name not in profiles:
        raise ProfileError(f"no profile {name!r} in {path.name}; there are {', '.join(profiles)}")
    profile = profiles[name]
    return profile.with_fault(fault) if fault is not None else profile
