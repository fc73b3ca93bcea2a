"""The gateway's upstream handling, against real upstream servers on free ports (tests/upstreams.py)."""

import asyncio
from collections.abc import Callable

import pytest
from aiohttp import web
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ragplane.errors import BadGateway, GatewayTimeout, NotFound
from ragplane.services.gateway.proxy import Proxy, forwarded_headers, has_dot_segments, origin, public_location
from ragplane.services.gateway.replicas import UpstreamPool
from ragplane.telemetry.metrics import ServiceMetrics
from tests.upstreams import answering, never_answers, refusing, serving

TOKEN = "t" * 40


def request(
    method: str = "GET",
    path: str = "/api/v1/rag/search",
    query: bytes = b"query=x",
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"",
) -> Request:
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": headers or [(b"host", b"gw:8000")],
        "client": ("10.1.2.3", 5555),
        "scheme": "http",
        "server": ("gw", 8000),
        "root_path": "",
    }
    return Request(scope, receive)


def test_forwarded_headers_drop_hop_by_hop_and_any_client_token() -> None:
    r = request(
        headers=[
            (b"host", b"gw"),
            (b"x-service-token", b"forged"),
            (b"connection", b"keep-alive"),
            (b"x-forwarded-for", b"1.1.1.1"),
            (b"accept", b"application/json"),
        ]
    )
    headers = forwarded_headers(r)
    assert "x-service-token" not in headers and "connection" not in headers and "host" not in headers
    assert headers["x-forwarded-for"] == "1.1.1.1, 10.1.2.3"
    assert headers["x-forwarded-host"] == "gw" and headers["accept"] == "application/json"


def make_proxy(
    url: str, token: Callable[[], str] = lambda: TOKEN, timeout_s: float = 5
) -> tuple[Proxy, ServiceMetrics]:
    metrics = ServiceMetrics("gateway")
    upstream = UpstreamPool("query", [url], token=token, timeout_s=timeout_s, metrics=metrics)
    return Proxy(upstreams={"query": upstream}, metrics=metrics), metrics


async def read(response: Response) -> bytes:
    """The body the gateway relays, whole or streamed."""
    if isinstance(response, StreamingResponse):
        chunks = [c async for c in response.body_iterator]
        if response.background is not None:
            await response.background()
        return b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)
    return bytes(response.body)


def sent(metrics: ServiceMetrics, status: str) -> float | None:
    return metrics.registry.get_sample_value(
        "ragplane_gateway_upstream_requests_total", {"upstream": "query", "status": status}
    )


def test_the_token_is_built_once_and_reused_with_one_client_per_upstream() -> None:
    asked = []

    def token() -> str:
        asked.append(1)
        return TOKEN

    async def go() -> list[str]:
        async with serving(answering()) as (upstream,):
            proxy, _ = make_proxy(upstream.url, token)
            replica = proxy.upstreams["query"].primary
            session = replica.session
            for _ in range(3):
                await proxy.forward(request(headers=[(b"x-service-token", b"forged")]), "query")
            assert replica.session is session
            await proxy.upstreams["query"].close()
            return [seen.headers["x-service-token"] for seen in upstream.seen]

    assert asyncio.run(go()) == [TOKEN] * 3
    assert len(asked) == 1


def test_forward_streams_an_unsized_answer_and_keeps_repeated_headers() -> None:
    async def chunked(request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse(status=201, headers={"Server": "x"})
        response.headers.add("Link", "<a>")
        response.headers.add("Link", "<b>")
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'{"ok":')
        await response.write(b"true}")
        await response.write_eof()
        return response

    async def go() -> tuple[Response, bytes, ServiceMetrics, list]:
        async with serving(chunked) as (upstream,):
            proxy, metrics = make_proxy(upstream.url)
            forwarded = request("POST", "/rag/query", b"", body=b'{"q":1}', headers=[(b"content-length", b"7")])
            response = await proxy.forward(forwarded, "query")
            body = await read(response)
            await proxy.upstreams["query"].close()
            return response, body, metrics, upstream.seen

    response, body, metrics, seen = asyncio.run(go())
    assert isinstance(response, StreamingResponse)
    assert response.status_code == 201 and body == b'{"ok":true}'
    assert [v for k, v in response.raw_headers if k == b"link"] == [b"<a>", b"<b>"]
    assert not any(k in (b"server", b"transfer-encoding") for k, _ in response.raw_headers)
    assert seen[0].target == "/rag/query" and seen[0].method == "POST"
    assert seen[0].headers["x-service-token"] == TOKEN
    assert seen[0].body == b'{"q":1}'
    assert sent(metrics, "201") == 1


def test_the_query_string_and_the_raw_path_are_kept() -> None:
    async def go() -> str:
        async with serving(answering()) as (upstream,):
            proxy, _ = make_proxy(upstream.url)
            path = "/api/v1/rag/collections/a%2Fb/stats"
            await proxy.forward(request(path=path, query=b"query=a%20b&max_results=3"), "query")
            await proxy.upstreams["query"].close()
            return upstream.seen[0].target

    assert asyncio.run(go()) == "/api/v1/rag/collections/a%2Fb/stats?query=a%20b&max_results=3"


def test_headers_the_client_did_not_send_are_not_added() -> None:
    async def go() -> dict[str, str]:
        async with serving(answering()) as (upstream,):
            proxy, _ = make_proxy(upstream.url)
            await proxy.forward(request(headers=[(b"host", b"gw"), (b"accept", b"text/plain")]), "query")
            await proxy.upstreams["query"].close()
            return upstream.seen[0].headers

    headers = asyncio.run(go())
    assert headers["accept"] == "text/plain" and headers["x-forwarded-host"] == "gw"
    assert "accept-encoding" not in headers and "user-agent" not in headers


def test_a_refused_connection_is_a_bad_gateway() -> None:
    async def go(url: str) -> ServiceMetrics:
        proxy, metrics = make_proxy(url)
        with pytest.raises(BadGateway) as caught:
            await proxy.forward(request(), "query")
        assert "query service" in caught.value.detail
        await proxy.upstreams["query"].close()
        return metrics

    with refusing() as url:
        metrics = asyncio.run(go(url))
    assert sent(metrics, "unreachable") == 1


def test_an_upstream_that_does_not_answer_in_time_is_a_gateway_timeout() -> None:
    async def go() -> ServiceMetrics:
        async with serving(never_answers) as (upstream,):
            proxy, metrics = make_proxy(upstream.url, timeout_s=0.2)
            with pytest.raises(GatewayTimeout) as caught:
                await proxy.forward(request(), "query")
            assert "query service" in caught.value.detail
            await proxy.upstreams["query"].close()
            assert len(upstream.seen) == 1  # never sent twice
            return metrics

    assert sent(asyncio.run(go()), "timeout") == 1


@pytest.mark.parametrize(
    ("path", "dotted"),
    [
        ("/rag/search/../../internal/config", True),
        ("/rag/jobs/./x", True),
        ("/rag/a\\..\\b", True),
        ("/rag/search", False),
        ("/rag/collections/a..b/stats", False),
        ("/rag/jobs/...", False),
    ],
)
def test_dot_segments_are_detected(path: str, dotted: bool) -> None:
    assert has_dot_segments(path) is dotted


def test_dot_segments_are_never_forwarded() -> None:
    async def go() -> int:
        async with serving(answering()) as (upstream,):
            proxy, _ = make_proxy(upstream.url)
            with pytest.raises(NotFound):
                await proxy.forward(request(path="/rag/search/../../internal/cache/clear"), "query")
            await proxy.upstreams["query"].close()
            return len(upstream.seen)

    assert asyncio.run(go()) == 0


@pytest.mark.parametrize(
    ("location", "relayed"),
    [
        ("http://query:8001/api/v1/rag/search?query=x", "/api/v1/rag/search?query=x"),
        ("http://QUERY:8001/rag/search#top", "/rag/search#top"),
        ("//query:8001/rag/search", "/rag/search"),
        ("http://collections:80/rag/jobs/1", "/rag/jobs/1"),
        ("http://collections/rag/jobs/1", "/rag/jobs/1"),
        ("/api/v1/rag/jobs/1", "/api/v1/rag/jobs/1"),
        ("https://example.com/elsewhere", "https://example.com/elsewhere"),
        ("http://query:9999/rag/search", "http://query:9999/rag/search"),
    ],
)
def test_a_location_on_an_upstream_becomes_the_public_path(location: str, relayed: str) -> None:
    internal = {origin("http://query:8001"), origin("http://collections")}
    assert public_location(location, internal) == relayed


def test_a_redirect_from_an_upstream_is_relayed_on_the_gateway() -> None:
    async def redirect(request: web.BaseRequest) -> web.StreamResponse:
        port = request.transport.get_extra_info("sockname")[1] if request.transport else 0
        return web.Response(status=307, headers={"Location": f"http://127.0.0.1:{port}/api/v1/rag/search?query=x"})

    async def go() -> Response:
        async with serving(redirect) as (upstream,):
            proxy, _ = make_proxy(upstream.url)
            response = await proxy.forward(request(path="/api/v1/rag/search/"), "query")
            await proxy.upstreams["query"].close()
            return response

    response = asyncio.run(go())
    assert response.status_code == 307
    assert [v for k, v in response.raw_headers if k == b"location"] == [b"/api/v1/rag/search?query=x"]


def test_a_small_answer_that_says_its_length_is_relayed_whole_and_a_large_one_streamed() -> None:
    async def sized(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(body=b"hello" if request.path.endswith("small") else b"x" * (300 * 1024))

    async def go() -> tuple[Response, Response, bytes]:
        async with serving(sized) as (upstream,):
            proxy, _ = make_proxy(upstream.url)
            small = await proxy.forward(request(path="/rag/small"), "query")
            large = await proxy.forward(request(path="/rag/large"), "query")
            body = await read(large)
            await proxy.upstreams["query"].close()
            return small, large, body

    small, large, body = asyncio.run(go())
    assert not isinstance(small, StreamingResponse) and small.body == b"hello"
    assert (b"content-length", b"5") in small.raw_headers
    assert isinstance(large, StreamingResponse) and len(body) == 300 * 1024


def test_an_answer_broken_off_before_its_length_is_a_bad_gateway() -> None:
    async def broken(request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "5"})
        await response.prepare(request)
        await response.write(b"he")
        assert request.transport is not None
        request.transport.close()
        return response

    async def go() -> None:
        async with serving(broken) as (upstream,):
            proxy, _ = make_proxy(upstream.url)
            with pytest.raises(BadGateway, match="broke off its answer"):
                await proxy.forward(request(), "query")
            await proxy.upstreams["query"].close()

    asyncio.run(go())
