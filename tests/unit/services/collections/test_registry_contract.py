"""What every registry backend must do alike: the JSON file and PostgreSQL, same tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ragplane.errors import CollectionExists, RegistryError
from ragplane.services.collections.models import ChunkRecord, CollectionRecord, DocumentRecord, JobRecord, JobState
from ragplane.services.collections.registry import Registry
from ragplane.services.collections.registry.json_file import JsonRegistry
from ragplane.services.collections.registry.postgres import PostgresRegistry

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["json", "postgres"])
async def registry(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Registry]:
    if request.param == "json":
        backend: Registry = JsonRegistry(tmp_path / "collections.json")
    else:
        backend = PostgresRegistry(request.getfixturevalue("database_url"), pool_size=2, timeout_s=5)
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()


def doc(doc_id: str, content_hash: str = "h", **extra: object) -> DocumentRecord:
    return DocumentRecord(id=doc_id, title=doc_id.upper(), content_hash=content_hash, chunks=2, bytes=10, **extra)  # type: ignore[arg-type]


async def test_collections_and_documents_round_trip(registry: Registry) -> None:
    record = CollectionRecord("a", "local:m", 384, "first", 500, 50, created_at=1_700_000_000.125)
    await registry.add_collection(record)
    await registry.put_documents("a", [doc("x", source="x.md", metadata={"lang": "en"}), doc("y")])

    assert await registry.get_collection("a") == record
    assert await registry.list_collections() == [record]
    docs = await registry.documents("a")
    assert set(docs) == {"x", "y"}
    assert docs["x"].metadata == {"lang": "en"} and docs["x"].source == "x.md"
    assert await registry.get_collection("missing") is None


async def test_documents_are_replaced_not_duplicated(registry: Registry) -> None:
    await registry.add_collection(CollectionRecord("a", "m", 3))
    await registry.put_documents("a", [doc("x", "h1")])
    await registry.put_documents("a", [doc("x", "h2")])

    docs = await registry.documents("a")
    assert list(docs) == ["x"] and docs["x"].content_hash == "h2"


async def test_a_duplicate_collection_is_refused(registry: Registry) -> None:
    await registry.add_collection(CollectionRecord("a", "m", 3))
    with pytest.raises(CollectionExists):
        await registry.add_collection(CollectionRecord("a", "m", 3))


async def test_removing_a_collection_removes_its_documents(registry: Registry) -> None:
    await registry.add_collection(CollectionRecord("a", "m", 3))
    await registry.put_documents("a", [doc("x")])

    removed = await registry.remove_collection("a")

    assert removed is not None and removed.name == "a"
    assert await registry.remove_collection("a") is None
    assert await registry.documents("a") == {}
    with pytest.raises(RegistryError, match="was deleted"):
        await registry.put_documents("a", [doc("x")])


async def test_removing_documents_removes_only_those_and_their_chunk_rows(registry: Registry) -> None:
    await registry.add_collection(CollectionRecord("a", "m", 3))
    await registry.add_collection(CollectionRecord("b", "m", 3))
    rows = {d: [ChunkRecord(d, i, str(uuid.uuid4()), "", "text") for i in range(2)] for d in ("x/1.md", "y")}
    await registry.put_documents("a", [doc("x/1.md"), doc("y")], rows)
    await registry.put_documents("b", [doc("x/1.md")])

    assert await registry.remove_documents("a", ["x/1.md", "missing"]) == ["x/1.md"]

    assert list(await registry.documents("a")) == ["y"]
    assert list(await registry.documents("b")) == ["x/1.md"]
    assert await registry.remove_documents("a", ["x/1.md"]) == []
    if isinstance(registry, PostgresRegistry):
        assert await registry.chunk_counts("a") == {"y": 2}


async def test_jobs_are_listed_newest_first_and_filtered(registry: Registry) -> None:
    now = round(time.time(), 3)  # as models.now() records it
    jobs = [
        JobRecord(id="j1", collection="a", state=JobState.COMPLETED, created_at=now - 30),
        JobRecord(id="j2", collection="b", state=JobState.FAILED, error="boom", created_at=now - 20),
        JobRecord(id="j3", collection="a", state=JobState.RUNNING, created_at=now - 10, started_at=now - 5),
        JobRecord(id="old", collection="a", state=JobState.COMPLETED, created_at=now - 2 * 86400),
        JobRecord(id="j4", collection="b", state=JobState.FAILED, sweep_pending=True, created_at=now - 3 * 86400),
    ]
    for job in jobs:
        await registry.save_job(job)
    done = JobRecord(id="j1", collection="a", state=JobState.COMPLETED, chunks=7, chunks_total=7, created_at=now - 30)
    await registry.save_job(done)

    assert [j.id for j in await registry.list_jobs()] == ["j3", "j2", "j1", "old", "j4"]
    assert [j.id for j in await registry.list_jobs(collection="a", limit=2)] == ["j3", "j1"]
    assert [j.id for j in await registry.list_jobs(state="failed")] == ["j2", "j4"]
    assert (await registry.get_job("j1")) == done
    assert (await registry.get_job("j2")) == jobs[1]
    assert await registry.get_job("nope") is None
    assert sorted(j.id for j in await registry.jobs_to_recover()) == ["j3", "j4"]  # j4's points are still to sweep
    assert (await registry.get_job("j4")).sweep_pending
    assert await registry.job_counts() == {"completed": 1, "failed": 1, "running": 1}


async def test_a_job_read_back_and_saved_again_stays_one_job(registry: Registry) -> None:
    await registry.save_job(JobRecord(id="j", collection="a", created_at=time.time()))  # sub-millisecond time
    job = await registry.get_job("j")
    assert job is not None

    await registry.save_job(JobRecord(**{**job.to_json(), "state": JobState.FAILED}))

    assert [(j.id, j.state) for j in await registry.list_jobs()] == [("j", "failed")]
