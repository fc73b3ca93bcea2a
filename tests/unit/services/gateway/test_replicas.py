"""Balancing and failover across an upstream's replicas (in-process replicas via httpx MockTransport)."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from ragplane.adapters.errors import CircuitOpen
from ragplane.kit.errors import BadGateway, GatewayTimeout
from ragplane.services.gateway import replicas as replicas_module
from ragplane.services.gateway.proxy import Proxy
from ragplane.services.gateway.replicas import REPLICA_FAILURES, UpstreamPool
from ragplane.telemetry.metrics import ServiceMetrics
from tests.unit.services.gateway.test_proxy import request

A, B = "http://a:8001", "http://b:8001"


class Replicas:
    """Two fake replicas; `down` ones refuse connections, `slow` ones time out."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.slow: set[str] = set()
        self.served: Counter[str] = Counter()

    def __call__(self, req: httpx.Request) -> httpx.Response:
        host = f"http://{req.url.host}:{req.url.port}"
        if host in self.down:
            raise httpx.ConnectError("connection refused", request=req)
        if host in self.slow:
            raise httpx.ReadTimeout("no answer", request=req)
        self.served[host] += 1
        body = f'{{"from": "{host}"}}'.encode()
        return httpx.Response(200, stream=httpx.ByteStream(body), headers={"content-length": str(len(body))})


def make(replicas: Replicas) -> tuple[Proxy, ServiceMetrics]:
    metrics = ServiceMetrics("gateway")
    pool = UpstreamPool(
        "query", [A, B], token=lambda: "t" * 40, timeout_s=5, metrics=metrics, transport=httpx.MockTransport(replicas)
    )
    return Proxy(upstreams={"query": pool}, metrics=metrics), metrics


def up(metrics: ServiceMetrics, host: str) -> float | None:
    return metrics.registry.get_sample_value(
        "ragplane_gateway_upstream_replica_up", {"upstream": "query", "replica": f"query@{host}"}
    )


def test_requests_are_balanced_round_robin() -> None:
    replicas = Replicas()
    proxy, _ = make(replicas)

    async def go() -> None:
        for _ in range(10):
            await proxy.forward(request(), "query")

    asyncio.run(go())
    assert replicas.served == {A: 5, B: 5}


def test_a_dead_replica_costs_no_get_and_is_taken_out_then_probed_back() -> None:
    replicas = Replicas()
    replicas.down.add(A)
    proxy, metrics = make(replicas)

    async def go() -> list[int]:
        return [(await proxy.forward(request(), "query")).status_code for _ in range(10)]

    assert asyncio.run(go()) == [200] * 10  # every GET that hit A was retried on B
    assert replicas.served == {B: 10}
    assert up(metrics, "a:8001") == 0 and up(metrics, "b:8001") == 1
    pool = proxy.upstreams["query"]
    assert pool.replicas[0].breaker.state == "open" and pool.replicas[0].breaker.failures >= REPLICA_FAILURES


def test_a_request_with_a_body_is_not_sent_twice() -> None:
    replicas = Replicas()
    replicas.down.add(A)
    proxy, _ = make(replicas)

    async def go() -> None:
        await proxy.forward(
            request("POST", "/api/v1/rag/query", body=b'{"query":"x"}', headers=[(b"content-length", b"13")]), "query"
        )

    with pytest.raises(BadGateway):
        asyncio.run(go())  # the round-robin's first pick is A: no second try with a consumed body
    assert replicas.served == {}


def test_a_slow_replica_gets_a_504_not_a_second_copy() -> None:
    replicas = Replicas()
    replicas.slow.add(A)
    proxy, _ = make(replicas)

    with pytest.raises(GatewayTimeout):
        asyncio.run(proxy.forward(request(), "query"))
    assert replicas.served == {}


def test_with_every_replica_out_the_answer_is_503_with_retry_after() -> None:
    replicas = Replicas()
    replicas.down.update({A, B})
    proxy, _ = make(replicas)

    async def go() -> None:
        for _ in range(REPLICA_FAILURES):
            with pytest.raises(BadGateway):
                await proxy.forward(request(), "query")
        with pytest.raises(CircuitOpen) as refused:
            await proxy.forward(request(), "query")
        assert refused.value.retry_after >= 1

    asyncio.run(go())


def test_a_replica_busy_with_its_probe_hands_requests_to_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replicas_module, "REPLICA_RECOVERY_S", 0.05)
    replicas = Replicas()
    replicas.down.add(A)
    proxy, _ = make(replicas)

    async def go() -> list[int]:
        for _ in range(2 * REPLICA_FAILURES):
            await proxy.forward(request(), "query")  # A's breaker opens
        await asyncio.sleep(0.1)  # recovery over: the next request to A is its one probe
        answers = await asyncio.gather(*(proxy.forward(request(), "query") for _ in range(6)))
        return [a.status_code for a in answers]

    assert asyncio.run(go()) == [200] * 6
