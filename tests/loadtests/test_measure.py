"""Per-stage figures from Locust's counters."""

from __future__ import annotations

import pytest

from loadtests.measure import Counts, Snapshot, figures, percentile, window


def test_percentile_matches_locusts_definition() -> None:
    # Locust's rule (locust.stats.calculate_response_time_percentile, checked against it): the
    # largest recorded time t with at most int(n * q) requests faster than t.
    times = {10: 90, 100: 5, 1000: 5}  # 100 requests
    assert [percentile(times, q) for q in (0.5, 0.89, 0.9, 0.95, 0.99)] == [10, 10, 100, 1000, 1000]
    assert percentile({}, 0.95) is None
    assert percentile({7: 1}, 0.99) == 7


def test_counts_subtract_to_what_happened_in_between() -> None:
    later = Counts(10, 2, {5: 6, 50: 4})
    earlier = Counts(4, 1, {5: 4})
    assert later - earlier == Counts(6, 1, {5: 2, 50: 4})
    assert later - later == Counts(0, 0, {})


def test_figures() -> None:
    f = figures(Counts(200, 2, {10: 150, 20: 40, 300: 10}), 20)
    assert f == {
        "requests": 200,
        "failures": 2,
        "error_ratio": 0.01,
        "rps": 10,
        "p50_ms": 10,
        "p95_ms": 300,
        "p99_ms": 300,
    }
    assert figures(Counts(), 0)["rps"] == 0 and figures(Counts(), 5)["error_ratio"] == 0


def test_a_window_covers_the_total_and_endpoints_with_traffic() -> None:
    search = "GET /api/v1/rag/search"
    start = Snapshot(100.0, Counts(5, 0, {10: 5}), {search: Counts(5, 0, {10: 5})})
    end = Snapshot(
        110.0,
        Counts(25, 1, {10: 20, 40: 5}),
        {search: Counts(5, 0, {10: 5}), "POST /api/v1/rag/query": Counts(20, 1, {10: 15, 40: 5})},
    )
    got = window(start, end)
    assert got["seconds"] == 10
    assert got["total"]["requests"] == 20 and got["total"]["rps"] == pytest.approx(2.0)
    assert list(got["endpoints"]) == ["POST /api/v1/rag/query"]  # search had nothing in between
