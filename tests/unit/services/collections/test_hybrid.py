"""The hybrid registry against a real PostgreSQL that the test takes away through a proxy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ragplane.errors import DependencyUnavailable
from ragplane.services.collections.models import CollectionRecord, DocumentRecord, JobRecord
from ragplane.services.collections.registry import Snapshot
from ragplane.services.collections.registry.hybrid import CHECK_TIMEOUT_S, HybridRegistry
from ragplane.services.collections.registry.json_file import JsonRegistry
from ragplane.services.collections.registry.postgres import PostgresRegistry
from ragplane.telemetry.metrics import ServiceMetrics
from tests.pg import fetch
from tests.proxy import Proxy, proxy_to

pytestmark = pytest.mark.anyio


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    with proxy_to() as p:
        yield p


@pytest.fixture
def metrics() -> ServiceMetrics:
    return ServiceMetrics("collections")


def _database(url: str) -> str:
    return url.rsplit("/", 1)[1]


@pytest.fixture
async def hybrid(
    database_url: str, proxy: Proxy, metrics: ServiceMetrics, tmp_path: Path
) -> AsyncIterator[HybridRegistry]:
    db = PostgresRegistry(proxy.url(_database(database_url)), pool_size=2, timeout_s=2)
    snapshot = JsonRegistry(tmp_path / "snapshot.json", flush_delay_s=60)  # only close() writes the file
    registry = HybridRegistry(db, snapshot, metrics=metrics, retry_s=0.05, maintenance_s=60)
    await registry.open()
    try:
        yield registry
    finally:
        await registry.close()


def backend(metrics: ServiceMetrics, name: str) -> float | None:
    return metrics.registry.get_sample_value("ragplane_registry_backend", {"backend": name})


async def until(condition: object, seconds: float = 10) -> None:
    """Poll: the registry's watcher recovers on its own schedule, with no event to wait on."""
    async with asyncio.timeout(seconds):
        while not condition():  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_reads_come_from_the_snapshot_and_writes_are_refused_while_the_database_is_down(
    hybrid: HybridRegistry, proxy: Proxy, metrics: ServiceMetrics, database_url: str
) -> None:
    await hybrid.add_collection(CollectionRecord("a", "m", 3))
    await hybrid.put_documents("a", [DocumentRecord("x", "X", "h", 1, 3)])
    assert backend(metrics, "postgres") == 1

    proxy.cut()

    assert [c.name for c in await hybrid.list_collections()] == ["a"]
    assert set(await hybrid.documents("a")) == {"x"}
    assert hybrid.describe()["status"] == "degraded (json)"
    assert (await hybrid.check())["backend"] == "json"
    assert backend(metrics, "json") == 1 and backend(metrics, "postgres") == 0
    assert metrics.registry.get_sample_value("ragplane_registry_fallback_total") == 1
    with pytest.raises(DependencyUnavailable) as refused:
        await hybrid.add_collection(CollectionRecord("b", "m", 3))
    assert refused.value.dependency == "registry"
    with pytest.raises(DependencyUnavailable):
        await hybrid.save_job(JobRecord(id="j", collection="a"))

    proxy.restore()
    await until(lambda: not hybrid.degraded)

    assert backend(metrics, "postgres") == 1
    rows = await fetch(database_url, "SELECT name FROM collections")
    assert [r["name"] for r in rows] == ["a"]  # the acknowledged write, and not the refused one
    assert await fetch(database_url, "SELECT id FROM ingestion_jobs") == []
    assert metrics.registry.get_sample_value("ragplane_registry_fallback_total") == 1


async def test_the_snapshot_follows_every_acknowledged_write(hybrid: HybridRegistry, tmp_path: Path) -> None:
    await hybrid.add_collection(CollectionRecord("a", "m", 3))
    await hybrid.put_documents("a", [DocumentRecord("x", "X", "h", 1, 3)])
    await hybrid.remove_collection("a")
    await hybrid.add_collection(CollectionRecord("b", "m", 3))
    assert [c.name for c in await hybrid.snapshot.list_collections()] == ["b"]
    assert not (tmp_path / "snapshot.json").exists()  # the file follows later, off the write path

    await hybrid.snapshot.flush()
    on_disk = JsonRegistry(tmp_path / "snapshot.json")
    await on_disk.open()

    assert [c.name for c in await on_disk.list_collections()] == ["b"]


async def test_starting_while_the_database_is_down_serves_the_last_snapshot(
    database_url: str, proxy: Proxy, metrics: ServiceMetrics, tmp_path: Path
) -> None:
    snapshot = JsonRegistry(tmp_path / "snapshot.json")
    await snapshot.open()
    await snapshot.add_collection(CollectionRecord("kept", "m", 3))
    proxy.cut()
    db = PostgresRegistry(proxy.url(_database(database_url)), pool_size=2, timeout_s=2)
    snapshot = JsonRegistry(tmp_path / "snapshot.json", flush_delay_s=60)  # only close() writes the file
    registry = HybridRegistry(db, snapshot, metrics=metrics, retry_s=0.05, maintenance_s=60)
    recovered: list[bool] = []

    async def on_recover() -> None:
        recovered.append(True)

    registry.on_sync.append(on_recover)
    await registry.open()
    try:
        assert registry.degraded
        assert [c.name for c in await registry.list_collections()] == ["kept"]

        proxy.restore()
        await until(lambda: not registry.degraded)

        assert recovered == [True]
        assert await registry.list_collections() == []  # the database is the record; the snapshot follows it
    finally:
        await registry.close()


async def test_a_write_during_a_snapshot_rebuild_is_not_lost(hybrid: HybridRegistry) -> None:
    export = hybrid.db.export
    exported, release = asyncio.Event(), asyncio.Event()

    async def slow_export() -> Snapshot:
        snapshot = await export()
        exported.set()
        await release.wait()
        return snapshot

    hybrid.db.export = slow_export  # type: ignore[method-assign]
    upkeep = asyncio.create_task(hybrid.maintain())
    await exported.wait()
    await hybrid.add_collection(CollectionRecord("late", "m", 3))  # committed after the export read
    release.set()
    await upkeep

    assert [c.name for c in await hybrid.snapshot.list_collections()] == ["late"]


async def test_failing_upkeep_is_logged_not_a_fallback(
    database_url: str, metrics: ServiceMetrics, tmp_path: Path
) -> None:
    db = PostgresRegistry(database_url, pool_size=2, timeout_s=2)
    registry = HybridRegistry(db, JsonRegistry(tmp_path / "s.json"), metrics=metrics, retry_s=0.05, maintenance_s=0.02)
    rounds = 0

    async def slow_maintain(**_: int) -> str:
        nonlocal rounds
        rounds += 1
        raise DependencyUnavailable("postgres", "no answer in time", kind="timeout")

    db.maintain = slow_maintain  # type: ignore[method-assign]
    await registry.open()
    try:
        await until(lambda: rounds >= 3)
        assert not registry.degraded
        assert metrics.registry.get_sample_value("ragplane_registry_fallback_total") == 0
    finally:
        await registry.close()


async def test_a_hung_database_fails_the_readiness_check_over_to_the_snapshot(hybrid: HybridRegistry) -> None:
    async def hang() -> dict[str, object]:
        await asyncio.sleep(30)
        return {}

    hybrid.db.check = hang  # type: ignore[method-assign]

    async with asyncio.timeout(CHECK_TIMEOUT_S + 1):
        detail = await hybrid.check()

    assert detail["backend"] == "json" and hybrid.degraded


async def test_changes_are_refused_up_front_while_the_database_is_down(hybrid: HybridRegistry, proxy: Proxy) -> None:
    await hybrid.ensure_writable()
    proxy.cut()
    await hybrid.list_collections()  # notices

    with pytest.raises(DependencyUnavailable) as refused:
        await hybrid.ensure_writable()

    assert "127.0.0.1" not in str(refused.value)  # clients get a fixed message; the reason is logged
