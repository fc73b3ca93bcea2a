"""SLOs as data (`slos.yaml`) → error-ratio recording rules and multi-window, multi-burn-rate alerts.

The method is the SRE workbook's (chapter 5, "Alerting on SLOs"), as slok/sloth generates it:

- one recording rule per window, `ragplane_slo:sli_error:ratio_rate<window>{slo, service}`:
  the share of bad requests over 5m, 30m, 1h, 2h, 6h, 1d and 3d;
- one per long window of the alerts (1h, 6h, 1d, 3d), `ragplane_slo:sli_requests:rate<window>`:
  the SLI's requests per second, for the traffic floor below;
- `ragplane_slo:objective:ratio` and `ragplane_slo:error_budget:ratio` (constants, for
  dashboards: burn rate = error ratio / budget);
- one alert per SLO, in two severities under the same name: critical (page) when the
  budget burns 14.4x over 1h and 5m, or 6x over 6h and 30m; warning (ticket) at 3x over 1d
  and 2h, or 1x over 3d and 6h. The long window makes it significant, the short one makes it
  stop soon after the burn stops. Alertmanager's critical-inhibits-warning rule (equal
  alertname and service) keeps the ticket quiet while the page fires.

Traffic floor: each window pair also needs `MIN_REQUESTS_PER_MINUTE` (1) request a minute on
average over its long window. Below that a ratio is a handful of requests, and one failed
search among the few of a quiet hour would page; an outage with no traffic at all is
RagplaneServiceDown's to find, not an SLO's. The same rate holds for the ticket, whose longer
windows hold more requests at it (1440 a day).

Budgets are computed in decimal, so 99.9 % gives the budget 0.001 (not 0.0010000000000000009).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import yaml

from alerts.expr import by
from alerts.model import NAME, Alert, Recording, Severity
from ragplane.telemetry import catalog
from ragplane.telemetry.promql import le, rate, ratio, series

PATH = Path(__file__).with_name("slos.yaml")
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
PERIOD_DAYS = 30
SERVICES = ("gateway", "query", "collections")
ERROR_RATIO = "ragplane_slo:sli_error:ratio_rate{window}"
REQUESTS = "ragplane_slo:sli_requests:rate{window}"
MIN_REQUESTS_PER_MINUTE = 1  # over each burn pair's long window; below it no SLO alert fires
OBJECTIVE = "ragplane_slo:objective:ratio"
ERROR_BUDGET = "ragplane_slo:error_budget:ratio"

Sli = Literal["availability", "latency"]
_SLO_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
_ROUTE = re.compile(r"/[\w/-]*")  # route templates without regex metacharacters
_REQUIRED = ("name", "alert", "summary", "service", "routes", "sli", "objective")
_KEYS = {*_REQUIRED, "threshold_s"}


@dataclass(frozen=True)
class Burn:
    """Alert when the error ratio is above `factor` x budget over both windows."""

    factor: Decimal
    long: str
    short: str


@dataclass(frozen=True)
class Tier:
    severity: Severity
    speed: str  # in the summary: " fast" for the page
    burns: tuple[Burn, Burn]


TIERS = (
    Tier("critical", " fast", (Burn(Decimal("14.4"), "1h", "5m"), Burn(Decimal(6), "6h", "30m"))),
    Tier("warning", "", (Burn(Decimal(3), "1d", "2h"), Burn(Decimal(1), "3d", "6h"))),
)
LONG_WINDOWS = tuple(burn.long for tier in TIERS for burn in tier.burns)


class SloError(ValueError):
    """slos.yaml says something the generator cannot turn into rules."""


@dataclass(frozen=True)
class Slo:
    name: str
    alert: str
    summary: str
    service: str
    routes: tuple[str, ...]
    sli: Sli
    objective: Decimal  # percent
    threshold_s: float | None = None

    @property
    def budget(self) -> Decimal:
        """The error budget as a ratio, exact: 99.9 → 0.001."""
        return (100 - self.objective) / 100


def _text(value: Decimal) -> str:
    """`value` without float noise or trailing zeros: 0.001, 0.01, 14.4, 6."""
    return format(value.normalize(), "f")


def _fail(where: str, message: str) -> SloError:
    return SloError(f"{where}: {message}")


def _objective(where: str, raw: object) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise _fail(where, f"objective must be a number (a percentage such as 99.9), got {raw!r}")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise _fail(where, f"objective must be a number (a percentage such as 99.9), got {raw!r}") from None
    if not 0 < value < 100:
        raise _fail(where, f"objective must be a percentage above 0 and below 100 (e.g. 99.9), got {raw}")
    return value


def _string(where: str, entry: Mapping[str, Any], key: str) -> str:
    value = entry[key]
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"{key} must be a non-empty string, got {value!r}")
    return value


def _routes(where: str, raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail(where, f"routes must be a non-empty list of route templates, got {raw!r}")
    bad = [r for r in raw if not isinstance(r, str) or not _ROUTE.fullmatch(r)]
    if bad:
        raise _fail(where, f"routes must be route templates such as /api/v1/rag/search, got {bad}")
    return tuple(raw)


def _threshold(where: str, sli: str, raw: object) -> float | None:
    if sli == "availability":
        if raw is not None:
            raise _fail(where, "threshold_s applies to latency SLIs only")
        return None
    buckets = catalog.HTTP_REQUEST_DURATION.buckets or ()
    if isinstance(raw, bool) or not isinstance(raw, int | float) or float(raw) not in buckets:
        bounds = ", ".join(f"{b:g}" for b in buckets)
        message = f"a latency SLI needs threshold_s, one of the histogram's bucket bounds ({bounds}); got {raw!r}"
        raise _fail(where, message)
    return float(raw)


def parse_slo(index: int, entry: object) -> Slo:
    where = f"slos[{index}]"
    if not isinstance(entry, dict):
        raise _fail(where, f"each SLO is a mapping, got {entry!r}")
    where = f"slos[{index}] ({entry.get('name', '?')})"
    missing = [k for k in _REQUIRED if k not in entry]
    if missing:
        raise _fail(where, f"missing {', '.join(missing)}")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(map(str, unknown))}; known: {', '.join(sorted(_KEYS))}")
    name = _string(where, entry, "name")
    if not _SLO_NAME.fullmatch(name):
        raise _fail(where, f"name must be lower-case words joined by dashes, got {name!r}")
    alert = _string(where, entry, "alert")
    if not NAME.fullmatch(alert):
        raise _fail(where, f"alert must be named Ragplane<Component><Symptom>, got {alert!r}")
    service = _string(where, entry, "service")
    if service not in SERVICES:
        raise _fail(where, f"service must be one of {', '.join(SERVICES)}, got {service!r}")
    sli = entry["sli"]
    if sli not in ("availability", "latency"):
        raise _fail(where, f"sli must be availability or latency, got {sli!r}")
    return Slo(
        name=name,
        alert=alert,
        summary=_string(where, entry, "summary"),
        service=service,
        routes=_routes(where, entry["routes"]),
        sli=sli,
        objective=_objective(where, entry["objective"]),
        threshold_s=_threshold(where, sli, entry.get("threshold_s")),
    )


def parse(text: str, source: str = "slos.yaml") -> tuple[Slo, ...]:
    """The SLOs of a slos.yaml document; `SloError` naming the SLO and key when it is wrong."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SloError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("slos"), list) or not document["slos"]:
        raise SloError(f"{source}: expected a mapping with a non-empty list under `slos`")
    try:
        slos = tuple(parse_slo(i, entry) for i, entry in enumerate(document["slos"]))
    except SloError as exc:
        raise SloError(f"{source}: {exc}") from None
    for key in ("name", "alert"):
        values = [getattr(s, key) for s in slos]
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            raise SloError(f"{source}: two SLOs share the {key} {', '.join(duplicates)}")
    return slos


def load(path: Path = PATH) -> tuple[Slo, ...]:
    return parse(path.read_text(), str(path.name))


def _scope(slo: Slo) -> dict[str, str]:
    return {"service": slo.service, "route": "~" + "|".join(slo.routes)}


def requests(slo: Slo, window: str) -> str:
    """`slo`'s requests per second over `window`, per service: the denominator of its error ratio."""
    if slo.sli == "availability":
        return by(["service"], rate(series(catalog.HTTP_REQUESTS, **_scope(slo)), window))
    return by(["service"], rate(series(catalog.HTTP_REQUEST_DURATION, "_count", **_scope(slo)), window))


def error_ratio(slo: Slo, window: str) -> str:
    """The share of `slo`'s requests that were bad over `window`, per service."""
    total = requests(slo, window)
    if slo.sli == "availability":
        bad = by(["service"], rate(series(catalog.HTTP_REQUESTS, **_scope(slo), status="~5.."), window))
        return ratio(bad, total)
    assert slo.threshold_s is not None  # parse_slo guarantees it for latency SLIs
    duration = catalog.HTTP_REQUEST_DURATION
    bound = le(duration, slo.threshold_s)
    fast = by(["service"], rate(series(duration, "_bucket", **_scope(slo), le=bound), window))
    return f"(\n  {total}\n  -\n  {fast}\n)\n/\n{total}"


def recordings(slo: Slo) -> list[Recording]:
    labels = {"slo": slo.name}
    constants = {"slo": slo.name, "service": slo.service}  # vector() has no labels of its own
    return [
        *(Recording(ERROR_RATIO.format(window=w), error_ratio(slo, w), labels) for w in WINDOWS),
        *(Recording(REQUESTS.format(window=w), requests(slo, w), labels) for w in LONG_WINDOWS),
        Recording(OBJECTIVE, f"vector({_text(slo.objective / 100)})", constants),
        Recording(ERROR_BUDGET, f"vector({_text(slo.budget)})", constants),
    ]


def _burning(slo: Slo, burn: Burn) -> str:
    """Both windows over the burn threshold, with the traffic floor over the long one."""
    threshold = f"({_text(burn.factor)} * {_text(slo.budget)})"
    long, short = (f'{ERROR_RATIO.format(window=w)}{{slo="{slo.name}"}}' for w in (burn.long, burn.short))
    traffic = f'{REQUESTS.format(window=burn.long)}{{slo="{slo.name}"}} >= ({MIN_REQUESTS_PER_MINUTE} / 60)'
    return f"(\n  {long} > {threshold}\n  and\n  {short} > {threshold}\n  and\n  {traffic}\n)"


def _what(slo: Slo) -> str:
    if slo.sli == "availability":
        return "failed with a server error"
    return f"took longer than {slo.threshold_s:g} s"


def alerts(slo: Slo) -> list[Alert]:
    result = []
    for tier in TIERS:
        fast, slow = tier.burns
        days = Decimal(PERIOD_DAYS) / min(fast.factor, slow.factor)
        result.append(
            Alert(
                name=slo.alert,
                expr=f"{_burning(slo, fast)}\nor\n{_burning(slo, slow)}",
                severity=tier.severity,
                summary=f"The {slo.name} SLO burns its error budget{tier.speed}",
                description=(
                    "{{ $value | humanizePercentage }} of requests for {{ $labels.slo }} on {{ $labels.service }} "
                    f"{_what(slo)} over the last {fast.long} (or {slow.long}): at least {_text(fast.factor)}x "
                    f"(or {_text(slow.factor)}x) the error budget of {_text(slo.budget * 100)}% "
                    f"(objective {_text(slo.objective)}%: {slo.summary}). "
                    f"At this pace the {PERIOD_DAYS}-day budget is spent within {days:.0f} days."
                ),
            )
        )
    return result


def rules(slo: Slo) -> Sequence[Recording | Alert]:
    """Recording rules first: Prometheus evaluates a group in order, so the alerts see this round's ratios."""
    return [*recordings(slo), *alerts(slo)]
