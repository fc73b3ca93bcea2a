"""The registry as one JSON file under the data dir.

The embedded default, and the snapshot the PostgreSQL registry falls back to (`hybrid.py`).
Every change is computed on a copy, written to a temporary file, fsynced and renamed over the
old file, and only then made visible in memory: a failed write (full disk, permissions) leaves
both the file and the served state exactly as they were.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ragplane.errors import CollectionExists, RegistryError
from ragplane.services.collections.models import ChunkRecord, CollectionRecord, DocumentRecord, JobRecord, JobState
from ragplane.services.collections.registry import (
    KEEP_FINISHED_JOBS,
    RECENT_S,
    Snapshot,
)

log = logging.getLogger("ragplane.registry")


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so readers see the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class JsonRegistry:
    """The registry as one JSON file, rewritten atomically on every change.

    With `flush_delay_s` (the hybrid registry's snapshot) a change is visible in memory at
    once and the file is rewritten at most once per `flush_delay_s`, off the caller's path:
    rewriting the whole file costs ~50 ms per 3,000 documents, and PostgreSQL, not this
    file, holds the acknowledged data. Without it (the JSON registry proper) a change is
    acknowledged only once it is on disk.
    """

    backend = "json"

    def __init__(self, path: Path, *, flush_delay_s: float | None = None) -> None:
        self.path = path
        self.flush_delay_s = flush_delay_s
        self._state = Snapshot.empty()
        self._lock = asyncio.Lock()
        self._unflushed = False
        self._flusher: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._state = await asyncio.to_thread(self._load)

    def _load(self) -> Snapshot:
        if not self.path.exists():
            return Snapshot.empty()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return Snapshot.from_json(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RegistryError(
                f"cannot read the registry {self.path}: {exc}. It was left untouched; "
                "restore it from a backup or move it aside to start empty."
            ) from exc

    async def _commit(self, state: Snapshot) -> None:
        finished = sorted(
            (j for j in state.jobs.values() if JobState(j.state).finished and not j.sweep_pending),
            key=lambda j: j.created_at,
        )
        for job in finished[:-KEEP_FINISHED_JOBS]:
            del state.jobs[job.id]
        if self.flush_delay_s is not None:
            self._state = state
            self._unflushed = True
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.create_task(self._flush_later(self.flush_delay_s), name="registry-snapshot")
            return
        await self._write(state)
        self._state = state

    async def _write(self, state: Snapshot) -> None:
        data = state.to_json()  # a snapshot taken on the loop; serialised and written off it
        try:
            await asyncio.to_thread(
                lambda: write_atomically(self.path, json.dumps(data, sort_keys=True, indent=1).encode())
            )
        except OSError as exc:
            raise RegistryError(f"cannot write the registry {self.path}: {exc.strerror or exc}") from exc

    async def _flush_later(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        while self._unflushed:
            self._unflushed = False
            try:
                await self._write(self._state)
            except RegistryError as exc:  # the next change (or close) tries again
                self._unflushed = True
                log.warning("%s", exc)
                return

    async def flush(self) -> None:
        """Write pending changes to the file now (a deferred-flush registry at close, and tests)."""
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._unflushed:
            self._unflushed = False
            await self._write(self._state)

    async def check(self) -> dict[str, Any]:
        """Ready when a file can really be written beside the registry (permissions, full disk)."""
        await asyncio.to_thread(write_atomically, self.path.parent / ".write-probe", b"ok")
        return {"backend": self.backend, "collections": len(self._state.collections)}

    async def list_collections(self) -> list[CollectionRecord]:
        return sorted(self._state.collections.values(), key=lambda c: c.name)

    async def get_collection(self, name: str) -> CollectionRecord | None:
        return self._state.collections.get(name)

    async def add_collection(self, record: CollectionRecord) -> None:
        async with self._lock:
            if record.name in self._state.collections:
                raise CollectionExists(record.name)
            state = self._state.copy()
            state.collections[record.name] = record
            state.documents[record.name] = {}
            await self._commit(state)

    async def remove_collection(self, name: str) -> CollectionRecord | None:
        async with self._lock:
            record = self._state.collections.get(name)
            if record is None:
                return None
            state = self._state.copy()
            del state.collections[name]
            state.documents.pop(name, None)
            await self._commit(state)
            return record

    async def documents(self, collection: str) -> dict[str, DocumentRecord]:
        return dict(self._state.documents.get(collection, {}))

    async def put_documents(
        self,
        collection: str,
        records: Sequence[DocumentRecord],
        chunks: Mapping[str, Sequence[ChunkRecord]] | None = None,
    ) -> None:
        """Chunk rows are not kept in the file: Qdrant's payloads hold the same text."""
        async with self._lock:
            if collection not in self._state.collections:
                raise RegistryError(f"collection {collection!r} was deleted while its documents were ingested")
            state = self._state.copy()
            state.documents[collection] = {**state.documents.get(collection, {}), **{r.id: r for r in records}}
            await self._commit(state)

    async def remove_documents(self, collection: str, ids: Sequence[str]) -> list[str]:
        async with self._lock:
            docs = self._state.documents.get(collection, {})
            removed = [i for i in ids if i in docs]
            if removed:
                state = self._state.copy()
                state.documents[collection] = {k: v for k, v in docs.items() if k not in removed}
                await self._commit(state)
            return removed

    async def save_job(self, job: JobRecord) -> None:
        async with self._lock:
            state = self._state.copy()
            state.jobs[job.id] = job
            await self._commit(state)

    async def get_job(self, job_id: str) -> JobRecord | None:
        return self._state.jobs.get(job_id)

    async def jobs_to_recover(self) -> list[JobRecord]:
        return [j for j in self._state.jobs.values() if not JobState(j.state).finished or j.sweep_pending]

    async def list_jobs(
        self, *, state: str | None = None, collection: str | None = None, limit: int = 100
    ) -> list[JobRecord]:
        jobs = [
            j
            for j in self._state.jobs.values()
            if (state is None or j.state == state) and (collection is None or j.collection == collection)
        ]
        return sorted(jobs, key=lambda j: j.created_at, reverse=True)[:limit]

    async def job_counts(self) -> dict[str, int]:
        since = time.time() - RECENT_S
        counts: dict[str, int] = {}
        for job in self._state.jobs.values():
            if not JobState(job.state).finished or job.created_at > since:
                counts[job.state] = counts.get(job.state, 0) + 1
        return counts

    async def replace(self, snapshot: Snapshot) -> None:
        """Make `snapshot` the whole registry (the hybrid registry's copy of the database)."""
        async with self._lock:
            await self._commit(snapshot)

    async def close(self) -> None:
        await self.flush()

    async def ensure_writable(self) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "status": "up", "path": str(self.path)}
