"""The load harness's settings, read from the environment here and nowhere else.

The harness is a client of ragplane, not part of it, so it does not use `ragplane.settings`;
like that module, it reads every variable once, with the same parsers (`ragplane.parsing`,
and pydantic's reading of numbers and booleans), and names the variable in any complaint.

    HOST                   the gateway to load (default: start a private embedded stack)
    PROFILE                the profile in profiles.yaml (default: the locustfile's own, or smoke)
    LOAD_P95_MS            overrides every p95 gate (default: the latency SLOs of alerts/slos.yaml)
    LOAD_MAX_ERROR_RATIO   overrides every error-ratio gate (default: the availability SLOs)
    LOAD_MIN_RPS_RATIO     achieved / target RPS a sustain stage must reach (default 0.95)
    LOAD_COLLECTION        the collection searched and asked (default docs, the demo corpus)
    LOAD_NORMALISE         false: compare with a baseline on raw figures (default true: normalised
                           by the raw-embedder reference, which assumes the stack runs on this machine)
    LOAD_UNIQUE            true: every query text is new (no cache hits)
    LOAD_FAULT             a fault to inject mid-run, overriding the profile's: error, hang,
                           delay:300ms, optionally after a dependency (qdrant:error)
    LOAD_TOKEN             the bearer token to send (default: `ragplane token --plan load`)
    LOAD_QUERY_URL         the query service, for its /metrics and for faults
    LOAD_SERVICE_TOKEN     its X-Service-Token, for /internal/faults
    LOAD_PROFILES          another profiles file (default loadtests/profiles.yaml)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import PositiveFloat, TypeAdapter, ValidationError

from ragplane import parsing

T = TypeVar("T")

PROFILES = Path(__file__).with_name("profiles.yaml")
_FAULT = re.compile(r"(?:(?P<dependency>[a-z]+):)?(?P<mode>error|hang|delay)(?::(?P<latency>\d+(?:\.\d+)?)ms)?")


class ConfigError(ValueError):
    """A LOAD_* variable (or HOST, PROFILE) has a value the harness cannot use; names it."""


@dataclass(frozen=True)
class FaultOverride:
    """LOAD_FAULT: what to inject; when and for how long come from the profile."""

    mode: str
    dependency: str | None = None
    latency_ms: float | None = None


@dataclass(frozen=True)
class Config:
    host: str | None = None
    profile: str | None = None
    p95_ms: float | None = None
    max_error_ratio: float | None = None
    min_rps_ratio: float | None = None
    collection: str = "docs"
    unique: bool = False
    normalise: bool = True
    fault: FaultOverride | None = None
    token: str | None = None
    query_url: str | None = None
    service_token: str | None = None
    profiles: Path = PROFILES


def _read_as(adapter: TypeAdapter[T]) -> Callable[[str], T]:
    """pydantic's reading of a value (as ragplane's settings read theirs); its complaint as a ValueError."""

    def cast(raw: str) -> T:
        try:
            return adapter.validate_python(raw.strip())
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"]) from None

    return cast


positive_float = _read_as(TypeAdapter[Any](PositiveFloat))
boolean = _read_as(TypeAdapter(bool))


def ratio(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 1:
        raise ValueError("expected a ratio between 0 and 1 (0.01 is 1 %)")
    return value


def fault(raw: str) -> FaultOverride:
    """`error`, `hang`, `delay:300ms`, or any of them after a dependency: `qdrant:delay:50ms`."""
    match = _FAULT.fullmatch(raw.strip())
    if match is None:
        raise ValueError("expected error, hang or delay:<N>ms, optionally after a dependency (qdrant:error)")
    latency = match["latency"]
    if (match["mode"] == "delay") != (latency is not None):
        raise ValueError("delay needs a latency (delay:300ms); error and hang take none")
    return FaultOverride(match["mode"], match["dependency"], float(latency) if latency else None)


def environment(extra: Mapping[str, str] | None = None, *, without: tuple[str, ...] = ()) -> dict[str, str]:
    """This process's environment for a child process: minus names starting with `without`, plus `extra`."""
    return {**{key: value for key, value in os.environ.items() if not key.startswith(without)}, **(extra or {})}


def load(environ: Mapping[str, str] | None = None) -> Config:
    env = os.environ if environ is None else environ

    def read(key: str, cast: Callable[[str], T]) -> T | None:
        raw = env.get(key, "")
        if not raw.strip():
            return None
        try:
            return cast(raw)
        except ValueError as exc:
            raise ConfigError(f"{key}={raw!r} is not valid: {exc}") from None

    return Config(
        host=read("HOST", parsing.http_url),
        profile=read("PROFILE", str.strip),
        p95_ms=read("LOAD_P95_MS", positive_float),
        max_error_ratio=read("LOAD_MAX_ERROR_RATIO", ratio),
        min_rps_ratio=read("LOAD_MIN_RPS_RATIO", ratio),
        collection=read("LOAD_COLLECTION", str.strip) or "docs",
        unique=read("LOAD_UNIQUE", boolean) or False,
        normalise=read("LOAD_NORMALISE", boolean) is not False,
        fault=read("LOAD_FAULT", fault),
        token=read("LOAD_TOKEN", str.strip),
        query_url=read("LOAD_QUERY_URL", parsing.http_url),
        service_token=read("LOAD_SERVICE_TOKEN", str.strip),
        profiles=read("LOAD_PROFILES", Path) or PROFILES,
    )
