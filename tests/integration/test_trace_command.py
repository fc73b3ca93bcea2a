"""`ragplane trace TRACE_ID` against a running stack: one tree across gateway → query → embed / vector_search,
and the services' head sampling (OTEL_TRACES_SAMPLER) deciding what the rings keep."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ragplane import cli
from ragplane.kit.spans import ring_of
from tests.running import RunningStack, until

DURATION = r"\d+\.\d ms|\d+\.\d\d s"


@pytest.fixture
def trace_env(tmp_path: Path, stack: RunningStack) -> Path:
    """Settings naming the test stack's three services, with its service token."""
    path = tmp_path / ".env"
    path.write_text(
        f"INTER_SERVICE_SECRET={stack.settings.service_token}\n"
        f"GATEWAY_PORT={urlsplit(stack.urls['gateway']).port}\n"
        f"QUERY_URL={stack.urls['query']}\nCOLLECTIONS_URL={stack.urls['collections']}\n"
    )
    return path


def held(stack: RunningStack, service: str, trace_id: str) -> list[dict[str, object]]:
    """What `service` answers on /internal/traces for `trace_id`."""
    with stack.client(service, token=True) as client:
        answer = client.get(f"/internal/traces/{trace_id}")
    assert answer.status_code == 200, answer.text
    spans: list[dict[str, object]] = answer.json()["spans"]
    return spans


def gateway_done(stack: RunningStack, trace_id: str) -> bool:
    """The gateway's server span ends once the last body byte is sent, after the client has the answer."""
    return any(span["kind"] == "server" for span in held(stack, "gateway", trace_id))


def tree_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if not line.startswith("{")]


def rows(output: str) -> list[tuple[int, str, str, str]]:
    """(depth, span label, service, duration) of each printed line (the in-process stack's JSON logs left out)."""
    out = []
    for line in tree_lines(output):
        match = re.fullmatch(rf"((?:[│ ]  |[├└]─ )*)(.+?)\s+(gateway|query|collections)\s+({DURATION})(  .*)?", line)
        assert match, line
        out.append((len(match[1]) // 3, match[2], match[3], match[4]))
    return out


def test_a_search_through_the_gateway_is_one_tree(stack, gateway, demo_corpus, trace_env, capsys) -> None:
    trace_id = uuid.uuid4().hex
    r = gateway.get(
        "/api/v1/rag/search",
        params={"query": f"follow me {uuid.uuid4().hex}", "collection": demo_corpus},  # new text: embedded
        headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
    )
    assert r.status_code == 200
    quoted = r.headers["traceresponse"]  # what a user copies from the response
    assert quoted.split("-")[1] == trace_id and quoted.endswith("-01")
    until(lambda: gateway_done(stack, trace_id))
    assert cli.main(["--env-file", str(trace_env), "trace", quoted]) == 0
    printed = rows(capsys.readouterr().out)
    query_port = urlsplit(stack.urls["query"]).port
    shape = [(depth, label, service) for depth, label, service, _ in printed]
    assert shape[:3] == [
        (0, "GET /api/v1/rag/search", "gateway"),  # the caller's span is not ours: the gateway's is the root
        (1, f"GET 127.0.0.1:{query_port}/api/v1/rag/search", "gateway"),
        (2, "GET /api/v1/rag/search", "query"),
    ]
    assert {(depth, label, service) for depth, label, service in shape[3:]} >= {
        (3, "embed", "query"),
        (3, "vector_search", "query"),
    }
    ms = [float(d.split()[0]) * (1000 if d.endswith(" s") else 1) for *_, d in printed]
    assert ms[0] >= ms[1] >= ms[2] > 0  # each hop inside the one that called it
    assert all(m > 0 for m in ms[3:])


def test_a_problem_trace_id_leads_to_its_tree(stack, gateway, trace_env, capsys) -> None:
    r = gateway.get("/api/v1/rag/search", params={"query": "x", "collection": "no-such-collection"})
    assert r.status_code == 404
    trace_id = r.json()["trace_id"]
    until(lambda: gateway_done(stack, trace_id))
    assert cli.main(["--env-file", str(trace_env), "trace", trace_id.upper()]) == 0
    lines = tree_lines(capsys.readouterr().out)
    assert re.fullmatch(rf"GET /api/v1/rag/search\s+gateway\s+({DURATION})  404", lines[0]), lines[0]
    assert any(re.search(rf"└─ GET /api/v1/rag/search\s+query\s+({DURATION})  404", line) for line in lines), lines


def test_a_trace_nobody_holds_and_a_malformed_id(trace_env, capsys) -> None:
    unknown = uuid.uuid4().hex
    assert cli.main(["--env-file", str(trace_env), "trace", unknown]) == 1
    captured = capsys.readouterr()
    assert tree_lines(captured.out) == []
    assert f"no service holds a span of trace {unknown}" in captured.err
    assert "did not answer" not in captured.err  # all three were asked, none had it
    assert cli.main(["--env-file", str(trace_env), "trace", "00-abc-01"]) == 2
    assert "'00-abc-01' is not a trace id" in capsys.readouterr().err


def test_the_trace_route_needs_the_service_token(stack: RunningStack) -> None:
    for service in ("gateway", "query", "collections"):
        with stack.client(service) as client:
            refused = client.get(f"/internal/traces/{uuid.uuid4().hex}")
        assert refused.status_code == 403, service
        assert refused.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("sampler", "arg", "kept_alone", "kept_when_the_caller_samples"),
    [
        ("always_off", "1", False, False),
        ("parentbased_traceidratio", "0", False, True),  # a new trace: the ratio (none); a caller's: its choice
        ("parentbased_always_on", "1", True, True),
    ],
)
def test_the_services_sample_as_otel_traces_sampler_says(
    make_settings, sampler: str, arg: str, kept_alone: bool, kept_when_the_caller_samples: bool
) -> None:
    edge = RunningStack(make_settings(OTEL_TRACES_SAMPLER=sampler, OTEL_TRACES_SAMPLER_ARG=arg), services=("gateway",))
    edge.start(wait_ready=False)
    try:
        assert edge.stack is not None
        ring = ring_of(edge.stack.apps["gateway"].state.spec.tracer_provider)
        assert ring is not None
        caller = uuid.uuid4().hex
        with edge.client() as client:
            alone = client.get("/no-such-page").json()["trace_id"]  # logs and problems have a trace id either way
            client.get("/no-such-page", headers={"traceparent": f"00-{caller}-00f067aa0ba902b7-01"})
        for trace_id, kept in ((alone, kept_alone), (caller, kept_when_the_caller_samples)):
            if kept:
                until(lambda trace_id=trace_id: ring.trace(int(trace_id, 16)))
            else:  # decided when the span started, before the answer came back
                assert ring.trace(int(trace_id, 16)) == []
    finally:
        edge.stop()
