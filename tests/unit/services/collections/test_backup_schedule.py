"""Scheduled backups and what every backup leaves behind: metrics, backup.log, and one replica
at a time through PostgreSQL's advisory lock or the backup directory's lock file."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from ragplane.adapters.vectors import VectorStore
from ragplane.services.collections.backup_schedule import ADVISORY_LOCK, exclusive, run_once, run_schedule
from ragplane.services.collections.backups import Backups
from ragplane.services.collections.registry.json_file import JsonRegistry
from ragplane.services.collections.registry.postgres import PostgresRegistry
from ragplane.telemetry.metrics import ServiceMetrics
from tests.unit.services.collections.test_backups import backups_of, fill

pytestmark = pytest.mark.anyio


@pytest.fixture
async def backups(parts: tuple[VectorStore, JsonRegistry], tmp_path: Path) -> Backups:
    for name in ("alpha", "beta"):
        await fill(*parts, name)
    return backups_of(parts, tmp_path / "backups")


def log_lines(backups: Backups) -> list[dict[str, object]]:
    return [json.loads(line) for line in (backups.folder / "backup.log").read_text().splitlines()]


async def test_a_run_backs_up_every_collection_and_a_failure_does_not_stop_the_others(backups: Backups) -> None:
    await backups.store.delete_collection("alpha")  # the registry still lists it: its backup fails
    written = await run_once(backups)
    assert [w["collection"] for w in written] == ["beta"]
    entries = log_lines(backups)
    assert [(e["collection"], e["result"]) for e in entries] == [("alpha", "failed"), ("beta", "ok")]
    assert entries[0]["reason"] == "collection_missing" or entries[0]["reason"] == "store"
    assert entries[1]["archive"] == written[0]["archive"] and entries[1]["bytes"] == written[0]["size_bytes"]


async def test_a_backup_sets_the_gauges_and_a_restart_reads_them_back(backups: Backups, tmp_path: Path) -> None:
    await backups.create("beta")
    text = generate_latest(backups.journal.metrics_registry).decode()
    assert 'ragplane_backup_last_success_timestamp_seconds{collection="beta"}' in text
    restarted_metrics = ServiceMetrics("collections")
    restarted = Backups(
        backups.registry,
        backups.store,
        backups.folder,
        retention_days=7,
        changes=asyncio.Lock(),
        metrics=restarted_metrics,
    )
    restarted.publish_existing()
    assert 'ragplane_backup_size_bytes{collection="beta"}' in generate_latest(restarted_metrics.registry).decode()


async def test_another_replica_holding_the_lock_means_this_one_skips_the_run(backups: Backups) -> None:
    with exclusive(backups.folder) as held:
        assert held
        assert await run_once(backups) == []
    assert len(await run_once(backups)) == 2


async def test_with_postgresql_replicas_take_turns_through_its_advisory_lock(backups: Backups, database_url) -> None:
    """Replicas on other hosts share no BACKUP_DIR, but they share the database."""
    holder = PostgresRegistry(database_url, pool_size=1, timeout_s=5)
    other = PostgresRegistry(database_url, pool_size=2, timeout_s=5)
    try:
        async with holder.advisory_lock(ADVISORY_LOCK) as held:
            assert held
            assert await run_once(backups, other) == []
        assert len(await run_once(backups, other)) == 2  # released: the next run is this one's
    finally:
        await holder.close()
        await other.close()


async def test_without_postgresql_the_lock_file_decides(backups: Backups) -> None:
    gone = PostgresRegistry("postgresql://ragplane@127.0.0.1:9/none", pool_size=1, timeout_s=1)
    with exclusive(backups.folder) as held:
        assert held
        assert await run_once(backups, gone) == []
    assert len(await run_once(backups, gone)) == 2
    await gone.close()


async def test_the_schedule_sleeps_until_each_time_the_expression_names(backups: Backups) -> None:
    start = datetime(2026, 12, 7, 1, 59, 30, tzinfo=UTC)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await run_schedule(backups, "0 2 * * *", now=lambda: start, sleep=sleep)
    assert slept == [30.0, 24 * 3600 + 30.0]  # the clock stood still: the next day's is a day further
    assert len(log_lines(backups)) == 2  # the first run backed both collections up
