"""An upstream service's replicas: one HTTP client and one circuit breaker each.

The gateway balances requests round-robin across the replicas whose breaker lets calls
through. A replica that cannot be reached (connection refused or reset, connect timeout)
or does not answer in time counts a failure on its breaker; after
`REPLICA_FAILURES` in a row the breaker opens and the replica gets no traffic until its
recovery time has passed, when the next request to it is the probe that lets it back in
(issue 3's breaker, one per replica). An answer, whatever its status, is the replica
working: a 503 from a service whose own dependency is down says nothing against the
replica, and another replica would answer the same.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import httpx
from opentelemetry import trace
from opentelemetry.trace import Tracer

from ragplane.adapters.errors import CircuitOpen, DependencyUnavailable
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
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.service = service
        self.tracer = tracer
        self.base_url = base_url.rstrip("/")
        self.name = replica_name(service, base_url)
        self.breaker = breaker
        self.client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={SERVICE_TOKEN: token()},
            timeout=httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s)),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            transport=transport,
        )

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send through the breaker, in a client span; unreachable or too slow counts against the replica."""

        async def attempt() -> httpx.Response:
            try:
                return await self.client.send(request, stream=True)
            except httpx.ConnectError as exc:
                raise Unreachable(self.name, f"cannot connect ({type(exc).__name__})", kind="unreachable") from exc
            except httpx.ConnectTimeout as exc:
                raise Unreachable(self.name, "connect timed out", kind="unreachable") from exc
            except httpx.TimeoutException as exc:
                raise Unreachable(self.name, f"no answer in time ({type(exc).__name__})", kind="timeout") from exc
            except httpx.TransportError as exc:  # reset, or closed before answering (a replica shutting down)
                raise Unreachable(self.name, f"connection failed ({type(exc).__name__})") from exc

        async with client_span(self.tracer, request) as span:
            response = await self.breaker.call(attempt)
            span.set_attribute("http.response.status_code", response.status_code)
            return response

    async def close(self) -> None:
        await self.client.aclose()


class Unreachable(DependencyUnavailable):
    """No answer from the replica: refused, reset, closed, or (kind `timeout`) too slow.

    Except after a timeout, an idempotent request may be sent to another replica: it was
    never received, or it is harmless to repeat.
    """


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
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`tracer` makes the client spans (default: OpenTelemetry's global one)."""
        if not urls:
            raise ValueError(f"{service} has no upstream URL")
        self.service = service
        names = [replica_name(service, u) for u in urls]
        # No call timeout of the breaker's own: a call includes streaming an upload up, which may
        # take long from a slow client; httpx's connect and read timeouts bound the replica's part.
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
                transport=transport,
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
