"""Data written by qdrant-client's local mode (earlier releases) opens in the embedded engine."""

import asyncio
from pathlib import Path

import pytest
from qdrant_client import QdrantClient, models

from ragplane.adapters import store_upgrade
from ragplane.adapters.server_store import VERSION_KEY
from ragplane.adapters.store_engine import SPARSE
from ragplane.adapters.vectors import VectorStore
from ragplane.errors import VectorStoreLocked
from ragplane.lexical import document_vector, query_vector

TEXTS = ["the breaker opens after failures", "stir in butter: the mantecatura", "backups are kept a week"]


def unit(i: int, dim: int = 4) -> list[float]:
    return [1.0 if j == i else 0.0 for j in range(dim)]


def pid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


def write_local_mode(path: Path, dense_points: int = 1) -> None:
    """What an earlier release left: a hybrid collection with a content version, a dense-only one
    made before sparse vectors existed, and an empty one."""
    client = QdrantClient(path=str(path))
    client.create_collection(
        "hybrid",
        vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE),
        sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        metadata={VERSION_KEY: "v-before"},
    )
    structs = []
    for n, text in enumerate(TEXTS):
        sparse = document_vector(text)
        vector = {"": unit(n), SPARSE: models.SparseVector(indices=list(sparse.indices), values=list(sparse.values))}
        structs.append(models.PointStruct(id=pid(n + 1), vector=vector, payload={"text": text, "document_id": f"d{n}"}))
    client.upsert("hybrid", structs)
    client.create_collection("dense", vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
    client.upsert(
        "dense",
        [models.PointStruct(id=pid(n + 1), vector=unit(n % 4), payload={"text": f"a{n}"}) for n in range(dense_points)],
    )
    client.create_collection("empty", vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
    client.close()


def test_local_mode_data_is_copied_counted_and_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "q"
    write_local_mode(path, dense_points=700)  # more than one page

    async def scenario() -> None:
        store = VectorStore(path=path)
        await store.open()
        assert [await store.count(name) for name in ("hybrid", "dense", "empty")] == [3, 700, 0]
        assert await store.version("hybrid") == "v-before"  # caches keyed by it stay valid
        assert len(await store.version("dense")) == 32  # none before: a new one
        # sparse vectors came along: the words decide the fusion's top against the embedding
        hits = await store.search("hybrid", unit(0), 2, sparse=query_vector("what is mantecatura"))
        assert hits[0].payload["text"] == TEXTS[1]
        # the dense-only collection stays dense-only: cosine scores, the sparse query ignored
        [hit] = await store.search("dense", unit(1), 1, sparse=query_vector("mantecatura"))
        assert hit.score == pytest.approx(1.0) and int(hit.payload["text"][1:]) % 4 == 1
        await store.upsert("dense", [])  # and it still takes writes
        await store.close()

    asyncio.run(scenario())
    [backup] = path.glob("local-mode-backup-*")
    assert (backup / "collection" / "hybrid").is_dir() and not (path / "collection").exists()
    assert store_upgrade.legacy_collections(path) == []

    async def reopened() -> None:  # nothing is copied twice
        store = VectorStore(path=path)
        await store.open()
        assert await store.count("dense") == 700
        await store.close()

    asyncio.run(reopened())


def test_a_copy_that_does_not_count_up_stops_the_open_and_touches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "q"
    write_local_mode(path)
    real = store_upgrade._point
    monkeypatch.setattr(store_upgrade, "_point", lambda _id, vector, payload: real(pid(9), vector, payload))

    async def scenario() -> None:
        store = VectorStore(path=path)
        with pytest.raises(store_upgrade.UpgradeFailed, match="1 of 3 points copied"):
            await store.open()
        await store.close()

    asyncio.run(scenario())
    assert store_upgrade.legacy_collections(path) == ["dense", "empty", "hybrid"]
    assert not list(path.glob("local-mode-backup-*"))
    monkeypatch.undo()  # the next start copies it all, over what the failed one left

    async def retried() -> None:
        store = VectorStore(path=path)
        await store.open()
        assert await store.count("hybrid") == 3
        await store.close()

    asyncio.run(retried())


def test_a_running_older_release_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "q"
    write_local_mode(path)
    older = QdrantClient(path=str(path))  # holds local mode's lock, as a running release would

    async def scenario() -> None:
        store = VectorStore(path=path)
        with pytest.raises(VectorStoreLocked, match="earlier ragplane release"):
            await store.open()
        await store.close()

    try:
        asyncio.run(scenario())
    finally:
        older.close()
    assert store_upgrade.legacy_collections(path) == ["dense", "empty", "hybrid"]
