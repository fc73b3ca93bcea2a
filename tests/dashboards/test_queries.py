"""`dashboards.queries()`: every panel query, runnable by Prometheus, naming only catalogue metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboards import dashboards, panels, queries
from dashboards.expr import substitute
from ragplane.telemetry.promql import metric_names, unknown_metrics
from tests.promstack import check_expressions

QUERIES = queries()


def test_one_entry_per_panel_query_with_its_dashboard_and_title() -> None:
    expected = [(d.uid, p.title) for d in dashboards() for p in panels(d) for _ in p.targets]
    assert [(uid, title) for uid, title, _ in QUERIES] == expected
    assert all(isinstance(expr, str) and expr for _, _, expr in QUERIES)


def test_no_grafana_variable_is_left() -> None:
    for uid, title, expr in QUERIES:
        assert "$" not in expr, (uid, title, expr)
        assert "[1m]" in expr or "rate(" not in expr, (uid, title, expr)


def test_variables_become_match_all_regexes_and_intervals_one_minute() -> None:
    assert substitute('rate(x{service=~"$service",collection=~"${collection}"}[$__rate_interval])') == (
        'rate(x{service=~".*",collection=~".*"}[1m])'
    )
    assert substitute("increase(x[$__interval])") == "increase(x[1m])"
    with pytest.raises(ValueError, match="plan"):
        substitute('x{plan=~"$plan"}')


def test_every_query_names_only_catalogue_or_external_metrics() -> None:
    for uid, title, expr in QUERIES:
        assert metric_names(expr), (uid, title, expr)
        assert unknown_metrics(expr) == set(), (uid, title, expr)


def test_prometheus_parses_every_query(tmp_path: Path) -> None:
    """promtool parses each query as a recording rule's expression (the truth check then evaluates them)."""
    result = check_expressions([expr for _, _, expr in QUERIES], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(QUERIES)} rules found" in result.stdout
