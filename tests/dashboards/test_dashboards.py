"""Every dashboard: a module with a unique uid, described panels with units, queries, layout, runbook links."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import dashboards as package
from dashboards.common import DATASOURCE_UID, traced_buckets
from dashboards.generate import OUTPUT
from ragplane.telemetry.runbooks import runbook_path, runbook_url
from tests.dashboards.rendered import ROOT, all_panels, boards, data_panels
from tests.promstack import alert_names

BOARDS = boards()
IDS = [b["uid"] for b in BOARDS]
# Alerts whose conditions the dashboards must chart, each on a panel linking its runbook.
CHARTED_ALERTS = {
    "RagplaneCircuitBreakerOpen",
    "RagplaneHighErrorRate",
    "RagplaneSlowQueries",
    "RagplaneIngestionJobsFailing",
    "RagplaneServiceDown",
    "RagplaneGatewayRateLimitSaturation",
    "RagplaneCacheUnavailable",
    "RagplaneRegistryFallbackActive",
}


def linked_alerts() -> set[str]:
    return {link["title"].removeprefix("Runbook: ") for b in BOARDS for p in data_panels(b) for link in p["links"]}


def unit(panel: dict[str, Any]) -> str:
    if panel["type"] == "heatmap":  # the pre-9 heatmap model: Grafana migrates yAxis.format to the unit
        return str(panel["yAxis"]["format"] or "")
    return str(panel["fieldConfig"]["defaults"].get("unit") or "")


def test_each_module_has_a_dashboard_with_a_unique_uid_named_after_its_file() -> None:
    uids = [module.dashboard.uid for module in package.MODULES]
    assert len(set(uids)) == len(uids)
    assert sorted(p.name for p in OUTPUT.glob("*.json")) == sorted(f"{uid}.json" for uid in uids)
    assert set(uids) == {
        "ragplane-overview",
        "ragplane-query-performance",
        "ragplane-qdrant",
        "ragplane-ingestion",
        "ragplane-gateway",
    }


@pytest.mark.parametrize("board", BOARDS, ids=IDS)
def test_every_panel_has_a_title_description_unit_and_a_query(board: dict[str, Any]) -> None:
    panels = data_panels(board)
    assert panels
    for panel in panels:
        assert panel["title"], panel
        assert panel["description"], panel["title"]
        assert unit(panel), panel["title"]
        assert panel["targets"], panel["title"]
        assert all(t["expr"] for t in panel["targets"]), panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids), panel["title"]


@pytest.mark.parametrize("board", BOARDS, ids=IDS)
def test_panel_ids_are_unique_and_panels_do_not_overlap(board: dict[str, Any]) -> None:
    panels = all_panels(board)
    ids = [p["id"] for p in panels]
    assert len(set(ids)) == len(ids)
    assert all(isinstance(i, int) and i > 0 for i in ids)
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for cell in itertools.product(range(pos["x"], pos["x"] + pos["w"]), range(pos["y"], pos["y"] + pos["h"])):
            assert cell not in cells, f"{panel['title']} overlaps {cells[cell]}"
            cells[cell] = panel["title"]


@pytest.mark.parametrize("board", BOARDS, ids=IDS)
def test_every_panel_and_query_uses_the_provisioned_datasource(board: dict[str, Any]) -> None:
    for panel in data_panels(board):
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID, panel["title"]
    for variable in board["templating"]["list"]:
        assert variable["datasource"]["uid"] == DATASOURCE_UID


def test_latency_panels_show_the_exemplars_of_their_buckets_once() -> None:
    """A time series or heatmap reading every bucket of a latency histogram shows its exemplars
    (trace ids) on its first query over it; nothing else asks for exemplars."""
    shown: dict[str, set[str]] = {}
    for board in BOARDS:
        for panel in data_panels(board):
            seen: set[str] = set()
            for target in panel["targets"]:
                read = traced_buckets(target["expr"])
                expected = panel["type"] in ("timeseries", "heatmap") and bool(read - seen)
                assert target.get("exemplar", False) is expected, (panel["title"], target["expr"])
                seen |= read
                if expected:
                    shown.setdefault(board["uid"], set()).add(panel["title"])
    assert {"p95 latency per route", "Stage latency (p95)", "GPU wait-time distribution"} <= shown[
        "ragplane-query-performance"
    ]
    assert "Upstream latency" in shown["ragplane-gateway"]
    assert "Slow queries (> 1 s) per route" not in shown["ragplane-query-performance"]


def test_only_a_whole_latency_histogram_counts_as_traced_buckets() -> None:
    route = 'route=~"/api/v1/rag/collections/{name}"'  # a brace inside a label value
    latency = f'ragplane_http_request_duration_seconds_bucket{{{route},service="query"}}'
    assert traced_buckets(f"histogram_quantile(0.95, sum by (le) (rate({latency}[5m])))") == {
        "ragplane_http_request_duration_seconds_bucket"
    }
    cut = f'ragplane_http_request_duration_seconds_bucket{{{route},le="1.0"}}'
    assert traced_buckets(f"sum(rate({cut}[5m]))") == set()
    assert traced_buckets('sum(rate(ragplane_search_results_bucket{service="query"}[5m]))') == set()


@pytest.mark.parametrize("board", BOARDS, ids=IDS)
def test_template_variables_service_collection_and_instance(board: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert set(variables) == {"service", "collection", "instance"}
    for name, variable in variables.items():
        assert variable["type"] == "query"
        assert variable["query"].startswith("label_values(") and variable["query"].endswith(f", {name})")
        assert variable["multi"] and variable["includeAll"]
        assert variable["allValue"] == ".*"
    exprs = " ".join(t["expr"] for p in data_panels(board) for t in p["targets"])
    assert '=~"$instance"' in exprs  # every ragplane series has an instance


def test_the_service_and_collection_variables_filter_queries() -> None:
    exprs = " ".join(t["expr"] for b in BOARDS for p in data_panels(b) for t in p["targets"])
    assert 'service=~"$service"' in exprs
    assert 'collection=~"$collection"' in exprs


@pytest.mark.parametrize("board", BOARDS, ids=IDS)
def test_runbook_links_point_at_existing_runbooks(board: dict[str, Any]) -> None:
    missing = []
    for panel in data_panels(board):
        for link in panel["links"]:
            alert = link["title"].removeprefix("Runbook: ")
            assert link["title"] == f"Runbook: {alert}"
            assert link["url"] == runbook_url(alert)
            if not (ROOT / runbook_path(alert)).is_file():
                missing.append(f"{panel['title']}: {runbook_path(alert)}")
    assert not missing, f"runbooks missing: {missing}"


def test_every_charted_alert_has_a_panel_linking_its_runbook() -> None:
    assert linked_alerts() >= CHARTED_ALERTS


def test_linked_alerts_are_alerts_prometheus_evaluates() -> None:
    """A renamed alert must not leave a panel linking the runbook of an alert that no longer fires."""
    assert linked_alerts() <= alert_names()


def test_dashboards_link_to_each_other_by_tag() -> None:
    for board in BOARDS:
        assert "ragplane" in board["tags"]
        assert any(link["type"] == "dashboards" and link["tags"] == ["ragplane"] for link in board["links"])
