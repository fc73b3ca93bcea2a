"""`ragplane trace`: the tree printer and the answers for ids nobody can look up."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ragplane.kit.spans import CAPACITY
from ragplane.ops.trace import Span, command, duration, render
from ragplane.settings import load_settings


def span(span_id: str, parent: str | None, name: str, service: str, start: int, ms: float, **extra: object) -> Span:
    return Span.from_json(
        {
            "span_id": span_id,
            "parent_id": parent,
            "name": name,
            "service": service,
            "start_unix_nano": start,
            "duration_ms": ms,
            "kind": extra.pop("kind", "internal"),
            "status": extra.pop("status", "ok"),
            "attributes": extra,
        }
    )


SEARCH = [
    # As the services answer them: each service's spans in the order they finished, children first.
    span("c1", "b1", "embed", "query", 300, 4.1),
    span("c2", "b1", "vector_search", "query", 500, 3.0),
    span("b1", "a2", "GET /api/v1/rag/search", "query", 200, 9.8, kind="server"),
    span(
        "a2",
        "a1",
        "GET",
        "gateway",
        150,
        10.9,
        kind="client",
        **{"server.address": "127.0.0.1", "server.port": 8001, "url.path": "/api/v1/rag/search"},
    ),
    span("a1", "caller", "GET /api/v1/rag/search", "gateway", 100, 12.3, kind="server"),
]


def test_one_tree_across_services_with_durations() -> None:
    assert render(SEARCH) == [
        "GET /api/v1/rag/search                   gateway  12.3 ms",
        "└─ GET 127.0.0.1:8001/api/v1/rag/search  gateway  10.9 ms",
        "   └─ GET /api/v1/rag/search             query     9.8 ms",
        "      ├─ embed                           query     4.1 ms",
        "      └─ vector_search                   query     3.0 ms",
    ]


def test_siblings_keep_their_branches_and_errors_and_statuses_are_shown() -> None:
    spans = [
        span("r", None, "GET /x", "gateway", 0, 1500.0, status="error", **{"http.response.status_code": 503}),
        span("a", "r", "first", "gateway", 1, 2.0),
        span("a1", "a", "inner", "gateway", 2, 1.0),
        span("b", "r", "second", "gateway", 5, 3.0),
    ]
    assert render(spans) == [
        "GET /x       gateway  1.50 s  503 ERROR",
        "├─ first     gateway  2.0 ms",
        "│  └─ inner  gateway  1.0 ms",
        "└─ second    gateway  3.0 ms",
    ]


def test_spans_whose_parent_is_gone_are_roots_in_start_order() -> None:
    later = span("q", "expired", "GET /api/v1/rag/query", "query", 50, 7.0)
    earlier = span("g", None, "GET /health", "gateway", 10, 0.4)
    assert [line.split()[1] for line in render([later, earlier])] == ["/health", "/api/v1/rag/query"]


@pytest.mark.parametrize(
    ("ms", "shown"), [(0.04, "0.0 ms"), (12.345, "12.3 ms"), (999.9, "999.9 ms"), (1234, "1.23 s")]
)
def test_durations(ms: float, shown: str) -> None:
    assert duration(ms) == shown


def test_a_malformed_id_is_refused_before_anything_is_asked(capsys) -> None:
    settings = load_settings(environ={}, env_file=None)
    said: list[str] = []
    assert command(settings, "not-a-trace", say=said.append) == 2
    assert "'not-a-trace' is not a trace id: one is 32 hexadecimal digits" in said[0]
    assert capsys.readouterr().out == ""


def test_services_that_do_not_answer_are_named_and_exit_1(capsys) -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    nowhere = f"http://127.0.0.1:{port}"
    settings = load_settings(
        environ={"GATEWAY_PORT": str(port), "QUERY_URL": nowhere, "COLLECTIONS_URL": nowhere}, env_file=None
    )
    said: list[str] = []
    assert command(settings, "4bf92f3577b34da6a3ce929d0e0e4736", say=said.append) == 1
    assert [line.split(" (")[0] for line in said[:3]] == [
        "ragplane: gateway",
        "ragplane: query",
        "ragplane: collections",
    ]
    assert all("did not answer" in line for line in said[:3])
    assert said[3] == "ragplane: no service could be asked: is the stack running, and do these settings name it?"
    assert capsys.readouterr().out == ""


def test_the_guide_states_how_many_spans_a_service_keeps() -> None:
    guide = Path(__file__).resolve().parents[3] / "docs" / "observability.md"
    assert f"keeps its last {CAPACITY} finished spans" in guide.read_text()
