"""ragplane's Grafana dashboards as grafanalib code, rendered to `generated/<uid>.json`.

One module per dashboard, each with a top-level `dashboard`; `common` holds what they
share and `expr` builds their PromQL from the metric catalogue. `python -m dashboards`
renders them (`--check` to compare instead). `queries()` hands every panel query, in a
form Prometheus accepts outside Grafana, to the tests and to the live truth check.
"""

from __future__ import annotations

from typing import Any

from . import gateway, ingestion, overview, qdrant, query_performance
from .expr import substitute

MODULES = (overview, query_performance, qdrant, ingestion, gateway)


def dashboards() -> list[Any]:
    """Every dashboard, in the order of `MODULES`."""
    return [module.dashboard for module in MODULES]


def panels(dashboard: Any) -> list[Any]:
    """The dashboard's panels that show data (rows left out), in id order."""
    return [panel for panel in dashboard.panels if getattr(panel, "targets", None)]


def queries() -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, expr) for every panel query.

    Grafana's variables are replaced so Prometheus can run the expression as is:
    `$service`, `$collection`, `$instance` by `.*` (they only appear in regex matchers, so
    this selects what "All" selects) and `$__rate_interval` / `$__interval` by `1m`."""
    return [
        (dashboard.uid, panel.title, substitute(target.expr))
        for dashboard in dashboards()
        for panel in panels(dashboard)
        for target in panel.targets
    ]
