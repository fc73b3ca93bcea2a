"""The Qdrant node pool against three stand-in Qdrant nodes, each a separate process over its own
real engine (`tests/fakes/qdrant_node.py`): a node killed, or hung, under load loses no request."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ragplane.adapters.vectors import Point, VectorStore
from ragplane.errors import CollectionNotFound, DependencyUnavailable
from ragplane.settings import QdrantSettings
from ragplane.telemetry.metrics import ServiceMetrics
from tests.fakes.qdrant_node import PEER_HEADER as PEER
from tests.qdrant_cluster import QdrantCluster
from tests.running import RunningStack, ingest, until

QUESTIONS = ("grpc ports", "rate limits", "backups", "replicas", "tokens", "alerts", "latency", "caches")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[QdrantCluster]:
    with QdrantCluster(tmp_path / "qdrant") as running:
        yield running


def points(n: int) -> list[Point]:
    return [
        Point(f"00000000-0000-0000-0000-{i:012d}", [1.0 if j == i % 4 else 0.0 for j in range(4)], {"document_id": "d"})
        for i in range(n)
    ]


def by_node(exposition: str, name: str) -> dict[str, float]:
    """`name`'s samples by node, from metrics as Prometheus reads them."""
    return {
        sample.labels["node"]: sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name
    }


def samples(metrics: ServiceMetrics, name: str) -> dict[str, float]:
    """`name`'s samples by node, from the service's registry."""
    return by_node(generate_latest(metrics.registry).decode(), name)


def test_a_failed_read_moves_to_another_node_and_the_node_is_skipped(cluster: QdrantCluster) -> None:
    async def scenario() -> None:
        # Probes every minute: here calls alone find the dead node.
        store = VectorStore(qdrant=QdrantSettings(urls=tuple(cluster.urls), probe_interval_s=60))
        metrics = ServiceMetrics("query")
        view = store.guarded(_Open(), metrics)
        await store.open()
        await view.create_collection("c", 4)
        await view.upsert("c", points(8))
        cluster.kill(1)
        counts = [await view.count("c") for _ in range(6)]  # round-robin: one of them lands on node 1
        assert counts == [8] * 6
        dead = cluster.node(1)
        assert samples(metrics, "ragplane_qdrant_failovers_total")[dead] == 1
        assert samples(metrics, "ragplane_qdrant_node_up")[dead] == 0
        assert store.describe()["nodes"][dead] == "down"
        assert store.describe()["status"] == "degraded (1 of 3 nodes down)"
        assert (await store.ping())["collections"] == 1
        await store.close()

    asyncio.run(scenario())


def test_a_node_is_marked_down_by_its_probe_and_up_again(cluster: QdrantCluster, measured) -> None:
    async def scenario() -> None:
        store = VectorStore(qdrant=QdrantSettings(urls=tuple(cluster.urls), probe_interval_s=0.5, timeout_s=2))
        metrics = ServiceMetrics("query")
        view = store.guarded(_Open(), metrics)
        await store.open()
        await view.create_collection("c", 4)
        await view.upsert("c", points(4))
        hung = cluster.node(2)
        cluster.pause(2)  # accepts connections, answers nothing
        paused = time.monotonic()
        try:
            await asyncio.to_thread(until, lambda: samples(metrics, "ragplane_qdrant_node_up").get(hung) == 0, 5)
            down_s = time.monotonic() - paused
            assert [await view.count("c") for _ in range(4)] == [4] * 4  # none waits on the hung node
        finally:
            cluster.resume(2)
        resumed = time.monotonic()
        await asyncio.to_thread(until, lambda: samples(metrics, "ragplane_qdrant_node_up").get(hung) == 1, 5)
        measured(
            f"qdrant node hung (SIGSTOP), probes every 0.5 s: down in {down_s:.2f} s, "
            f"back up {time.monotonic() - resumed:.2f} s after SIGCONT"
        )
        assert store.describe()["nodes"] == {cluster.node(i): "up" for i in range(3)}
        await store.close()

    asyncio.run(scenario())


def test_a_collection_one_node_has_not_applied_yet_is_found_on_the_others(cluster: QdrantCluster) -> None:
    """Raft applies a new collection node by node: a 404 from one node is checked on another."""

    async def scenario() -> None:
        async with httpx.AsyncClient() as client:
            for url in cluster.urls[:2]:  # nodes 0 and 1 have applied it, node 2 not yet
                made = await client.put(f"{url}/collections/late", json={"vectors": {"size": 4}}, headers={PEER: "1"})
                assert made.status_code == 200, made.text
        store = VectorStore(qdrant=QdrantSettings(urls=tuple(cluster.urls)))
        await store.open()
        assert [await store.count("late") for _ in range(6)] == [0] * 6
        with pytest.raises(CollectionNotFound):
            await store.count("never-made")
        await store.close()

    asyncio.run(scenario())


def test_writes_need_the_write_consistency_reads_need_one_node(cluster: QdrantCluster) -> None:
    async def scenario() -> None:
        store = VectorStore(qdrant=QdrantSettings(urls=tuple(cluster.urls)))
        await store.open()
        await store.create_collection("c", 4)
        async with httpx.AsyncClient() as client:
            info = (await client.get(f"{cluster.urls[0]}/collections/c")).json()["result"]["config"]["params"]
        assert (info["replication_factor"], info["write_consistency_factor"]) == (3, 2)
        cluster.kill(0)
        await store.upsert("c", points(4))  # two copies of three: acknowledged
        cluster.kill(1)
        with pytest.raises(DependencyUnavailable):
            await store.upsert("c", points(8))  # one copy: refused, as the cluster would
        assert await store.count("c") >= 4  # the last node still answers reads
        assert store.describe()["nodes"][cluster.node(2)] == "up"
        await store.close()

    asyncio.run(scenario())


def test_a_node_killed_under_steady_load_loses_no_request(cluster: QdrantCluster, make_settings, measured) -> None:
    """Seed 2.1: one of three nodes killed while searches run back to back through the gateway —
    not one fails, and the node is marked down within 5 s; a document ingested afterwards is found."""
    stack = RunningStack(make_settings(QDRANT_URLS=",".join(cluster.urls))).start()
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        with stack.client() as client:
            while not stop.is_set():
                question = QUESTIONS[len(statuses) % len(QUESTIONS)] + f" {len(statuses)}"
                response = client.get("/api/v1/rag/search", params={"query": question, "collection": "ha"})
                statuses.append(response.status_code)

    try:
        with stack.client() as client:
            ingest(client, "ha", [{"id": f"d{i}", "text": f"Notes about {q}."} for i, q in enumerate(QUESTIONS)])
        loader = threading.Thread(target=load)
        loader.start()
        until(lambda: len(statuses) >= 50, timeout=60)
        cluster.kill(1)
        killed_at = time.monotonic()
        until(lambda: node_up(stack, cluster.node(1)) == 0, timeout=5)
        marked_down_s = time.monotonic() - killed_at
        before = len(statuses)
        until(lambda: len(statuses) >= before + 100, timeout=60)
        with stack.client() as client:
            job = ingest(client, "ha", [{"id": "new", "text": "The failover drill passed."}], create=False)
            assert job["state"] == "completed", job
            found = client.get("/api/v1/rag/search", params={"query": "failover drill", "collection": "ha"}).json()
            assert found["results"][0]["document_id"] == "new"
        stop.set()
        loader.join(30)
        assert statuses and set(statuses) == {200}, f"{len(statuses) - statuses.count(200)} failed: {set(statuses)}"
        assert marked_down_s < 5
        measured(f"qdrant node killed under load: {len(statuses)} searches, 0 failed, down in {marked_down_s:.2f} s")
        with stack.client("query") as anyone, stack.client("query", token=True) as operator:
            ready = anyone.get("/health/ready").json()
            public = anyone.get("/health").text
            nodes = operator.get("/health").json()["dependencies"]["qdrant"]["nodes"]
        assert ready["degraded"]["qdrant"] == "degraded (1 of 3 nodes down)"
        assert cluster.node(0) not in public  # addresses are for those holding the service token
        assert nodes == {cluster.node(0): "up", cluster.node(1): "down", cluster.node(2): "up"}
    finally:
        stop.set()
        stack.stop()


def node_up(stack: RunningStack, node: str) -> float | None:
    with stack.client("query") as client:
        return by_node(client.get("/metrics").text, "ragplane_qdrant_node_up").get(node)


class _Open:
    """A breaker that lets every call through: what is under test is the pool."""

    name = "qdrant"

    def check(self) -> None:
        pass

    async def call(self, fn):  # type: ignore[no-untyped-def]
        return await fn()
