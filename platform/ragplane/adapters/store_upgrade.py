"""Upgrading what earlier releases stored with qdrant-client's local mode to the embedded engine.

Local mode kept each collection in SQLite under `<path>/collection/<name>` and searched it by
brute force in numpy (241 ms per search at 100,000 points). At open, the embedded engine copies
each such collection that it does not have yet, point by point (dense and sparse vectors,
payloads) with its content version, into a new shard; the copy's point count must equal the
original's before it is put in place, else the open fails and nothing old is touched. Once every
collection is copied, the old files move to `<path>/local-mode-backup-<time>/`, to delete once
satisfied. An interrupted upgrade resumes with the collections not yet in place.
"""

from __future__ import annotations

import fcntl
import logging
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import qdrant_edge as edge
from qdrant_client import QdrantClient
from qdrant_client.conversions.common_types import PointId
from tqdm import tqdm

from ragplane.adapters.embedded_store import Layout, build, edge_point
from ragplane.adapters.server_store import VERSION_KEY
from ragplane.adapters.store_engine import DENSE, SPARSE
from ragplane.errors import UpgradeFailed, VectorStoreLocked

log = logging.getLogger("ragplane.qdrant")
LEGACY = "collection"  # local mode's folder of collections
PAGE = 512


def legacy_collections(path: Path) -> list[str]:
    """Collections local mode stored under `path`, by name."""
    folder = path / LEGACY
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def upgrade_local_mode(path: Path, root: Path) -> dict[str, int]:
    """Copy local mode's collections under `path` into shards under `root`; points copied by collection."""
    names = legacy_collections(path)
    if not names:
        return {}
    # Probe local mode's lock first: qdrant-client leaks the lock file when it finds it taken.
    if _locked(path / ".lock"):
        raise VectorStoreLocked(
            f"{path} is in use by an earlier ragplane release (Qdrant local mode); stop it, then start again "
            "to upgrade its data"
        )
    root.mkdir(exist_ok=True)
    client = QdrantClient(path=str(path))
    copied: dict[str, int] = {}
    try:
        todo = [name for name in names if not (root / name).exists()]
        total = sum(client.count(name, exact=True).count for name in todo)
        with tqdm(total=total, unit="point", desc="upgrading the vector store", file=sys.stderr, disable=None) as bar:
            for name in todo:
                copied[name] = _copy(client, name, root, bar.update)
                log.info("vector store upgrade: collection %s, %d points copied and counted", name, copied[name])
    finally:
        client.close()
    backup = _set_aside(path)
    log.info("vector store upgrade done; the old files are in %s (delete them once satisfied)", backup)
    return copied


def _locked(lock_file: Path) -> bool:
    """Whether another process holds Qdrant local mode's exclusive lock on `lock_file`."""
    if not lock_file.exists():
        return False
    with lock_file.open("r+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def _copy(client: QdrantClient, name: str, root: Path, advance: Callable[[int], object]) -> int:
    config = client.get_collection(name).config
    vectors = config.params.vectors
    assert vectors is not None and not isinstance(vectors, dict), "ragplane collections have one unnamed vector"
    layout = Layout(
        dimension=vectors.size,
        sparse=SPARSE in (config.params.sparse_vectors or {}),
        version=str((config.metadata or {}).get(VERSION_KEY) or uuid.uuid4().hex),
    )
    expected = client.count(name, exact=True).count

    def fill(shard: edge.EdgeShard) -> None:
        offset: PointId | None = None
        while True:
            records, offset = client.scroll(name, limit=PAGE, offset=offset, with_payload=True, with_vectors=True)
            shard.update(edge.UpdateOperation.upsert_points([_point(r.id, r.vector, r.payload) for r in records]))
            advance(len(records))
            if offset is None:
                break
        got = shard.count(edge.CountRequest(exact=True))
        if got != expected:
            raise UpgradeFailed(f"collection {name}: {got} of {expected} points copied; the old files are untouched")

    build(root, name, layout, fill)
    return expected


def _point(point_id: PointId, vector: Any, payload: dict[str, Any] | None) -> edge.Point:
    if isinstance(vector, dict):
        sparse = vector.get(SPARSE)
        converted = edge.SparseVector(list(sparse.indices), list(sparse.values)) if sparse is not None else None
        return edge_point(str(point_id), list(vector[DENSE]), payload or {}, converted)
    return edge_point(str(point_id), list(vector), payload or {}, None)


def _set_aside(path: Path) -> Path:
    backup = path / time.strftime("local-mode-backup-%Y%m%d-%H%M%S")
    backup.mkdir()
    for old in (LEGACY, "meta.json", ".lock"):
        if (path / old).exists():
            (path / old).rename(backup / old)
    return backup
