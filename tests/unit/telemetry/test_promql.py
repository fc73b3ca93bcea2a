"""PromQL from catalogue specs, and finding the metric names an expression selects (parsed, not scanned)."""

import pytest

from ragplane.errors import PromQLSyntaxError
from ragplane.telemetry import catalog
from ragplane.telemetry.catalog import Kind, Metric
from ragplane.telemetry.promql import (
    EXTERNAL,
    aggregate,
    external,
    is_catalogued,
    le,
    metric_names,
    ratio,
    series,
    unknown_metrics,
)


def test_series_builds_selectors_with_every_matcher_kind() -> None:
    assert series(catalog.REGISTRY_FALLBACK) == "ragplane_registry_fallback_total"
    assert (
        series(catalog.HTTP_REQUESTS, status="~5..", method="!GET", route="!~/health.*", service="query")
        == 'ragplane_http_requests_total{status=~"5..",method!="GET",route!~"/health.*",service="query"}'
    )
    assert series(catalog.HTTP_REQUEST_DURATION, "_bucket", le="1.0") == (
        'ragplane_http_request_duration_seconds_bucket{le="1.0"}'
    )


@pytest.mark.parametrize(
    ("spec", "suffix", "matchers", "message"),
    [
        (Metric("ragplane_made_up_total", Kind.COUNTER, "?"), "", {}, "not in the catalogue"),
        (catalog.HTTP_REQUESTS, "_bucket", {}, "is a counter: no _bucket"),
        (catalog.HTTP_REQUEST_DURATION, "", {}, "is a histogram: choose one of"),
        (catalog.HTTP_REQUEST_DURATION, "_sum", {"le": "1"}, "has no label le"),
        (catalog.HTTP_REQUESTS, "", {"path": "/x"}, "has no label path"),
    ],
)
def test_series_refuses_what_prometheus_would_not_have(spec, suffix, matchers, message) -> None:
    with pytest.raises(ValueError, match=message):
        series(spec, suffix, **matchers)


def test_metric_names_skips_functions_labels_groupings_strings_and_keywords() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, route) (rate("
        'ragplane_http_request_duration_seconds_bucket{service=~"$service", route!="a b"}[1m])))'
        " > 1 and on (service) ragplane_slo:sli_error:ratio_rate5m offset 5m"
        ' or up{job="ragplane"} == bool 0 unless ignoring(x) vector(1e3) * -Inf'
        ' or label_replace(ALERTS @ start(), "ragplane_not_a_metric", "$1", "alertname", "(.*)")'
    )
    assert metric_names(expr) == {
        "ragplane_http_request_duration_seconds_bucket",
        "ragplane_slo:sli_error:ratio_rate5m",
        "up",
        "ALERTS",
    }


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        ('ALERTS{alertstate="firing"}', {"ALERTS"}),
        ("abs(a) + clamp_min(b, 0)", {"a", "b"}),
        ("rate(a[5m])", {"a"}),
        ("max_over_time(rate(a[5m])[1h:1m])", {"a"}),
        ("min_over_time((a - b)[30m:] offset 1h)", {"a", "b"}),
        ("a offset 5m @ 1700000000 / b @ end() offset -1m", {"a", "b"}),
        ("rate(a[5m] @ start())", {"a"}),
        ('topk(3, a) or quantile(0.9, b) or count_values("c", d)', {"a", "b", "d"}),
        ("sum without (c) (a) / on (e) group_left (f) max by (e, f) (b)", {"a", "b"}),
        ("-(a) ^ 2 % b", {"a", "b"}),
        ("a > bool 0 unless b", {"a", "b"}),
        ('label_replace(a, "b", "$1", "c", "(d.*)")', {"a"}),
        ('label_join(a, "b", ",", "c", "d")', {"a"}),
        ("vector(1) + scalar(a) * time()", {"a"}),
        ("absent(a) or absent_over_time(b[5m])", {"a", "b"}),
        ("1 + 2", set()),
        ('{__name__="a", job="x"}', {"a"}),
        ('{"a.b", job="x"}', {"a.b"}),
        ('{__name__=~"a|b"}', set()),  # a regex names no one metric
        ("sum(\n  rate(a[5m])\n)\n/\nsum(b)", {"a", "b"}),
    ],
)
def test_metric_names_finds_every_selector_wherever_it_sits(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


@pytest.mark.parametrize(
    "expr",
    [
        "",
        "sum(rate(a[5m])",
        "a b",
        "a\nb",  # two expressions are not one
        "rate(a[$__rate_interval])",  # a Grafana variable left in
        "a unless ignoring (c) group_left (d) b",  # no grouping for set operators
        'label_replace(a, "b", "", "c", "") @ start()',  # @ follows a selector or subquery only
        'a{__name__="b"}',  # a name given twice
        "rate(a)",  # rate needs a range
        "no_such_function(a)",
        "# only a comment",
    ],
)
def test_an_expression_that_does_not_parse_is_refused_by_name(expr: str) -> None:
    with pytest.raises(PromQLSyntaxError) as refused:
        metric_names(expr)
    assert refused.value.expr == expr
    assert repr(expr) in str(refused.value) and refused.value.reason in str(refused.value)
    assert isinstance(refused.value, ValueError)
    with pytest.raises(PromQLSyntaxError):
        unknown_metrics(expr)


def test_unknown_metrics_accepts_the_catalogue_histogram_series_external_and_recorded_names() -> None:
    assert is_catalogued("ragplane_gpu_wait_seconds_count")
    assert not is_catalogued("ragplane_gpu_wait_seconds")  # a histogram has no bare series
    assert not is_catalogued("ragplane_http_requests_total_bucket")
    assert "up" in EXTERNAL
    expr = "rate(ragplane_http_requests_total[5m]) / ragplane_slo:x:y + ragplane_gpu_wait_seconds_sum + app_info"
    assert unknown_metrics(expr, recorded={"ragplane_slo:x:y"}) == set()
    assert unknown_metrics(expr) == {"ragplane_slo:x:y"}
    assert unknown_metrics("ragplane_http_request_total + made_up") == {"ragplane_http_request_total", "made_up"}


def test_bucket_bounds_are_spelled_as_floats_like_the_client_and_prometheus_3() -> None:
    assert le(catalog.HTTP_REQUEST_DURATION, 1) == "1.0"
    assert le(catalog.HTTP_REQUEST_DURATION, 0.5) == "0.5"
    with pytest.raises(ValueError, match="not a bucket bound"):
        le(catalog.HTTP_REQUEST_DURATION, 0.75)


def test_the_shared_shapes() -> None:
    assert aggregate(["service"], "x", "max") == "max by (service) (x)"
    assert aggregate([], "x") == "sum(x)"
    assert ratio("a", "b") == "(a or 0 * b) / b"
    assert external("up", job="ragplane") == 'up{job="ragplane"}'
    with pytest.raises(ValueError, match="neither in the catalogue"):
        external("ragplane_made_up_total")


def test_metric_names_sees_name_matchers_ignores_comments_and_upper_case_keywords() -> None:
    expr = 'SUM BY (route) ({__name__="ragplane_typo_total"}) # ragplane_in_a_comment\n+ ON (x) up'
    assert metric_names(expr) == {"ragplane_typo_total", "up"}
    assert unknown_metrics(expr) == {"ragplane_typo_total"}
