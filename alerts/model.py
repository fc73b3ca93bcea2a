"""An alert or recording rule as Python data, and its shape in a Prometheus rule file.

The alert's `runbook_url` is derived from its name (`ragplane.telemetry.runbooks`), never
typed, and its labels always carry the severity, so the routing tree and every page's
link are right by construction. Checks that need the whole rule set (the runbook file
exists, expressions name only catalogue metrics) live in the tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from ragplane.telemetry.runbooks import runbook_url

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
NAME = re.compile(r"Ragplane[A-Z]\w+")
RECORD = re.compile(r"ragplane\w*:\w+:\w+")  # level:metric:operations, level starting with ragplane
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(duration: str) -> float:
    """A Prometheus duration (`30s`, `1h30m`, `0s`) in seconds."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)


@dataclass(frozen=True)
class Alert:
    """One alerting rule. `description` may use `{{ $labels.x }}` and `{{ $value }}`."""

    name: str
    expr: str
    severity: Severity
    summary: str
    description: str
    for_: str = "0s"
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ValueError(f"alert {self.name!r}: names are Ragplane<Component><Symptom>")
        if self.severity not in SEVERITIES:
            raise ValueError(f"alert {self.name}: severity {self.severity!r} is not one of {SEVERITIES}")
        if "{{" in self.summary:
            raise ValueError(f"alert {self.name}: the summary is fixed text; templates go in the description")
        seconds(self.for_)

    def rule(self) -> dict[str, Any]:
        rule: dict[str, Any] = {
            "alert": self.name,
            "expr": self.expr,
            "labels": {**self.labels, "severity": self.severity},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": runbook_url(self.name),
            },
        }
        if seconds(self.for_):
            rule["for"] = self.for_
        return rule


@dataclass(frozen=True)
class Recording:
    """One recording rule, named `level:metric:operations`."""

    record: str
    expr: str
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not RECORD.fullmatch(self.record):
            raise ValueError(f"recording rule {self.record!r}: names are ragplane<level>:<metric>:<operations>")

    def rule(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"record": self.record, "expr": self.expr}
        if self.labels:
            rule["labels"] = dict(self.labels)
        return rule
