"""The vector store against its two engines: the real embedded one (Qdrant Edge) on disk, and
the server one over qdrant-client's in-process Qdrant, which answers the server's API."""

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from ragplane.adapters.server_store import ServerEngine
from ragplane.adapters.vectors import Point, VectorStore
from ragplane.errors import (
    CollectionExists,
    CollectionNotFound,
    DependencyRejected,
    DependencyUnavailable,
    VectorStoreLocked,
)
from ragplane.lexical import document_vector, query_vector
from ragplane.settings import QdrantSettings

# qdrant-client's in-process Qdrant says so when the server engine asks for payload indexes
pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")


@pytest.fixture(params=["embedded", "server"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], VectorStore]:
    def make() -> VectorStore:
        if request.param == "embedded":
            return VectorStore(path=tmp_path / "q")
        client = QdrantClient(location=":memory:")
        return VectorStore(engines=[ServerEngine("http://qdrant.test:6333", None, client=client)])

    return make


def unit(i: int, dim: int = 4) -> list[float]:
    return [1.0 if j == i else 0.0 for j in range(dim)]


def point(pid: int, doc: str, version: str, i: int) -> Point:
    return Point(
        id=f"00000000-0000-0000-0000-{pid:012d}",
        vector=unit(i),
        payload={"document_id": doc, "content_hash": version, "text": f"{doc}-{i}"},
    )


def test_lifecycle(make_store: Callable[[], VectorStore]) -> None:
    async def scenario() -> None:
        store = make_store()
        await store.open()
        assert (await store.ping())["mode"] == store.mode
        assert not await store.collection_exists("c")
        await store.create_collection("c", 4)
        assert await store.collection_exists("c")
        await store.upsert("c", [point(1, "a", "v1", 0), point(2, "a", "v1", 1), point(3, "b", "v1", 2)])
        hits = await store.search("c", unit(1), 2)
        assert hits[0].payload["text"] == "a-1" and hits[0].score == pytest.approx(1.0)
        assert await store.count("c") == 3
        # a new version of document a: its old points go, b stays
        await store.upsert("c", [point(4, "a", "v2", 3)])
        await store.delete_document("c", "a", keep_version="v2")
        assert await store.count("c") == 2
        assert {h.payload["text"] for h in await store.search("c", unit(3), 5)} == {"a-3", "b-2"}
        assert store.mode == "server" or (await store.disk_bytes("c") or 0) > 0
        await store.delete_document("c", "b")
        assert await store.count("c") == 1
        assert await store.delete_collection("c")
        assert not await store.delete_collection("c")
        assert not await store.collection_exists("c")
        await store.close()

    asyncio.run(scenario())


def test_missing_collections_and_bad_vectors(make_store: Callable[[], VectorStore]) -> None:
    async def scenario() -> None:
        store = make_store()
        await store.open()
        with pytest.raises(CollectionNotFound):
            await store.search("nope", unit(0), 1)
        with pytest.raises(CollectionNotFound):
            await store.count("nope")
        await store.close()

    asyncio.run(scenario())


def test_a_second_client_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        first = VectorStore(path=tmp_path / "q")
        await first.open()
        second = VectorStore(path=tmp_path / "q")
        with pytest.raises(VectorStoreLocked, match="in use by another ragplane process"):
            await second.open()
        await second.close()
        await first.close()

    asyncio.run(scenario())


def test_calls_before_open_fail_clearly() -> None:
    async def scenario() -> None:
        store = VectorStore(qdrant=QdrantSettings(urls=("http://127.0.0.1:9",)))
        with pytest.raises(DependencyUnavailable, match="not open"):
            await store.count("c")
        await store.close()

    asyncio.run(scenario())


def test_an_unreachable_server_is_unavailable() -> None:
    async def scenario() -> None:
        store = VectorStore(qdrant=QdrantSettings(urls=("http://127.0.0.1:9",)))  # discard port: nothing listens
        await store.open()
        assert store.describe() == {"mode": "server", "location": "http://127.0.0.1:9"}
        assert await store.disk_bytes("c") is None
        with pytest.raises(DependencyUnavailable, match="qdrant"):
            await store.ping()
        await store.close()

    asyncio.run(scenario())


def test_exactly_one_location_is_required(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        VectorStore()
    with pytest.raises(ValueError):
        VectorStore(path=tmp_path, qdrant=QdrantSettings(urls=("http://x",)))


def test_existing_collections_and_wrong_dimensions(make_store: Callable[[], VectorStore]) -> None:
    async def scenario() -> None:
        store = make_store()
        await store.open()
        await store.create_collection("c", 4)
        with pytest.raises(CollectionExists):
            await store.create_collection("c", 4)
        with pytest.raises(DependencyRejected, match="details in the service log"):
            await store.search("c", [1.0, 0.0], 1)
        await store.close()

    asyncio.run(scenario())


def test_payload_pages_read_every_point_a_page_at_a_time(make_store: Callable[[], VectorStore]) -> None:
    async def scenario() -> None:
        store = make_store()
        await store.open()
        await store.create_collection("c", 4)
        points = [point(n, "a" if n < 3 else "b", "v1", n % 4) for n in range(1, 6)]
        await store.upsert("c", points)

        pages = [page async for page in store.payload_pages("c", page=2)]

        assert [len(p) for p in pages] == [2, 2, 1]
        assert [pid for p in pages for pid, _ in p] == [p.id for p in points]  # ascending ids, each once
        assert dict(pid_payload for p in pages for pid_payload in p) == {p.id: p.payload for p in points}
        assert [page async for page in store.payload_pages("c")] == [[(p.id, p.payload) for p in points]]
        only_b = [page async for page in store.payload_pages("c", match={"document_id": "b"}, fields=["text"])]
        assert only_b == [[(p.id, {"text": p.payload["text"]}) for p in points[2:]]]
        assert [page async for page in store.payload_pages("c", match={"document_id": "z"})] == []
        await store.create_collection("empty", 4)
        assert [page async for page in store.payload_pages("empty")] == []
        with pytest.raises(CollectionNotFound):
            await anext(store.payload_pages("nope"))
        with pytest.raises(ValueError):
            await anext(store.payload_pages("c", page=0))
        await store.close()

    asyncio.run(scenario())


class _OpenGuard:
    """A breaker that is always closed: the view's metrics are what is under test."""

    name = "qdrant"

    def check(self) -> None:
        pass

    async def call(self, fn):
        return await fn()


def _node_samples(metrics, node: str) -> dict[str, float]:
    sample = metrics.registry.get_sample_value
    labels = {"service": metrics.service, "node": node}
    return {
        "ok": sample("ragplane_qdrant_requests_total", {**labels, "result": "ok"}),
        "error": sample("ragplane_qdrant_requests_total", {**labels, "result": "error"}),
        "calls": sample("ragplane_qdrant_request_duration_seconds_count", labels),
        "up": sample("ragplane_qdrant_node_up", labels),
    }


def test_a_guarded_view_counts_calls_per_node(tmp_path: Path) -> None:
    from ragplane.telemetry.metrics import ServiceMetrics

    async def scenario() -> None:
        metrics = ServiceMetrics("query")
        store = VectorStore(path=tmp_path / "q")
        await store.open()
        view = store.guarded(_OpenGuard(), metrics)
        assert _node_samples(metrics, "local")["up"] is None  # unknown until the first call, not "down"
        await view.create_collection("c", 4)
        with pytest.raises(CollectionNotFound):  # an answer: the node is up
            await view.count("missing")
        await store.count("c")  # the shared store itself records nothing
        await store.close()
        assert _node_samples(metrics, "local") == {"ok": 2, "error": 0, "calls": 2, "up": 1}

        down = ServiceMetrics("query")
        server = VectorStore(qdrant=QdrantSettings(urls=("http://127.0.0.1:9",)))
        await server.open()
        with pytest.raises(DependencyUnavailable):
            await server.guarded(_OpenGuard(), down).ping()
        await server.close()
        assert _node_samples(down, "127.0.0.1:9") == {"ok": 0, "error": 1, "calls": 1, "up": 0}

    asyncio.run(scenario())


def test_a_call_cut_off_by_a_timeout_counts_as_an_error(tmp_path: Path) -> None:
    from ragplane.telemetry.metrics import ServiceMetrics

    class _TimeoutGuard(_OpenGuard):
        async def call(self, fn):
            async with asyncio.timeout(0.01):
                return await fn()

    async def scenario() -> None:
        metrics = ServiceMetrics("query")
        store = VectorStore(path=tmp_path / "q")
        await store.open()
        view = store.guarded(_TimeoutGuard(), metrics)
        for _ in range(store._shared.engine.workers):  # every thread is busy: the call hangs
            store._shared.executor.submit(time.sleep, 0.3)
        with pytest.raises(TimeoutError):
            await view.count("c")
        await store.close()
        assert _node_samples(metrics, "local") == {"ok": 0, "error": 1, "calls": 1, "up": 0}

    asyncio.run(scenario())


def test_hybrid_search_fuses_the_dense_and_the_sparse_ranking(make_store: Callable[[], VectorStore]) -> None:
    texts = ["the breaker opens after failures", "stir in butter: the mantecatura", "backups are kept a week"]

    async def scenario() -> None:
        store = make_store()
        await store.open()
        await store.create_collection("c", 4)
        await store.upsert(
            "c",
            [
                Point(point(i + 1, "d", "v1", 0).id, unit(i), {"text": t}, document_vector(t))
                for i, t in enumerate(texts)
            ],
        )
        await store.version("c")  # reads the collection's layout, as every search does first
        # The embedding points at the first text; the words only the second has decide the fusion's top.
        hits = await store.search("c", unit(0), 3, sparse=query_vector("what is mantecatura"))
        assert [h.payload["text"] for h in hits][:2] == [texts[1], texts[0]]
        assert [h.payload["text"] for h in await store.search("c", unit(0), 1)] == [texts[0]]  # dense only
        # words the collection has never seen leave the dense ranking alone
        assert (await store.search("c", unit(0), 1, sparse=query_vector("kubernetes")))[0].payload["text"] == texts[0]
        await store.close()
        if store.mode == "server":
            return
        reopened = make_store()  # sparse vectors and their IDF survive a restart
        await reopened.open()
        hits = await reopened.search("c", unit(0), 1, sparse=query_vector("mantecatura"))
        assert hits[0].payload["text"] == texts[1]
        await reopened.close()

    asyncio.run(scenario())


def test_point_pages_read_every_point_whole(make_store: Callable[[], VectorStore]) -> None:
    """What a backup reads: ids, dense and sparse vectors and payloads, a page at a time, so
    that writing them back gives the same collection."""

    async def scenario() -> None:
        store = make_store()
        await store.open()
        await store.create_collection("c", 4)
        written = [
            Point(
                id=f"00000000-0000-0000-0000-{n:012d}",
                vector=unit(n % 4),
                payload={"document_id": f"d{n}", "text": f"circuit breaker {n}", "chunk_index": n},
                sparse=document_vector(f"circuit breaker {n}"),
            )
            for n in range(7)
        ]
        await store.upsert("c", written)
        pages = [page async for page in store.point_pages("c", page=3)]
        assert [len(p) for p in pages] == [3, 3, 1]
        read = {p.id: p for page in pages for p in page}
        assert set(read) == {p.id for p in written}
        for original in written:
            back = read[original.id]
            assert back.payload == original.payload
            assert back.vector == pytest.approx(original.vector)  # unit vectors: normalising keeps them
            assert back.sparse is not None and original.sparse is not None
            assert back.sparse.indices == original.sparse.indices
            assert back.sparse.values == pytest.approx(original.sparse.values)
        # written back into a new collection, every point scores the same for a hybrid query
        await store.create_collection("copy", 4)
        await store.upsert("copy", [p for page in pages for p in page])
        query = query_vector("circuit breaker 5")

        async def scores(name: str) -> dict[str, float]:
            return {h.id: round(h.score, 4) for h in await store.search(name, unit(1), 7, sparse=query)}

        assert await scores("copy") == await scores("c")
        with pytest.raises(CollectionNotFound):
            [page async for page in store.point_pages("missing")]
        await store.close()

    asyncio.run(scenario())


def test_a_server_node_is_named_by_host_and_port_never_its_credentials() -> None:
    assert ServerEngine("https://key:secret@q1.example:6333", None).node == "q1.example:6333"
    assert ServerEngine("https://q2.example", None).node == "q2.example:443"
    assert ServerEngine("http://q3", None).node == "q3:80"
