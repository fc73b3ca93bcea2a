import pytest

from ragplane.kit.errors import ValidationFailed
from ragplane.services.query.validation import (
    DEFAULT_RESULTS,
    MAX_QUERY_CHARS,
    clamp_max_results,
    from_body,
    from_query_params,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, 5), ("", 5), ("7", 7), (" 7 ", 7), (0, 1), (-3, 1), ("100", 50), (50, 50), (1, 1), (3.0, 3), (10**9, 50)],
)
def test_max_results_is_clamped(raw: object, expected: int) -> None:
    assert clamp_max_results(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "3.5", True, 2.5, [], {}])
def test_max_results_must_be_an_integer(raw: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        clamp_max_results(raw)


def test_query_is_trimmed_and_defaults_apply() -> None:
    req = from_query_params({"query": "  circuit breaker  "}, default_collection="docs")
    assert (req.query, req.collection, req.max_results) == ("circuit breaker", "docs", DEFAULT_RESULTS)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "query"),
        ({"query": "   "}, "query"),
        ({"query": 42}, "query"),
        ({"query": "x" * (MAX_QUERY_CHARS + 1)}, "query"),
        ({"query": "ok", "collection": "Bad Name"}, "collection"),
        ({"query": "ok", "collection": 7}, "collection"),
        ({"query": "ok", "max_results": "many"}, "max_results"),
        ({"query": "ok", "max_results": "9" * 5000}, "max_results"),
        ({"query": "a\x00b"}, "query"),
        ({"query": "bell \x07"}, "query"),
        ({"query": "lone \ud800 surrogate"}, "query"),
    ],
)
def test_invalid_requests_name_the_field(body: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        from_body(body, default_collection="docs")
    assert caught.value.extra["errors"][0]["field"] == field


def test_exactly_the_limit_is_accepted() -> None:
    assert len(from_body({"query": "y" * MAX_QUERY_CHARS}, default_collection="d").query) == MAX_QUERY_CHARS


def test_several_errors_are_reported_together() -> None:
    with pytest.raises(ValidationFailed) as caught:
        from_body({"query": "", "max_results": "x"}, default_collection="docs")
    assert [e["field"] for e in caught.value.extra["errors"]] == ["query", "max_results"]


def test_a_query_may_span_lines_and_use_any_script() -> None:
    assert from_body({"query": "risotto\tmantecatura\nカレー 😀"}, default_collection="docs").query
