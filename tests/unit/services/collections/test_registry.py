import asyncio
import json
import os
from pathlib import Path

import pytest

from ragplane.errors import CollectionExists, RegistryError
from ragplane.services.collections.models import CollectionRecord, DocumentRecord, JobRecord, JobState
from ragplane.services.collections.registry import KEEP_FINISHED_JOBS
from ragplane.services.collections.registry.json_file import JsonRegistry, write_atomically


def run(coro):
    return asyncio.run(coro)


def doc(doc_id: str, content_hash: str = "h") -> DocumentRecord:
    return DocumentRecord(id=doc_id, title=doc_id, content_hash=content_hash, chunks=2, bytes=10)


async def opened(path: Path) -> JsonRegistry:
    registry = JsonRegistry(path)
    await registry.open()
    return registry


def test_changes_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "collections.json"

    async def scenario() -> None:
        r = await opened(path)
        await r.add_collection(CollectionRecord("a", "local:m", 384, "first"))
        await r.put_documents("a", [doc("x"), doc("y")])
        await r.save_job(JobRecord(id="j1", collection="a", state=JobState.RUNNING))
        again = await opened(path)
        assert [c.name for c in await again.list_collections()] == ["a"]
        assert (await again.get_collection("a")).description == "first"
        assert set(await again.documents("a")) == {"x", "y"}
        assert [j.id for j in await again.jobs_to_recover()] == ["j1"]
        assert await again.remove_collection("a") is not None
        assert await again.remove_collection("a") is None
        assert await (await opened(path)).list_collections() == []

    run(scenario())
    assert json.loads(path.read_text())["version"] == 1


def test_duplicate_collection_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        r = await opened(tmp_path / "r.json")
        await r.add_collection(CollectionRecord("a", "m", 3))
        with pytest.raises(CollectionExists):
            await r.add_collection(CollectionRecord("a", "m", 3))

    run(scenario())


def test_documents_of_a_deleted_collection_are_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        r = await opened(tmp_path / "r.json")
        with pytest.raises(RegistryError, match="deleted"):
            await r.put_documents("gone", [doc("x")])

    run(scenario())


def test_a_failed_write_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "collections.json"

    async def scenario() -> None:
        r = await opened(path)
        await r.add_collection(CollectionRecord("keep", "m", 3))
        before = path.read_bytes()

        def full_disk(*args: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr("ragplane.services.collections.registry.json_file.write_atomically", full_disk)
        with pytest.raises(RegistryError, match="No space left"):
            await r.add_collection(CollectionRecord("new", "m", 3))
        with pytest.raises(RegistryError):
            await r.remove_collection("keep")
        assert [c.name for c in await r.list_collections()] == ["keep"]  # memory unchanged
        assert path.read_bytes() == before  # file unchanged

    run(scenario())


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.json"
    write_atomically(target, b"one")
    write_atomically(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.json"]


def test_atomic_write_cleans_up_after_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"old")

    def broken_replace(src: str, dst: object) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_atomically(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_a_corrupt_file_is_reported_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "collections.json"
    path.write_text("{not json")
    with pytest.raises(RegistryError, match="left untouched"):
        run(opened(path))
    assert path.read_text() == "{not json"


def test_old_finished_jobs_are_pruned(tmp_path: Path) -> None:
    async def scenario() -> None:
        r = await opened(tmp_path / "r.json")
        for i in range(KEEP_FINISHED_JOBS + 3):
            r._state.jobs[f"j{i}"] = JobRecord(id=f"j{i}", collection="a", state=JobState.COMPLETED, created_at=i)
        await r.save_job(JobRecord(id="live", collection="a"))
        assert await r.get_job("j0") is None
        assert await r.get_job(f"j{KEEP_FINISHED_JOBS + 2}") is not None
        assert await r.get_job("live") is not None

    run(scenario())


def test_check_reports_the_backend(tmp_path: Path) -> None:
    info = run(JsonRegistry(tmp_path / "d" / "r.json").check())
    assert info["backend"] == "json" and info["collections"] == 0


def test_check_fails_when_the_directory_cannot_be_used(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError):
        run(JsonRegistry(blocker / "r.json").check())


def test_a_deferred_registry_writes_its_file_after_the_delay_and_at_close(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"

    async def scenario() -> None:
        r = JsonRegistry(path, flush_delay_s=0.05)
        await r.open()
        await r.add_collection(CollectionRecord("a", "m", 3))
        await r.add_collection(CollectionRecord("b", "m", 3))
        assert [c.name for c in await r.list_collections()] == ["a", "b"]  # visible at once
        assert not path.exists()
        for _ in range(200):
            if path.exists():
                break
            await asyncio.sleep(0.01)
        assert set(json.loads(path.read_text())["collections"]) == {"a", "b"}  # both, in one write
        await r.add_collection(CollectionRecord("c", "m", 3))
        await r.close()
        assert set(json.loads(path.read_text())["collections"]) == {"a", "b", "c"}

    run(scenario())
