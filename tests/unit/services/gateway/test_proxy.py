"""The gateway's upstream handling, against an in-process upstream (httpx MockTransport)."""

import asyncio

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ragplane.kit.errors import BadGateway, GatewayTimeout, NotFound
from ragplane.services.gateway.proxy import Proxy, forwarded_headers, has_dot_segments
from ragplane.services.gateway.replicas import UpstreamPool
from ragplane.telemetry.metrics import ServiceMetrics

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


def make_proxy(handler, token=lambda: TOKEN) -> tuple[Proxy, ServiceMetrics]:
    metrics = ServiceMetrics("gateway")
    upstream = UpstreamPool(
        "query",
        ["http://query:8001"],
        token=token,
        timeout_s=5,
        metrics=metrics,
        transport=httpx.MockTransport(handler),
    )
    return Proxy(upstreams={"query": upstream}, metrics=metrics), metrics


def test_the_token_is_built_once_and_reused_with_one_client_per_upstream() -> None:
    asked = []
    seen: list[httpx.Request] = []

    def token() -> str:
        asked.append(1)
        return TOKEN

    proxy, _ = make_proxy(lambda req: seen.append(req) or httpx.Response(200), token)
    client = proxy.upstreams["query"].primary.client
    forged = [(b"x-service-token", b"forged")]
    for _ in range(3):
        asyncio.run(proxy.forward(request(headers=forged), "query"))
    assert len(asked) == 1
    assert proxy.upstreams["query"].primary.client is client
    assert [r.headers["x-service-token"] for r in seen] == [TOKEN] * 3


def test_forward_streams_the_upstream_answer() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(
            201, stream=httpx.ByteStream(b'{"ok":true}'), headers=[("Link", "<a>"), ("Link", "<b>"), ("Server", "x")]
        )

    proxy, metrics = make_proxy(handler)

    async def go() -> tuple[int, list, bytes]:
        response = await proxy.forward(
            request("POST", "/rag/query", b"", body=b'{"q":1}', headers=[(b"content-length", b"7")]), "query"
        )
        chunks = [c async for c in response.body_iterator]
        return (
            response.status_code,
            response.raw_headers,
            b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks),
        )

    status, raw, body = asyncio.run(go())
    assert status == 201 and body == b'{"ok":true}'
    assert [v for k, v in raw if k == b"link"] == [b"<a>", b"<b>"]
    assert not any(k == b"server" for k, _ in raw)
    assert str(seen[0].url) == "http://query:8001/rag/query"
    assert seen[0].headers["x-service-token"] == TOKEN
    assert seen[0].content == b'{"q":1}'
    assert (
        metrics.registry.get_sample_value(
            "ragplane_gateway_upstream_requests_total", {"upstream": "query", "status": "201"}
        )
        == 1
    )


def test_query_string_is_kept() -> None:
    seen: list[httpx.Request] = []
    proxy, _ = make_proxy(lambda req: seen.append(req) or httpx.Response(200))
    asyncio.run(proxy.forward(request(query=b"query=a%20b&max_results=3"), "query"))
    assert str(seen[0].url) == "http://query:8001/api/v1/rag/search?query=a%20b&max_results=3"


@pytest.mark.parametrize(
    ("error", "problem", "status"),
    [
        (httpx.ConnectError("refused"), BadGateway, "unreachable"),
        (httpx.ReadTimeout("slow"), GatewayTimeout, "timeout"),
    ],
)
def test_upstream_failures_become_problems(error: Exception, problem: type, status: str) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        raise error

    proxy, metrics = make_proxy(handler)
    with pytest.raises(problem) as caught:
        asyncio.run(proxy.forward(request(), "query"))
    assert "query service" in caught.value.detail
    assert (
        metrics.registry.get_sample_value(
            "ragplane_gateway_upstream_requests_total", {"upstream": "query", "status": status}
        )
        == 1
    )


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
    proxy, _ = make_proxy(lambda req: pytest.fail("must not reach the upstream"))
    with pytest.raises(NotFound):
        asyncio.run(proxy.forward(request(path="/rag/search/../../internal/cache/clear"), "query"))


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
def test_a_redirect_to_an_upstream_becomes_the_public_path(location: str, relayed: str) -> None:
    metrics = ServiceMetrics("gateway")
    pools = {
        name: UpstreamPool(
            name,
            [url],
            token=lambda: TOKEN,
            timeout_s=5,
            metrics=metrics,
            transport=httpx.MockTransport(lambda req: httpx.Response(307, headers={"Location": location})),
        )
        for name, url in (("query", "http://query:8001"), ("collections", "http://collections"))
    }
    proxy = Proxy(upstreams=pools, metrics=metrics)
    response = asyncio.run(proxy.forward(request(path="/api/v1/rag/search/"), "query"))
    assert response.status_code == 307
    assert [v.decode() for k, v in response.raw_headers if k == b"location"] == [relayed]


class _Chunks(httpx.AsyncByteStream):
    """An upstream body arriving in pieces, which may break off."""

    def __init__(self, *chunks: bytes, broken: bool = False) -> None:
        self.chunks, self.broken = chunks, broken

    async def __aiter__(self):
        for chunk in self.chunks:
            yield chunk
        if self.broken:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def test_a_small_answer_that_says_its_length_is_relayed_whole_and_a_large_one_streamed() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path.endswith("small"):
            return httpx.Response(200, stream=_Chunks(b"he", b"llo"), headers={"content-length": "5"})
        return httpx.Response(200, stream=_Chunks(b"x" * 1024), headers={"content-length": str(300 * 1024)})

    proxy, _ = make_proxy(handler)

    async def go() -> tuple[Response, Response]:
        return (
            await proxy.forward(request(path="/rag/small"), "query"),
            await proxy.forward(request(path="/rag/large"), "query"),
        )

    small, large = asyncio.run(go())
    assert not isinstance(small, StreamingResponse) and small.body == b"hello"
    assert (b"content-length", b"5") in small.raw_headers
    assert isinstance(large, StreamingResponse)


def test_an_answer_broken_off_before_its_length_is_a_bad_gateway() -> None:
    proxy, _ = make_proxy(
        lambda req: httpx.Response(200, stream=_Chunks(b"he", broken=True), headers={"content-length": "5"})
    )
    with pytest.raises(BadGateway, match="broke off its answer"):
        asyncio.run(proxy.forward(request(), "query"))
