"""The collections app's composition: which registry, and the hint about an unmigrated JSON registry."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ragplane.services.collections.app import _warn_if_unmigrated, build_registry
from ragplane.services.collections.models import CollectionRecord
from ragplane.services.collections.registry.hybrid import HybridRegistry
from ragplane.services.collections.registry.json_file import JsonRegistry
from ragplane.services.collections.registry.postgres import PostgresRegistry
from ragplane.telemetry.metrics import ServiceMetrics

pytestmark = pytest.mark.anyio


def test_database_url_selects_postgres_with_a_snapshot_apart_from_the_json_registry(make_settings) -> None:
    json_only = build_registry(make_settings(), ServiceMetrics("collections"))
    hybrid = build_registry(make_settings(DATABASE_URL="postgresql://u@db/x"), ServiceMetrics("collections"))

    assert isinstance(json_only, JsonRegistry)
    assert isinstance(hybrid, HybridRegistry)
    assert hybrid.snapshot.path.name == "registry-snapshot.json"


async def test_an_empty_database_beside_a_json_registry_gets_a_hint(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = PostgresRegistry(database_url, pool_size=1, timeout_s=5)
    json_path = tmp_path / "collections.json"
    try:
        await _warn_if_unmigrated(registry, json_path)  # no JSON registry: nothing to say
        json_path.write_text("{}")
        with caplog.at_level(logging.WARNING):
            await _warn_if_unmigrated(registry, json_path)
        assert "run `ragplane migrate-json`" in caplog.text
        caplog.clear()
        await registry.add_collection(CollectionRecord("a", "m", 3))
        await _warn_if_unmigrated(registry, json_path)  # the database is in use: no hint
        assert not caplog.text
    finally:
        await registry.close()
