"""Balancing and failover across an upstream's replicas (real replicas on free ports, tests/upstreams.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from ragplane.errors import BadGateway, CircuitOpen, GatewayTimeout
from ragplane.services.gateway import replicas as replicas_module
from ragplane.services.gateway.proxy import Proxy
from ragplane.services.gateway.replicas import REPLICA_FAILURES, UpstreamPool
from ragplane.telemetry.metrics import ServiceMetrics
from tests.unit.services.gateway.test_proxy import request
from tests.upstreams import Handler, never_answers, refusing, serving

A, B = "a", "b"


class Replicas:
    """Two replicas, A and B: `down` ones refuse connections, `slow` ones never answer, the others
    answer with their name; `served` counts the answers, `url` names each replica's address."""

    def __init__(self, *, down: set[str] | None = None, slow: set[str] | None = None) -> None:
        self.down, self.slow = down or set(), slow or set()
        self.served: Counter[str] = Counter()
        self.url: dict[str, str] = {}

    def answering(self, name: str) -> Handler:
        async def handler(request: web.BaseRequest) -> web.StreamResponse:
            if name in self.slow:
                return await never_answers(request)
            self.served[name] += 1
            return web.json_response({"from": name})

        return handler

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[tuple[Proxy, ServiceMetrics]]:
        with contextlib.ExitStack() as ports:
            refused = {name: ports.enter_context(refusing()) for name in self.down}
            async with serving(self.answering(A), self.answering(B)) as upstreams:
                for name, upstream in zip((A, B), upstreams, strict=True):
                    self.url[name] = refused.get(name, upstream.url)
                metrics = ServiceMetrics("gateway")
                pool = UpstreamPool(
                    "query", [self.url[A], self.url[B]], token=lambda: "t" * 40, timeout_s=0.5, metrics=metrics
                )
                try:
                    yield Proxy(upstreams={"query": pool}, metrics=metrics), metrics
                finally:
                    await pool.close()


def up(metrics: ServiceMetrics, replicas: Replicas, name: str) -> float | None:
    replica = f"query@{replicas.url[name].removeprefix('http://')}"
    return metrics.registry.get_sample_value(
        "ragplane_gateway_upstream_replica_up", {"upstream": "query", "replica": replica}
    )


def test_requests_are_balanced_round_robin() -> None:
    replicas = Replicas()

    async def go() -> None:
        async with replicas.running() as (proxy, _):
            for _ in range(10):
                await proxy.forward(request(), "query")

    asyncio.run(go())
    assert replicas.served == {A: 5, B: 5}


def test_a_dead_replica_costs_no_get_and_is_taken_out() -> None:
    replicas = Replicas(down={A})

    async def go() -> list[int]:
        async with replicas.running() as (proxy, metrics):
            statuses = [(await proxy.forward(request(), "query")).status_code for _ in range(10)]
            assert up(metrics, replicas, A) == 0 and up(metrics, replicas, B) == 1
            first = proxy.upstreams["query"].replicas[0]
            assert first.breaker.state == "open" and first.breaker.failures >= REPLICA_FAILURES
            return statuses

    assert asyncio.run(go()) == [200] * 10  # every GET that hit A was retried on B
    assert replicas.served == {B: 10}


def test_a_request_with_a_body_is_not_sent_twice() -> None:
    replicas = Replicas(down={A})

    async def go() -> None:
        async with replicas.running() as (proxy, _):
            body = request("POST", "/api/v1/rag/query", body=b'{"query":"x"}', headers=[(b"content-length", b"13")])
            with pytest.raises(BadGateway):
                await proxy.forward(body, "query")  # the round-robin's first pick is A: no second try

    asyncio.run(go())
    assert replicas.served == {}


def test_a_slow_replica_gets_a_504_not_a_second_copy() -> None:
    replicas = Replicas(slow={A})

    async def go() -> None:
        async with replicas.running() as (proxy, _):
            with pytest.raises(GatewayTimeout):
                await proxy.forward(request(), "query")

    asyncio.run(go())
    assert replicas.served == {}


def test_with_every_replica_out_the_answer_is_503_with_retry_after() -> None:
    replicas = Replicas(down={A, B})

    async def go() -> None:
        async with replicas.running() as (proxy, _):
            for _ in range(REPLICA_FAILURES):
                with pytest.raises(BadGateway):
                    await proxy.forward(request(), "query")
            with pytest.raises(CircuitOpen) as refused:
                await proxy.forward(request(), "query")
            assert refused.value.retry_after >= 1

    asyncio.run(go())


def test_a_replica_busy_with_its_probe_hands_requests_to_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replicas_module, "REPLICA_RECOVERY_S", 0.05)
    replicas = Replicas(down={A})

    async def go() -> list[int]:
        async with replicas.running() as (proxy, _):
            for _ in range(2 * REPLICA_FAILURES):
                await proxy.forward(request(), "query")  # A's breaker opens
            await asyncio.sleep(0.1)  # recovery over: the next request to A is its one probe
            answers = await asyncio.gather(*(proxy.forward(request(), "query") for _ in range(6)))
            return [a.status_code for a in answers]

    assert asyncio.run(go()) == [200] * 6
