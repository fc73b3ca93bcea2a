"""What every ragplane dashboard shares: datasource, variables, units, panels, runbook links, layout.

Panel factories take the unit and description as required arguments, so no panel ships
without them; an `alert=` names the Prometheus alert whose condition the panel charts and
adds a link to that alert's runbook (`runbook_url`, the same URL the alert carries). The
datasource is the provisioned one with the fixed uid `prometheus`
(deploy/grafana/provisioning/datasources/prometheus.yml), so the JSON imports unchanged.

Time series and heatmaps that read every bucket of a latency histogram (a quantile, a
heatmap by `le`) show its exemplars: each bucket's trace id, which Grafana links to the trace
(deploy/grafana/provisioning/datasources/prometheus.yml). A query that cuts at one bucket
(`le="1.0"`) does not: that bucket's exemplars are the requests *under* the bound.

Panels are built without position; `dashboard()` lays sections out (a row header, then
panels left to right, wrapping at 24 columns) and numbers every panel in order, so ids and
`gridPos` are stable across runs and only move when the code does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import attr
from grafanalib.core import (
    Dashboard,
    DashboardLink,
    DataLink,
    GridPos,
    Heatmap,
    RowPanel,
    Stat,
    StatValueMappingItem,
    StatValueMappings,
    Table,
    Target,
    Template,
    Templating,
    Threshold,
    Time,
    TimeSeries,
    YAxis,
)

from ragplane.telemetry import catalog
from ragplane.telemetry.exemplars import traced
from ragplane.telemetry.promql import series
from ragplane.telemetry.runbooks import BASE_URL, runbook_url

DATASOURCE_UID = "prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
TAG = "ragplane"
GRID_WIDTH = 24

# Grafana unit ids.
SECONDS = "s"
REQUESTS_PER_SECOND = "reqps"
RATIO = "percentunit"
BYTES = "bytes"
COUNT = "short"
STATE = "none"
DOCS_PER_SECOND = "suffix: docs/s"
CHUNKS_PER_SECOND = "suffix: chunks/s"
JOBS_PER_SECOND = "suffix: jobs/s"
ENTRIES_PER_SECOND = "suffix: entries/s"

# The alerts (alerts/) whose conditions panels chart; each such panel links to its runbook.
SERVICE_DOWN = "RagplaneServiceDown"
HIGH_ERROR_RATE = "RagplaneHighErrorRate"
SLOW_QUERIES = "RagplaneSlowQueries"
BREAKER_OPEN = "RagplaneCircuitBreakerOpen"
INGESTION_FAILING = "RagplaneIngestionJobsFailing"
RATE_LIMIT_SATURATION = "RagplaneGatewayRateLimitSaturation"
CACHE_UNAVAILABLE = "RagplaneCacheUnavailable"
REGISTRY_FALLBACK = "RagplaneRegistryFallbackActive"
RATE_LIMIT_STORE_ERRORS = "RagplaneGatewayRateLimitStoreErrors"
QUERY_LOG_DROPPING = "RagplaneQueryLogDropping"
REDIS_BGSAVE_FAILING = "RagplaneRedisBgsaveFailing"
BACKUP_FAILING = "RagplaneBackupFailing"
BACKUP_STALE = "RagplaneBackupStale"
REDIS_AOF_WRITE_FAILING = "RagplaneRedisAofWriteFailing"

BREAKER_STATES = StatValueMappings(
    StatValueMappingItem("closed", "0", "green"),
    StatValueMappingItem("half-open", "1", "yellow"),
    StatValueMappingItem("open", "2", "red"),
)
UP_DOWN = StatValueMappings(StatValueMappingItem("down", "0", "red"), StatValueMappingItem("up", "1", "green"))
FAILED_OK = StatValueMappings(StatValueMappingItem("failed", "0", "red"), StatValueMappingItem("ok", "1", "green"))
OFF_ON = StatValueMappings(StatValueMappingItem("off", "0", "green"), StatValueMappingItem("on", "1", "orange"))


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel and its legend (`{{label}}` templates)."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Section:
    """A row header and the panels under it."""

    title: str
    panels: Sequence[Any]
    description: str = ""


def variables() -> list[Template]:
    """`service`, `instance` (of the chosen services) and `collection`; multi-select, "All" = `.*`."""

    def variable(name: str, label: str, selector: str) -> Template:
        return Template(
            name=name,
            label=label,
            query=f"label_values({selector}, {name})",
            dataSource=DATASOURCE,
            default="$__all",
            includeAll=True,
            multi=True,
            allValue=".*",
            refresh=2,  # on time range change: services and collections come and go
        )

    return [
        variable("service", "Service", series(catalog.BUILD_INFO)),
        variable("instance", "Instance", series(catalog.BUILD_INFO, service="~$service")),
        variable("collection", "Collection", series(catalog.COLLECTION_DOCUMENTS)),
    ]


def runbook(alert: str) -> DataLink:
    """A panel link to the runbook of `alert`, the page its notification points at."""
    return DataLink(title=f"Runbook: {alert}", linkUrl=runbook_url(alert), isNewTab=True)


class PrometheusTarget(Target):  # type: ignore[misc]
    """A Prometheus query; `exemplar` asks Grafana to show the exemplars of the series it reads
    (grafanalib's `Target` has no such field). Written only when set, as Grafana does."""

    def __init__(self, *, exemplar: bool = False, **fields: Any) -> None:
        super().__init__(**fields)
        self.exemplar = exemplar

    def to_json_data(self) -> dict[str, Any]:
        data: dict[str, Any] = super().to_json_data()
        if self.exemplar:
            data["exemplar"] = True
        return data


TRACED_BUCKETS = frozenset(f"{m.name}_bucket" for m in catalog.CATALOG if traced(m))
_SELECTOR = re.compile(r'(\w+)\{((?:[^}"]|"(?:[^"\\]|\\.)*")*)\}')
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_LE = re.compile(r"\ble\s*[=!]")


def traced_buckets(expr: str) -> set[str]:
    """The latency histograms' `_bucket` series `expr` reads whole: without an `le` matcher."""
    return {
        name
        for name, matchers in _SELECTOR.findall(expr)
        if name in TRACED_BUCKETS and not _LE.search(_QUOTED.sub('""', matchers))
    }


def _targets(queries: Sequence[Query], *, exemplars: bool = False, **options: Any) -> list[Target]:
    """The panel's queries; with `exemplars`, the first query over each latency histogram's
    buckets shows their exemplars (a second one, p50 beside p95, would show the same points twice)."""
    shown: set[str] = set()
    targets = []
    for i, q in enumerate(queries):
        new = traced_buckets(q.expr) - shown if exemplars else set()
        shown |= new
        targets.append(
            PrometheusTarget(
                expr=q.expr,
                legendFormat=q.legend,
                refId=chr(ord("A") + i),
                datasource=DATASOURCE,
                intervalFactor=1,
                exemplar=bool(new),
                **options,
            )
        )
    return targets


def _common(
    title: str, description: str, targets: list[Target], alert: str | None, width: int, height: int
) -> dict[str, Any]:
    """The arguments every panel shares; the position is set later by `layout()`."""
    if not targets:
        raise ValueError(f"panel {title!r} has no query")
    return {
        "title": title,
        "description": description,
        "dataSource": DATASOURCE,
        "targets": targets,
        "links": [runbook(alert)] if alert else [],
        "gridPos": GridPos(h=height, w=width, x=0, y=0),
    }


def timeseries(
    title: str,
    description: str,
    unit: str,
    *queries: Query,
    alert: str | None = None,
    width: int = 12,
    height: int = 8,
    **options: Any,
) -> TimeSeries:
    """A time series panel; `options` are grafanalib's (`stacking`, `valueMax`, `mappings` ...)."""
    return TimeSeries(
        unit=unit,
        legendDisplayMode="table",
        legendCalcs=["lastNotNull", "max"],
        tooltipMode="multi",
        **_common(title, description, _targets(queries, exemplars=True), alert, width, height),
        **options,
    )


def stat(
    title: str,
    description: str,
    unit: str,
    *queries: Query,
    alert: str | None = None,
    width: int = 6,
    height: int = 4,
    mappings: StatValueMappings | None = None,
) -> Stat:
    """The latest value of each series; `mappings` turn state numbers into words and colours."""
    return Stat(
        format=unit,
        reduceCalc="lastNotNull",
        graphMode="none" if mappings else "area",
        colorMode="background" if mappings else "value",
        mappings=[mappings] if mappings else [],
        color={"mode": "thresholds"},
        noValue="no data",
        thresholds=[Threshold("green", 0, 0.0)],
        **_common(title, description, _targets(queries), alert, width, height),
    )


def heatmap(title: str, description: str, unit: str, query: Query, *, width: int = 12, height: int = 8) -> Heatmap:
    """A histogram's buckets over time; `query` sums bucket rates by `le`."""
    return Heatmap(
        dataFormat="tsbuckets",
        yAxis=YAxis(format=unit),
        yBucketBound="upper",
        hideZeroBuckets=True,
        **_common(title, description, _targets([query], exemplars=True, format="heatmap"), None, width, height),
    )


def table(title: str, description: str, unit: str, query: Query, *, width: int = 12, height: int = 6) -> Table:
    """The current value of each series, one row per label set."""
    targets = _targets([query], format="table", instant=True)
    return Table(unit=unit, **_common(title, description, targets, None, width, height))


def layout(sections: Sequence[Section]) -> list[Any]:
    """Rows and their panels with `gridPos` and ids assigned in reading order."""
    out: list[Any] = []
    y = 0
    for section in sections:
        out.append(
            RowPanel(
                title=section.title,
                description=section.description or None,
                gridPos=GridPos(h=1, w=GRID_WIDTH, x=0, y=y),
            )
        )
        y += 1
        x = row_height = 0
        for panel in section.panels:
            w, h = panel.gridPos.w, panel.gridPos.h
            if x + w > GRID_WIDTH:
                x, y, row_height = 0, y + row_height, 0
            out.append(attr.evolve(panel, gridPos=GridPos(h=h, w=w, x=x, y=y)))
            x, row_height = x + w, max(row_height, h)
        y += row_height
    return [attr.evolve(panel, id=i) for i, panel in enumerate(out, start=1)]


def build(uid: str, title: str, description: str, sections: Sequence[Section]) -> Dashboard:
    """A ragplane dashboard: shared variables, links to the other ragplane dashboards and the runbooks."""
    return Dashboard(
        uid=uid,
        title=title,
        description=description,
        tags=[TAG],
        timezone="utc",
        refresh="30s",
        time=Time("now-1h", "now"),
        graphTooltip=1,  # shared crosshair
        schemaVersion=38,
        templating=Templating(variables()),
        links=[
            DashboardLink(
                title="ragplane", type="dashboards", tags=[TAG], asDropdown=True, includeVars=True, keepTime=True
            ),
            DashboardLink(title="Runbooks", type="link", uri=BASE_URL, icon="doc", targetBlank=True),
        ],
        panels=layout(sections),
    )
