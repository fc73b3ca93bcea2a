import re

import pytest

from ragplane.telemetry import catalog
from ragplane.telemetry.catalog import CATALOG, Kind, Metric

NAME = re.compile(r"^ragplane_[a-z]+(_[a-z]+)*$")
UNITS = ("_seconds", "_bytes", "_total", "_in_progress", "_info")


@pytest.mark.parametrize("metric", CATALOG, ids=lambda m: m.name)
def test_names_follow_prometheus_conventions(metric: Metric) -> None:
    assert NAME.match(metric.name)
    if metric.kind is Kind.COUNTER:
        assert metric.name.endswith("_total")
    else:
        assert not metric.name.endswith("_total")
    if metric.kind is Kind.HISTOGRAM:
        assert metric.buckets, "histograms choose their buckets for the SLOs"
        assert list(metric.buckets) == sorted(metric.buckets)
    assert not any(part in metric.name for part in ("_ms", "_milliseconds", "_kb", "_mb")), "base units only"
    assert metric.help.strip().endswith(".")
    assert set(metric.known) <= set(metric.labels)


def test_names_are_unique_and_indexed() -> None:
    assert len({m.name for m in CATALOG}) == len(CATALOG)
    assert catalog.BY_NAME["ragplane_http_requests_total"] is catalog.HTTP_REQUESTS


def test_every_module_level_metric_is_in_the_catalog() -> None:
    declared = {v for v in vars(catalog).values() if isinstance(v, Metric)}
    assert declared == set(CATALOG)


def test_request_latency_buckets_have_the_slo_edges() -> None:
    assert 0.5 in catalog.REQUEST_SECONDS and 1.0 in catalog.REQUEST_SECONDS


def test_route_labels_never_include_raw_paths() -> None:
    assert "path" not in {label for m in CATALOG for label in m.labels}
