"""Forwarding requests to upstream services.

The gateway streams the request body up (an upload is never buffered whole) and the response
body down, except a response of at most `BUFFER_BYTES` that says its length: that one is read
whole and sent in one piece, as nginx and Kong buffer small responses, because streaming costs a
small answer (a search result, say) a task and a message per chunk at every layer. It strips
hop-by-hop headers, adds `X-Forwarded-*`, and sends through one client per replica whose
default headers carry `X-Service-Token`, in a client span that adds `traceparent`, so the
upstream's spans join the caller's trace. A client-supplied `X-Service-Token` is dropped:
only the gateway vouches for a request.
A bodiless idempotent request that cannot reach one replica is tried on the next; a
replica that does not answer in time gets a 504, never a second copy of the request.

An upstream knows only its own address, so a redirect it sends (Starlette's trailing-slash
redirect, say) names that address: relayed as it is, it would show the client where the
upstream lives and send it past the gateway. A `Location` on any upstream's address is
relayed as the same path on the gateway instead, relative, so it resolves against
whatever address the client used.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ragplane.errors import BadGateway, CircuitOpen, DependencyError, GatewayTimeout, NotFound, Unreachable
from ragplane.kit.service_auth import HEADER as SERVICE_TOKEN
from ragplane.services.gateway.replicas import UpstreamPool
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
REQUEST_DROP = HOP_BY_HOP | {"host", "content-length", SERVICE_TOKEN.lower()}
RESPONSE_DROP = frozenset(name.encode() for name in HOP_BY_HOP | {"date", "server"})


def forwarded_headers(request: Request) -> dict[str, str]:
    """The client's headers minus hop-by-hop ones and any X-Service-Token, plus forwarding info.
    The upstream client adds the real token."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in REQUEST_DROP}
    client = request.client.host if request.client else ""
    previous = request.headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{previous}, {client}" if previous else client
    headers["x-forwarded-proto"] = request.url.scheme
    headers["x-forwarded-host"] = request.headers.get("host", "")
    return headers


def has_dot_segments(path: str) -> bool:
    """Whether a decoded path has `.` or `..` segments (`%2e%2e` and `%2f` arrive decoded)."""
    return any(segment in (".", "..") for segment in path.replace("\\", "/").split("/"))


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return (length is not None and length != "0") or "chunked" in request.headers.get("transfer-encoding", "")


DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, int]


def origin(url: str, *, scheme: str = "http") -> Origin | None:
    """(host, port) of an absolute or scheme-relative URL; None for a relative reference."""
    parts = urlsplit(url)
    if not parts.netloc or parts.hostname is None:
        return None
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: not one of ours
        return None
    return parts.hostname.lower(), port or DEFAULT_PORTS.get(parts.scheme or scheme, 80)


def public_location(location: str, internal: Collection[Origin]) -> str:
    """`location` as the client may follow it: on an upstream's address, the same path relative to the gateway."""
    if origin(location) not in internal:
        return location
    parts = urlsplit(location)
    return urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment))


def _public_location(value: bytes, internal: Collection[Origin]) -> bytes:
    return public_location(value.decode("latin-1"), internal).encode("latin-1")


BUFFER_BYTES = 256 * 1024
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
ATTEMPTS = 2  # an idempotent request that could not reach one replica is tried on one more


class Proxy:
    """Forwards requests to named upstream services, across their replicas."""

    def __init__(self, *, upstreams: Mapping[str, UpstreamPool], metrics: ServiceMetrics) -> None:
        self.upstreams = dict(upstreams)
        self.internal = {o for pool in upstreams.values() for r in pool.replicas if (o := origin(r.base_url))}
        self.requests = metrics.counter(catalog.GATEWAY_UPSTREAM_REQUESTS)
        self.duration = metrics.histogram(catalog.GATEWAY_UPSTREAM_DURATION)

    async def forward(self, request: Request, upstream: str) -> Response:
        if has_dot_segments(request.url.path):
            # HTTP clients normalise "a/../b" to "b": forwarded with our token, "/rag/search/../../internal"
            # would reach routes the gateway never exposes.
            raise NotFound(f"No route matches {request.method} {request.url.path}.")
        pool = self.upstreams[upstream]
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        target = raw_path.decode("latin-1")
        if request.url.query:
            target += "?" + request.url.query
        body = _has_body(request)
        # A request body is a stream read once: only a bodiless idempotent request can be sent twice.
        attempts = ATTEMPTS if request.method in IDEMPOTENT and not body else 1
        headers = forwarded_headers(request)
        tried = busy = 0
        for replica in pool.candidates():
            if tried == attempts:
                break
            started = time.perf_counter()
            try:
                # A copy per attempt: each attempt's client span puts its own `traceparent` in it.
                response = await replica.send(request.method, target, dict(headers), request.stream() if body else None)
            except CircuitOpen:  # opened (or probing) since it was picked: nothing was sent, take the next
                busy += 1
                continue
            except Unreachable as exc:
                tried += 1
                self._count(upstream, "timeout" if exc.kind == "timeout" else "unreachable", started)
                pool.publish(replica)
                if exc.kind == "timeout":  # it may be working on it: never sent twice
                    raise GatewayTimeout(f"The {upstream} service did not answer in time.", upstream=upstream) from None
                continue
            except DependencyError:  # named by the service: a replica's address is not the client's business
                self._count(upstream, "unreachable", started)
                pool.publish(replica)
                break
            pool.publish(replica)
            self._count(upstream, str(response.status), started)
            return await self._relay(response, upstream)
        if busy and not tried:
            raise CircuitOpen(upstream, failures=0, retry_after=1)
        raise BadGateway(f"The {upstream} service is unreachable.", upstream=upstream)

    async def _relay(self, response: aiohttp.ClientResponse, upstream: str) -> Response:
        forwarded: Response
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) <= BUFFER_BYTES:
            try:
                body = await response.read()  # as sent: still encoded
            except aiohttp.ClientError:
                raise BadGateway(f"The {upstream} service broke off its answer.", upstream=upstream) from None
            finally:
                response.release()
            forwarded = Response(body, status_code=response.status)
        else:
            forwarded = StreamingResponse(
                response.content.iter_any(), status_code=response.status, background=BackgroundTask(response.release)
            )
        # Raw header pairs keep repeated headers (Link, Set-Cookie) as separate lines; the
        # upstream's Content-Length stays, and is the length of the body relayed either way.
        forwarded.raw_headers = [
            (key, _public_location(value, self.internal) if key == b"location" else value)
            for key, value in ((k.lower(), v) for k, v in response.raw_headers)
            if key not in RESPONSE_DROP
        ]
        return forwarded

    def _count(self, upstream: str, status: str, started: float) -> None:
        self.requests.labels(upstream=upstream, status=status).inc()
        self.duration.labels(upstream=upstream).observe(time.perf_counter() - started)
