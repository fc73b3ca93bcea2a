"""The real embedded vector store and JSON registry, for the backup tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ragplane.adapters.vectors import VectorStore
from ragplane.services.collections.registry.json_file import JsonRegistry


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[tuple[VectorStore, JsonRegistry]]:
    """The real embedded store and JSON registry, open, in tmp_path."""
    store = VectorStore(path=tmp_path / "qdrant")
    registry = JsonRegistry(tmp_path / "collections.json")
    await store.open()
    await registry.open()
    yield store, registry
    await registry.close()
    await store.close()
