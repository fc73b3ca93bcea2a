"""What the embedded engine adds to Qdrant Edge: layouts that survive restarts, builds that are
whole or absent, and errors in ragplane's terms."""

import asyncio
from pathlib import Path

from ragplane.adapters.embedded_store import SHARDS, EmbeddedEngine
from ragplane.adapters.vectors import Point, VectorStore
from ragplane.errors import DependencyRejected, DependencyUnavailable


def test_versions_and_collections_survive_a_restart_and_interrupted_builds_do_not(tmp_path: Path) -> None:
    async def first() -> str:
        store = VectorStore(path=tmp_path)
        await store.open()
        await store.create_collection("kept", 4)
        await store.upsert("kept", [Point("00000000-0000-0000-0000-000000000001", [1.0, 0, 0, 0], {"text": "a"})])
        before = await store.version("kept")
        await store.touch("kept")
        assert await store.version("kept") != before
        await store.create_collection("dropped", 4)
        assert await store.delete_collection("dropped")
        await store.close()
        return (tmp_path / SHARDS / "kept" / "ragplane.json").read_text()

    layout = asyncio.run(first())
    (tmp_path / SHARDS / ".half.building" / "shard").mkdir(parents=True)  # a crash in the middle of a create

    async def second() -> None:
        store = VectorStore(path=tmp_path)
        await store.open()
        assert (await store.ping())["collections"] == 1
        assert await store.count("kept") == 1 and not await store.collection_exists("dropped")
        assert f'"version": "{await store.version("kept")}"' in layout
        await store.close()

    asyncio.run(second())
    assert sorted(p.name for p in (tmp_path / SHARDS).iterdir()) == ["kept"]


def test_engine_failures_and_refusals_are_told_apart(tmp_path: Path) -> None:
    engine = EmbeddedEngine(tmp_path)
    broken = engine.translate(Exception("Service runtime error: No space left on device"), "c")
    refused = engine.translate(Exception("Vector dimension error: expected dim: 4, got 2"), "c")
    assert isinstance(broken, DependencyUnavailable) and isinstance(refused, DependencyRejected)
