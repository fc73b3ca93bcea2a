"""A collection's backup archive: what it holds, how it is written, and how it is checked.

One gzipped tar per collection and moment, `<collection>-<UTC time>.tar.gz`, beside a
`.sha256` file holding the archive's own SHA-256 (as `sha256sum` writes it):

    manifest.json   the collection's record (embedder, dimension, chunking), the point count,
                    the content checksum, sample queries with their top point ids, when, and
                    the ragplane version that wrote it
    registry.json   the collection's document rows
    points.jsonl    every point, one JSON object a line: id, dense vector, sparse vector, payload

The content checksum is the SHA-256 of every point's `id` and payload hash (SHA-256 of its
canonical JSON), sorted by id: it names the content, whatever order the store reads it in.
`verify` checks the archive's SHA-256 first, then re-reads every point against the manifest,
so a truncated or altered archive is refused before anything is restored from it.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragplane import __version__
from ragplane.adapters.store_engine import Point
from ragplane.errors import ArchiveInvalid
from ragplane.lexical import SparseVector

FORMAT = 1
MANIFEST, REGISTRY, POINTS = "manifest.json", "registry.json", "points.jsonl"
SUFFIX = ".tar.gz"


def payload_hash(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Checksum:
    """The content checksum, fed one point at a time in any order."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def add(self, point: Point) -> None:
        self._lines.append(f"{point.id} {payload_hash(point.payload)}\n")

    @property
    def count(self) -> int:
        return len(self._lines)

    def hexdigest(self) -> str:
        return hashlib.sha256("".join(sorted(self._lines)).encode()).hexdigest()

    def matches(self, manifest: Manifest) -> bool:
        """Whether the points fed are the manifest's: as many, and the same content."""
        return self.count == manifest.points and self.hexdigest() == manifest.checksum


@dataclass(frozen=True)
class Manifest:
    collection: str
    record: dict[str, Any]  # the CollectionRecord, as JSON
    points: int
    checksum: str
    samples: list[dict[str, Any]]  # {"point": id whose vector is the query, "top": [ids]}
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat().replace("+00:00", "Z"))
    ragplane_version: str = __version__
    format: int = FORMAT

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        if data.get("format") != FORMAT:
            raise ArchiveInvalid(f"archive format {data.get('format')!r} is not {FORMAT}, the one this version reads")
        try:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__})
        except KeyError as exc:
            raise ArchiveInvalid(f"the manifest has no {exc.args[0]!r}") from None


def point_json(point: Point) -> dict[str, Any]:
    sparse = None if point.sparse is None else {"indices": point.sparse.indices, "values": point.sparse.values}
    return {"id": point.id, "vector": point.vector, "sparse": sparse, "payload": point.payload}


def point_of(data: dict[str, Any]) -> Point:
    sparse = data.get("sparse")
    return Point(
        id=str(data["id"]),
        vector=[float(x) for x in data["vector"]],
        payload=dict(data["payload"]),
        sparse=None if sparse is None else SparseVector(tuple(sparse["indices"]), tuple(sparse["values"])),
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def sidecar(archive: Path) -> Path:
    return archive.with_name(archive.name + ".sha256")


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _seal(archive: Path, manifest: Manifest, documents: list[dict[str, Any]], spool: Path) -> None:
    """The tar (manifest, registry rows, the spooled points) under a temporary name, then renamed
    into place, then its SHA-256 beside it."""
    partial = archive.with_name(f".{archive.name}.partial")
    try:
        with tarfile.open(partial, "w:gz") as tar:
            _add(tar, MANIFEST, json.dumps(manifest.__dict__, indent=2).encode())
            _add(tar, REGISTRY, json.dumps({"documents": documents}, indent=2).encode())
            tar.add(spool, arcname=POINTS)
        partial.rename(archive)
    finally:
        partial.unlink(missing_ok=True)
    sidecar(archive).write_text(f"{sha256_of(archive)}  {archive.name}\n")


async def write(
    folder: Path,
    pages: AsyncIterator[list[Point]],
    *,
    record: dict[str, Any],
    documents: list[dict[str, Any]],
    samples: list[dict[str, Any]],
) -> tuple[Path, Manifest]:
    """Write the archive of `record`'s collection into `folder`; the points come from `pages`.

    The points are spooled to a temporary file first (the manifest, which counts them, goes
    first in the tar); the archive appears under its name only once complete. File work runs
    on a worker thread: a big collection must not stall the service's event loop."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    name = record["name"]
    archive = folder / f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}{SUFFIX}"
    spool = archive.with_name(f".{archive.name}.points")
    checksum = Checksum()
    out = await asyncio.to_thread(spool.open, "wb")
    try:
        try:
            async for page in pages:
                lines = []
                for point in page:
                    checksum.add(point)
                    lines.append(json.dumps(point_json(point), separators=(",", ":")).encode() + b"\n")
                await asyncio.to_thread(out.write, b"".join(lines))
        finally:
            await asyncio.to_thread(out.close)
        manifest = Manifest(name, record, checksum.count, checksum.hexdigest(), samples)
        await asyncio.to_thread(_seal, archive, manifest, documents, spool)
    finally:
        await asyncio.to_thread(spool.unlink, missing_ok=True)
    return archive, manifest


class Archive:
    """An archive opened for reading, after `verify` has checked it."""

    def __init__(self, path: Path, manifest: Manifest, documents: list[dict[str, Any]]) -> None:
        self.path = path
        self.manifest = manifest
        self.documents = documents

    def points(self, page: int = 256) -> Iterator[list[Point]]:
        with tarfile.open(self.path, "r:gz") as tar:
            member = tar.extractfile(POINTS)
            assert member is not None  # verify() found it
            batch: list[Point] = []
            for line in member:
                batch.append(point_of(json.loads(line)))
                if len(batch) == page:
                    yield batch
                    batch = []
            if batch:
                yield batch


def _json_member(tar: tarfile.TarFile, name: str) -> Any:
    member = tar.extractfile(name)
    if member is None:
        raise ArchiveInvalid(f"{name} is not a file")
    return json.loads(member.read())


def verify(path: Path) -> Archive:
    """The archive, once its SHA-256, its manifest and every point check out; else ArchiveInvalid."""
    if not path.is_file():
        raise ArchiveInvalid(f"{path} does not exist")
    expected = sidecar(path)
    if not expected.is_file():
        raise ArchiveInvalid(f"{expected.name} is missing: the archive's SHA-256 cannot be checked")
    if expected.read_text().split()[:1] != [sha256_of(path)]:
        raise ArchiveInvalid(f"{path.name} does not match its SHA-256 ({expected.name}): it is damaged or was changed")
    try:
        with tarfile.open(path, "r:gz") as tar:
            manifest = Manifest.from_json(_json_member(tar, MANIFEST))
            documents = _json_member(tar, REGISTRY)["documents"]
        archive = Archive(path, manifest, documents)
        checksum = Checksum()
        for page in archive.points():
            for point in page:
                checksum.add(point)
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, KeyError, ValueError, TypeError) as exc:
        raise ArchiveInvalid(f"{path.name} cannot be read: {exc}") from None
    if not checksum.matches(manifest):
        raise ArchiveInvalid(
            f"{path.name} holds {checksum.count} points whose checksum is {checksum.hexdigest()[:12]}…, "
            f"not the {manifest.points} points and {manifest.checksum[:12]}… its manifest names"
        )
    return archive
