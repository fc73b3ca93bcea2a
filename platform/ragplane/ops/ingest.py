"""`ragplane ingest PATH --collection NAME`: load text and Markdown files into a running stack.

Files are sent in batches through the collections API (the same path any client uses),
each batch becomes an ingestion job, and the command follows the jobs with a progress
bar. Document ids are paths relative to the working directory, so re-running over the
same tree updates changed files and skips the rest instead of duplicating them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from ragplane.kit.service_auth import HEADER as SERVICE_TOKEN
from ragplane.kit.versioning import V1

SUFFIXES = frozenset({".md", ".markdown", ".txt"})
BATCH_DOCUMENTS = 16
BATCH_BYTES = 2 * 1024 * 1024
POLL_S = 0.2


class IngestError(RuntimeError):
    """The stack refused or failed the ingestion; the message says why."""


@dataclass
class Summary:
    documents: int = 0
    ingested: int = 0
    skipped: int = 0
    failed: int = 0
    chunks: int = 0
    errors: list[str] = field(default_factory=list)


def find_files(paths: Iterable[Path]) -> list[Path]:
    """Text and Markdown files under `paths`, in a stable order; hidden directories are skipped."""
    found: set[Path] = set()
    for path in paths:
        if path.is_file():
            found.add(path)
        elif path.is_dir():
            found.update(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in SUFFIXES and not any(part.startswith(".") for part in p.parts)
            )
        else:
            raise IngestError(f"{path} does not exist")
    return sorted(found)


def document_id(path: Path, base: Path) -> str:
    resolved = path.resolve()
    try:
        return resolved.relative_to(base.resolve()).as_posix()
    except ValueError:
        return os.path.relpath(resolved, base.resolve()).replace(os.sep, "/")


def read_documents(files: Sequence[Path], base: Path) -> list[dict[str, Any]]:
    """The files as API documents (id and source = path relative to `base`); blank files are left out."""
    documents = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        if text.strip():
            doc_id = document_id(path, base)
            documents.append({"id": doc_id, "text": text, "source": doc_id})
    return documents


def batches(documents: Sequence[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    """Groups of at most BATCH_DOCUMENTS documents and about BATCH_BYTES of text."""
    batch: list[dict[str, Any]] = []
    size = 0
    for doc in documents:
        if batch and (len(batch) >= BATCH_DOCUMENTS or size + len(doc["text"]) > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(doc)
        size += len(doc["text"])
    if batch:
        yield batch


class IngestClient:
    """The collections API as the ingest command needs it."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout_s: float = 60.0) -> None:
        headers = {SERVICE_TOKEN: token} if token else {}
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)

    async def __aenter__(self) -> IngestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, V1 + path, **kwargs)
        except httpx.HTTPError as exc:
            raise IngestError(f"cannot reach {self.http.base_url}: {exc}") from exc
        return response

    async def ensure_collection(self, name: str, description: str = "") -> bool:
        """Create the collection unless it exists; True when it was created."""
        response = await self._call("GET", f"/rag/collections/{name}")
        if response.status_code == 200:
            return False
        if response.status_code != 404:
            raise IngestError(problem_text(response))
        response = await self._call("POST", "/rag/collections", json={"name": name, "description": description})
        if response.status_code not in (201, 409):
            raise IngestError(problem_text(response))
        return response.status_code == 201

    async def submit(self, collection: str, documents: list[dict[str, Any]]) -> str:
        response = await self._call("POST", f"/rag/collections/{collection}/documents", json={"documents": documents})
        if response.status_code != 202:
            raise IngestError(problem_text(response))
        return str(response.json()["id"])

    async def job(self, job_id: str) -> dict[str, Any]:
        response = await self._call("GET", f"/rag/jobs/{job_id}")
        if response.status_code != 200:
            raise IngestError(problem_text(response))
        return response.json()  # type: ignore[no-any-return]


def problem_text(response: httpx.Response) -> str:
    """`HTTP <status>: <detail>` from a problem+json answer (or the body's start when it is not one)."""
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    return f"HTTP {response.status_code}: {detail or response.text[:200]}"


async def ingest(
    client: IngestClient,
    documents: Sequence[dict[str, Any]],
    collection: str,
    *,
    description: str = "",
    progress: Callable[[int], Any] | None = None,
) -> Summary:
    """Send `documents` (see `read_documents`) in batches and wait for the jobs; `progress(n)`
    reports documents finished."""
    await client.ensure_collection(collection, description)
    summary = Summary(documents=len(documents))
    for batch in batches(documents):
        job_id = await client.submit(collection, batch)
        reported = 0
        while True:
            job = await client.job(job_id)
            counts = job["documents"]
            done = counts["ingested"] + counts["skipped"] + counts["failed"]
            if progress and done > reported:
                progress(done - reported)
                reported = done
            if job["state"] in ("completed", "failed"):
                break
            await asyncio.sleep(POLL_S)
        summary.ingested += counts["ingested"]
        summary.skipped += counts["skipped"]
        summary.failed += counts["failed"]
        summary.chunks += job["chunks"]
        if job["state"] == "failed":
            summary.errors.append(str(job["error"]))
    return summary


async def ingest_with_progress(
    base_url: str, paths: Sequence[Path], collection: str, *, token: str | None, description: str = ""
) -> Summary:
    """The files under `paths` (ids relative to the working directory), with a tqdm bar on stderr."""
    documents = read_documents(find_files(paths), Path.cwd())
    with tqdm(total=len(documents), unit="doc", desc=f"ingest → {collection}", leave=True) as bar:
        async with IngestClient(base_url, token=token) as client:
            return await ingest(client, documents, collection, description=description, progress=bar.update)
