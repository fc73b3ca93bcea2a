"""What the query service accepts: the query trimmed and plain text, max_results clamped, the collection named."""

import pytest
from starlette.datastructures import QueryParams

from ragplane.errors import ValidationFailed
from ragplane.services.query.schemas import DEFAULT_RESULTS, MAX_QUERY_CHARS, QueryRequest, clamp_max_results

DOCS = QueryRequest.defaults("docs")


def parse(data: object) -> QueryRequest:
    return QueryRequest.parse(data, context=DOCS)


def errors(data: object) -> list[dict[str, str]]:
    with pytest.raises(ValidationFailed) as caught:
        parse(data)
    found: list[dict[str, str]] = caught.value.extra["errors"]
    return found


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, 5), ("", 5), ("7", 7), (" 7 ", 7), (0, 1), (-3, 1), ("100", 50), (50, 50), (1, 1), (3.0, 3), (10**9, 50)],
)
def test_max_results_is_clamped(raw: object, expected: int) -> None:
    assert clamp_max_results(raw) == expected
    assert parse({"query": "q", "max_results": raw}).max_results == expected


@pytest.mark.parametrize("raw", ["abc", "3.5", "3.0", True, 2.5, [], {}, "9" * 5000])
def test_max_results_must_be_an_integer(raw: object) -> None:
    with pytest.raises(ValueError, match=r"must be an integer \(it is clamped to 1..50\)"):
        clamp_max_results(raw)


def test_query_is_trimmed_and_defaults_apply() -> None:
    req = parse({"query": "  circuit breaker  "})
    assert (req.query, req.collection, req.max_results) == ("circuit breaker", "docs", DEFAULT_RESULTS)


@pytest.mark.parametrize("collection", [None, ""])
def test_an_absent_collection_is_the_services_default(collection: object) -> None:
    wiki = QueryRequest.defaults("wiki")
    assert QueryRequest.parse({"query": "q", "collection": collection}, context=wiki).collection == "wiki"
    assert QueryRequest.parse({"query": "q"}, context=wiki).collection == "wiki"


def test_query_parameters_are_read_as_sent() -> None:
    req = parse(QueryParams("query=%20pasta%20&collection=recipes&max_results=500&unknown=1"))
    assert (req.query, req.collection, req.max_results) == ("pasta", "recipes", 50)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "query", "is required and must be a string"),
        ({"query": None}, "query", "is required and must be a string"),
        ({"query": "   "}, "query", "must not be empty or only whitespace"),
        ({"query": 42}, "query", "is required and must be a string"),
        ({"query": "x" * (MAX_QUERY_CHARS + 1)}, "query", "must be at most 1000 characters (got 1001)"),
        ({"query": " " + "x" * (MAX_QUERY_CHARS + 2)}, "query", "must be at most 1000 characters (got 1002)"),
        ({"query": "ok", "collection": "Bad Name"}, "collection", "1-63 characters"),
        ({"query": "ok", "collection": "docs\n"}, "collection", "1-63 characters"),
        ({"query": "ok", "collection": 7}, "collection", "1-63 characters"),
        ({"query": "ok", "max_results": "many"}, "max_results", "must be an integer (it is clamped to 1..50)"),
        ({"query": "ok", "max_results": "9" * 5000}, "max_results", "must be an integer"),
        ({"query": "a\x00b"}, "query", "must be text: no control characters or lone surrogates"),
        ({"query": "bell \x07"}, "query", "must be text: no control characters or lone surrogates"),
        ({"query": "next \x85 line"}, "query", "must be text: no control characters or lone surrogates"),
        ({"query": "lone \ud800 surrogate"}, "query", "must be text: no control characters or lone surrogates"),
    ],
)
def test_invalid_requests_name_the_field_and_say_why(body: dict, field: str, message: str) -> None:
    [error] = errors(body)
    assert error["field"] == field and error["message"].startswith(message)


def test_exactly_the_limit_is_accepted_after_trimming() -> None:
    assert len(parse({"query": "y" * MAX_QUERY_CHARS}).query) == MAX_QUERY_CHARS
    assert len(parse({"query": "  " + "y" * MAX_QUERY_CHARS + "\n"}).query) == MAX_QUERY_CHARS


def test_several_errors_are_reported_together_in_field_order() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse({"max_results": "x", "collection": "A", "query": ""})
    assert [e["field"] for e in caught.value.extra["errors"]] == ["query", "collection", "max_results"]
    assert caught.value.detail.startswith("query: must not be empty or only whitespace; collection: ")


def test_a_query_may_span_lines_and_use_any_script() -> None:
    assert parse({"query": "risotto\tmantecatura\nカレー 😀"}).query
