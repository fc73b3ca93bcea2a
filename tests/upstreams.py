"""Real upstream replicas for the gateway's tests: HTTP servers on free ports in the test's event loop.

The gateway's client is a real HTTP client, so its upstreams are real servers (aiohttp's
test server, which binds a free port): what the proxy sent is what `seen` records, and a
refused connection is a real refusal (a port that is bound but not listening, kept for the
test's duration so nobody else can take it).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

from aiohttp import web
from aiohttp.test_utils import RawTestServer

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Seen:
    method: str
    target: str  # the path and query as sent, not re-encoded
    headers: dict[str, str]  # lower-cased names
    body: bytes


class Upstream:
    """One replica answering with `handler`; every request it received is in `seen`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.seen: list[Seen] = []
        self.server = RawTestServer(self._handle)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.seen.append(Seen(request.method, request.raw_path, headers, body))
        return await self.handler(request)


@contextlib.asynccontextmanager
async def serving(*handlers: Handler) -> AsyncIterator[list[Upstream]]:
    """One running `Upstream` per handler, closed on exit."""
    upstreams = [Upstream(h) for h in handlers]
    async with contextlib.AsyncExitStack() as stack:
        for upstream in upstreams:
            await upstream.server.start_server()
            stack.push_async_callback(upstream.server.close)
        yield upstreams


@contextlib.contextmanager
def refusing() -> Iterator[str]:
    """The URL of a port on which connections are refused: bound, never listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


async def never_answers(request: web.BaseRequest) -> web.StreamResponse:
    """A replica that takes the request and never answers (the client's read timeout ends it)."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def answering(body: bytes = b"{}", status: int = 200, **headers: str) -> Handler:
    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(body=body, status=status, headers=headers)

    return handler
