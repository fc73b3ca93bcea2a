"""An upstream service's replicas: one HTTP client and one circuit breaker each.

The gateway balances requests round-robin across the replicas whose breaker lets calls
through. A replica that cannot be reached (connection refused or reset, connect timeout)
or does not answer in time counts a failure on its breaker; after
`REPLICA_FAILURES` in a row the breaker opens and the replica gets no traffic until its
recovery time has passed, when the next request to it is the probe that lets it back in
(one breaker per replica). An answer, whatever its status, is the replica
working: a 503 from a service whose own dependency is down says nothing against the
replica, and another replica would answer the same.

The client is aiohttp's: every request through the gateway is one call here, and aiohttp
(C parser, a connection pool that takes the next idle connection instead of checking every
pooled socket) costs the gateway about a third of the CPU per call that httpx did (see
docs/performance.md). Answers are relayed as sent: no decompression, no redirects followed.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterable, Callable, Sequence
from urllib.parse import urlsplit

import aiohttp
from opentelemetry import trace
from opentelemetry.trace import Tracer
from yarl import URL

from ragplane.errors import CircuitOpen, Unreachable
from ragplane.kit.breakers import Breaker, Breakers
from ragplane.kit.service_auth import HEADER as SERVICE_TOKEN
from ragplane.kit.tracing import client_span
from ragplane.settings import BreakerSettings
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

REPLICA_FAILURES = 3
REPLICA_RECOVERY_S = 5.0
CONNECT_TIMEOUT_S = 5.0
NO_CALL_TIMEOUT_S = 7 * 24 * 3600.0
MAX_CONNECTIONS = 200
# An idle pooled connection is dropped before uvicorn's own keep-alive timeout (5 s) closes it,
# so a request is never written to a connection the replica is closing at that moment.
KEEPALIVE_S = 4.0
# Headers aiohttp would add on its own: what goes upstream is what the client sent.
NOT_ADDED = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


def replica_name(service: str, url: str) -> str:
    """`query@host:port`: the breaker's name and the `replica` label."""
    parts = urlsplit(url)
    return f"{service}@{parts.netloc}"


class Replica:
    """One replica of a service and the one client (connection pool, token header) that talks to it."""

    def __init__(
        self,
        service: str,
        base_url: str,
        *,
        token: Callable[[], str],
        timeout_s: float,
        breaker: Breaker,
        tracer: Tracer,
    ) -> None:
        self.service = service
        self.tracer = tracer
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self.host, self.port = parts.hostname or "", parts.port
        self.name = replica_name(service, base_url)
        self.breaker = breaker
        self.headers = {SERVICE_TOKEN: token()}
        self.timeout = aiohttp.ClientTimeout(total=None, connect=min(CONNECT_TIMEOUT_S, timeout_s), sock_read=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The replica's client, made on first use: aiohttp binds it to the running event loop."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=0, keepalive_timeout=KEEPALIVE_S),
                headers=self.headers,
                timeout=self.timeout,
                skip_auto_headers=NOT_ADDED,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    def url(self, target: str) -> URL:
        """`target` (a path as the client sent it, with its query) on this replica, not re-encoded."""
        return URL(self.base_url + target, encoded=True)

    async def send(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: AsyncIterable[bytes] | None = None,
    ) -> aiohttp.ClientResponse:
        """Send through the breaker, in a client span; unreachable or too slow counts against the replica.
        The answer's body is not read yet: the caller reads or streams it, then releases it."""

        async def attempt() -> aiohttp.ClientResponse:
            try:
                return await self.session.request(
                    method, self.url(target), headers=headers, data=body, allow_redirects=False
                )
            except aiohttp.ConnectionTimeoutError as exc:
                raise Unreachable(self.name, "connect timed out", kind="unreachable") from exc
            except aiohttp.ClientConnectorError as exc:
                raise Unreachable(self.name, f"cannot connect ({type(exc).__name__})", kind="unreachable") from exc
            except TimeoutError as exc:  # aiohttp's read timeout (ServerTimeoutError) is one
                raise Unreachable(self.name, f"no answer in time ({type(exc).__name__})", kind="timeout") from exc
            except aiohttp.ClientError as exc:  # reset, or closed before answering (a replica shutting down)
                raise Unreachable(self.name, f"connection failed ({type(exc).__name__})") from exc

        async with client_span(self.tracer, method, self.host, self.port, target, headers) as span:
            response = await self.breaker.call(attempt)
            span.set_attribute("http.response.status_code", response.status)
            return response

    async def get(self, path: str, timeout_s: float) -> tuple[int, bytes]:
        """A GET of the gateway's own (readiness, API documents), outside the breaker: status and body."""
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with self.session.get(self.url(path), timeout=timeout, allow_redirects=False) as response:
            return response.status, await response.read()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class UpstreamPool:
    """The replicas of one upstream service, in round-robin order."""

    def __init__(
        self,
        service: str,
        urls: Sequence[str],
        *,
        token: Callable[[], str],
        timeout_s: float,
        metrics: ServiceMetrics,
        breakers_enabled: bool = True,
        tracer: Tracer | None = None,
    ) -> None:
        """`tracer` makes the client spans (default: OpenTelemetry's global one)."""
        if not urls:
            raise ValueError(f"{service} has no upstream URL")
        self.service = service
        names = [replica_name(service, u) for u in urls]
        # No call timeout of the breaker's own: a call includes streaming an upload up, which may
        # take long from a slow client; the client's connect and read timeouts bound the replica's part.
        config = BreakerSettings(
            failure_threshold=REPLICA_FAILURES, call_timeout_s=NO_CALL_TIMEOUT_S, recovery_s=REPLICA_RECOVERY_S
        )
        self.breakers = Breakers(names, settings={}, defaults=config, enabled=breakers_enabled, metrics=metrics)
        self.replicas = [
            Replica(
                service,
                url,
                token=token,
                timeout_s=timeout_s,
                breaker=self.breakers[name],
                tracer=tracer or trace.get_tracer("ragplane.gateway"),
            )
            for url, name in zip(urls, names, strict=True)
        ]
        self._up = metrics.gauge(catalog.GATEWAY_REPLICA_UP)
        self._turn = itertools.cycle(range(len(self.replicas)))
        for replica in self.replicas:
            self.publish(replica)

    @property
    def primary(self) -> Replica:
        return self.replicas[0]

    def candidates(self) -> list[Replica]:
        """Replicas in the order to try: round-robin from the next one, skipping those whose breaker is open."""
        start = next(self._turn)
        ordered = self.replicas[start:] + self.replicas[:start]
        usable = [r for r in ordered if not r.breaker.blocking()]  # a busy probe raises CircuitOpen: next one
        if not usable:
            soonest = min(r.breaker.retry_after() for r in self.replicas)
            failures = max(r.breaker.failures for r in self.replicas)
            raise CircuitOpen(self.service, failures=failures, retry_after=max(1, soonest))
        return usable

    def publish(self, replica: Replica) -> None:
        up = 0 if replica.breaker.state == "open" else 1
        self._up.labels(upstream=self.service, replica=replica.name).set(up)

    async def close(self) -> None:
        for replica in self.replicas:
            await replica.close()
