"""PromQL for the dashboards, built only from catalogue specs.

Every selector goes through `ragplane.telemetry.promql.series()`, which refuses a metric,
label or suffix the catalogue lacks, so a panel cannot chart a series nobody exports.
`sel()` adds the dashboard's template variables to each selector from the spec's labels
(`instance` always, `service` and `collection` where the metric has them), so the
variables filter every panel without each panel repeating them.

The shapes (rates over `$__rate_interval`, quantiles, shares) wrap the ones in
`promql`, which the alert rules use too; ratios show 0 rather than "no data" before their
first event, which the truth check relies on (it expects a series from every panel).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragplane.telemetry.catalog import CACHE_REQUESTS, Metric
from ragplane.telemetry.promql import aggregate, le, rate, ratio, series

RATE = "$__rate_interval"
VARIABLES = ("service", "collection", "instance")


def scope(spec: Metric) -> dict[str, str]:
    """Regex matchers on the template variables that apply to `spec`."""
    matchers = {"instance": "~$instance"}
    for label in ("service", "collection"):
        if label in spec.labels:
            matchers[label] = f"~${label}"
    return matchers


def sel(spec: Metric, suffix: str = "", **matchers: str) -> str:
    """A catalogue selector filtered by the template variables; `matchers` override them."""
    return series(spec, suffix, **{**scope(spec), **matchers})


def rate_by(by: Sequence[str], selector: str) -> str:
    """`sum by (by) (rate(selector[$__rate_interval]))`."""
    return aggregate(by, rate(selector, RATE))


def rate_or_zero(part: str, whole: str, by: Sequence[str] = ()) -> str:
    """The rate of counter `part`, 0 for each `by` group of `whole` where `part` has no series yet."""
    return f"{rate_by(by, part)} or {rate_by(by, whole)} * 0"


def rate_ratio(part: str, whole: str, by: Sequence[str] = ()) -> str:
    """The per-second share of counter `part` in counter `whole`; 0 (not absent) before `part` counts."""
    return ratio(rate_by(by, part), rate_by(by, whole))


def quantile(q: float, spec: Metric, by: Sequence[str] = (), **matchers: str) -> str:
    """The `q` quantile of histogram `spec`, per `by`."""
    return f"histogram_quantile({q}, {rate_by(('le', *by), sel(spec, '_bucket', **matchers))})"


def mean(spec: Metric, by: Sequence[str] = (), **matchers: str) -> str:
    """The mean observation of histogram `spec` over the rate window."""
    return f"{rate_by(by, sel(spec, '_sum', **matchers))} / {rate_by(by, sel(spec, '_count', **matchers))}"


def above(spec: Metric, seconds: float, by: Sequence[str] = (), **matchers: str) -> str:
    """Observations per second above bucket bound `seconds` (all of them minus that bucket)."""
    everything = rate_by(by, sel(spec, "_count", **matchers))
    return f"{everything} - {rate_by(by, sel(spec, '_bucket', le=le(spec, seconds), **matchers))}"


def above_share(spec: Metric, seconds: float, by: Sequence[str] = (), **matchers: str) -> str:
    """The share of observations above bucket bound `seconds`."""
    return f"({above(spec, seconds, by, **matchers)}) / {rate_by(by, sel(spec, '_count', **matchers))}"


def cache_hit_ratio() -> str:
    """Per cache, the share of lookups that hit (errors count as lookups that did not)."""
    return rate_ratio(sel(CACHE_REQUESTS, result="hit"), sel(CACHE_REQUESTS), ["cache"])


_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_INTERVALS = {"__rate_interval": "1m", "__interval": "1m"}


def substitute(expr: str) -> str:
    """`expr` as Prometheus can run it outside Grafana: every variable as "all", intervals as 1m.

    The dashboards only use variables inside regex matchers (`service=~"$service"`), so
    `.*` keeps the expression valid and selects what "All" selects."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in _INTERVALS:
            return _INTERVALS[name]
        if name in VARIABLES:
            return ".*"
        raise ValueError(f"unknown Grafana variable ${name} in {expr}")

    return _VARIABLE.sub(value, expr)
