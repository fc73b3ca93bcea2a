"""`ragplane ingest PATH... --collection NAME`: load text and Markdown files into a running stack.

Document ids follow the rule of uploads, whatever the working directory: a file given by
name is its file name, a folder's files are their paths relative to that folder, and
`--prefix` goes in front (`cooking/risotto.md`). So the same folder ingested again, from
anywhere, updates its changed files and skips the rest instead of duplicating them.

Every file is read and checked first, by the rule the collections service applies to
uploads (`documents.file_text`, `documents.check_id`); refused files are named with their
reason and the others are ingested. Nothing is created when nothing can be ingested.
Files go in batches through the collections API (the same path any client uses), each
batch an ingestion job the command follows with a progress bar.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ragplane.errors import IngestError, NotText, TooLarge
from ragplane.ops.ingest_client import IngestClient
from ragplane.services.collections import documents as rules

SUFFIXES = rules.TEXT_SUFFIXES
BATCH_DOCUMENTS = 16
BATCH_BYTES = 2 * 1024 * 1024

__all__ = ["IngestClient", "IngestError", "Source", "Summary", "ingest", "read_documents"]


@dataclass(frozen=True)
class Source:
    """A PATH of the command: a file or a folder, and the prefix of its documents' ids."""

    path: Path
    prefix: str = ""

    def id_of(self, file: Path) -> str:
        name = file.name if self.path.is_file() else file.relative_to(self.path).as_posix()
        return f"{self.prefix.strip('/')}/{name}" if self.prefix.strip("/") else name

    def owns(self, document_id: str) -> bool:
        """Whether `document_id` would come from this source's prefix (all ids, without one)."""
        prefix = self.prefix.strip("/")
        return not prefix or document_id.startswith(prefix + "/")


@dataclass
class Summary:
    documents: int = 0
    ingested: int = 0
    skipped: int = 0
    failed: int = 0
    chunks: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file, or id in `ingest`, reason)
    deleted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def find_files(source: Source) -> list[Path]:
    """The text and Markdown files of a source, in a stable order; hidden files and folders inside it are skipped."""
    path = source.path
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise IngestError(f"{path} does not exist")
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def plan(sources: Sequence[Source]) -> list[tuple[str, Path]]:
    """(document id, file) for every file of `sources`; two files with one id are an error."""
    owners: dict[str, Path] = {}
    for source in sources:
        files = find_files(source)
        if not files:
            kinds = ", ".join(sorted(SUFFIXES))
            raise IngestError(f"{source.path}: no text or Markdown files ({kinds}) in it; nothing was sent")
        for file in files:
            doc_id = source.id_of(file)
            if doc_id in owners and owners[doc_id].resolve() != file.resolve():
                raise IngestError(
                    f"{owners[doc_id]} and {file} would both be the document {doc_id!r}: ingest them in separate "
                    "runs with different --prefix values, or give their common folder as PATH"
                )
            owners.setdefault(doc_id, file)
    return sorted(owners.items())


def read_documents(planned: Iterable[tuple[str, Path]]) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The files as API documents, and those refused as (file, reason): the uploads' rule, applied here."""
    documents: list[dict[str, Any]] = []
    refused: list[tuple[str, str]] = []
    for doc_id, path in planned:
        try:
            text = rules.file_text(path.read_bytes())
        except NotText as exc:
            refused.append((str(path), str(exc)))
            continue
        except OSError as exc:
            refused.append((str(path), f"cannot be read: {exc.strerror or exc}"))
            continue
        problem = rules.check_id(doc_id)
        if problem is not None:
            refused.append((str(path), f"its id {doc_id!r} {problem}"))
            continue
        documents.append({"id": doc_id, "title": rules.file_title(text, doc_id), "text": text, "source": doc_id})
    return documents, refused


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


class Bar:
    """Documents done of total as a bar; chunks stored of those known so far beside it."""

    def __init__(self, total: int, collection: str) -> None:
        self.bar = tqdm(total=total, unit="doc", desc=f"ingest → {collection}", leave=True, file=sys.stderr)
        self.documents = self.chunks = self.chunks_total = 0  # of the jobs already finished

    def show(self, job: dict[str, Any]) -> None:
        counts = job["documents"]
        done = self.documents + counts["ingested"] + counts["skipped"] + counts["failed"]
        self.bar.update(done - self.bar.n)
        chunks, total = self.chunks + job["chunks"], self.chunks_total + job.get("chunks_total", 0)
        self.bar.set_postfix_str(f"chunks {chunks}/{total}")

    def finished(self, job: dict[str, Any]) -> None:
        self.show(job)
        self.documents, self.chunks = int(self.bar.n), self.chunks + job["chunks"]
        self.chunks_total += job.get("chunks_total", 0)

    def skip(self) -> None:
        """One document that was not sent."""
        self.bar.update(1)
        self.documents += 1

    def write(self, message: str) -> None:
        self.bar.write(message, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


async def ingest(
    client: IngestClient,
    documents: Sequence[dict[str, Any]],
    collection: str,
    *,
    description: str = "",
    bar: Bar | None = None,
) -> Summary:
    """Send `documents` (see `read_documents`) in batches and wait for each job. A batch over the
    service's size limit is sent in halves; a single document over it is refused."""
    await client.ensure_collection(collection, description)
    summary = Summary(documents=len(documents))
    queue = list(batches(documents))
    while queue:
        batch = queue.pop(0)
        try:
            job_id = await client.submit(collection, batch)
        except TooLarge as exc:
            if len(batch) > 1:
                queue[:0] = [batch[: len(batch) // 2], batch[len(batch) // 2 :]]
                continue
            summary.refused.append((batch[0]["id"], f"is larger than the service accepts ({exc})"))
            if bar is not None:
                bar.skip()
            continue
        job = await client.wait(job_id, bar.show if bar else None)
        if bar is not None:
            bar.finished(job)
        counts = job["documents"]
        summary.ingested += counts["ingested"]
        summary.skipped += counts["skipped"]
        summary.failed += counts["failed"]
        summary.chunks += job["chunks"]
        if job["state"] == "failed":
            summary.errors.append(str(job["error"]))
    return summary


async def delete_missing(client: IngestClient, collection: str, sources: Sequence[Source], keep: set[str]) -> list[str]:
    """Delete the collection's documents under the sources' prefixes that no file gave an id this run."""
    missing = [i for i in await client.document_ids(collection) if i not in keep and any(s.owns(i) for s in sources)]
    return [doc_id for doc_id in missing if await client.delete_document(collection, doc_id)]


async def run(
    client: IngestClient,
    sources: Sequence[Source],
    collection: str,
    *,
    description: str = "",
    delete: bool = False,
    progress: bool = True,
) -> Summary:
    """The whole command: read and check every file, ingest the good ones, then (with `delete`)
    remove the documents whose files are gone. Raises IngestError before anything is created
    when there is nothing to ingest."""
    planned = plan(sources)
    documents, refused = read_documents(planned)
    if not documents:
        reasons = "; ".join(f"{name} {reason}" for name, reason in refused)
        raise IngestError(f"nothing to ingest: every file was refused ({reasons}); nothing was created")
    bar = Bar(len(documents), collection) if progress else None
    if bar is not None:
        client.say = bar.write
    try:
        summary = await ingest(client, documents, collection, description=description, bar=bar)
    finally:
        if bar is not None:
            bar.close()
    files = dict(planned)
    summary.refused = refused + [(str(files[doc_id]), reason) for doc_id, reason in summary.refused]
    if delete and not summary.errors:
        summary.deleted = await delete_missing(client, collection, sources, {doc_id for doc_id, _ in planned})
    elif delete:
        summary.errors.append("documents whose files are gone were not deleted, since some failed")
    return summary
