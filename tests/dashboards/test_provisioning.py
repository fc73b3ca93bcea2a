"""Grafana provisioning: the datasource the dashboards name, and the folder they are loaded from."""

from __future__ import annotations

from typing import Any

import yaml

from dashboards.common import DATASOURCE_UID
from ragplane.telemetry.exemplars import EXEMPLAR_LABEL
from tests.dashboards.rendered import ROOT, boards, data_panels

PROVISIONING = ROOT / "deploy/grafana/provisioning"


def load(path: str) -> Any:
    return yaml.safe_load((PROVISIONING / path).read_text())


def test_the_datasource_is_the_default_prometheus_with_the_dashboards_uid() -> None:
    (source,) = load("datasources/prometheus.yml")["datasources"]
    assert source["type"] == "prometheus"
    assert source["uid"] == DATASOURCE_UID
    assert source["url"] == "http://prometheus:9090"
    assert source["isDefault"] is True


def test_the_datasource_time_interval_is_prometheus_scrape_interval() -> None:
    """Grafana's $__rate_interval is at least 4 times timeInterval: it must know the real scrape interval."""
    (source,) = load("datasources/prometheus.yml")["datasources"]
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert source["jsonData"]["timeInterval"] == prometheus["global"]["scrape_interval"] == "10s"


def test_exemplars_link_to_their_trace_by_the_label_the_services_set() -> None:
    (source,) = load("datasources/prometheus.yml")["datasources"]
    (destination,) = source["jsonData"]["exemplarTraceIdDestinations"]
    assert destination == {"name": EXEMPLAR_LABEL, "datasourceUid": "traces"}


def test_every_dashboard_names_only_the_provisioned_datasource() -> None:
    (source,) = load("datasources/prometheus.yml")["datasources"]
    uids = {
        t["datasource"]["uid"] for b in boards() for p in data_panels(b) for t in [p, *p["targets"]] if t["datasource"]
    }
    assert uids == {source["uid"]}


def test_dashboards_are_loaded_from_the_mounted_generated_folder() -> None:
    (provider,) = load("dashboards/ragplane.yml")["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert provider["allowUiUpdates"] is False  # the dashboards are code: the UI cannot save over them
