"""A document's chunks as Qdrant points: their ids, their payloads, embedded and written in batches.

Point ids derive from collection, document, content hash and chunk number, so writing the
same version twice overwrites rather than duplicates, and a new version's points sit beside
the old ones until the ingestor records it (`ingest.py`). Each payload names the job that
wrote it (`vectors.JOB_FIELD`, indexed on a Qdrant server): what a failed job leaves can be found without its input.
"""

from __future__ import annotations

import asyncio
import uuid

from opentelemetry.trace import Tracer

from ragplane.adapters.embedders import Embedder
from ragplane.adapters.vectors import JOB_FIELD, Point, VectorStore
from ragplane.kit.tracing import stage
from ragplane.lexical import document_vector
from ragplane.services.collections.chunking import Chunk, chunk_markdown
from ragplane.services.collections.documents import DocumentIn
from ragplane.services.collections.models import ChunkRecord, CollectionRecord, DocumentRecord
from ragplane.services.collections.progress import JobProgress

POINT_NAMESPACE = uuid.UUID("6f1c7e0e-5b7a-4c39-9a53-2f1f0c8e6a11")
# Chunks per embedding call and per upsert. The embedder and local Qdrant each have one
# thread that searches share; small batches let a search slip in between (~0.1 s apart).
EMBED_BATCH = 16

Ingested = tuple[DocumentRecord, list[ChunkRecord]]


def point_id(collection: str, document_id: str, content_hash: str, index: int) -> str:
    return str(uuid.uuid5(POINT_NAMESPACE, f"{collection}\x00{document_id}\x00{content_hash}\x00{index}"))


async def chunk_document(collection: CollectionRecord, doc: DocumentIn) -> list[Chunk]:
    """The document's chunks at the collection's size; off the event loop (~0.1 s per MB)."""
    chunks = await asyncio.to_thread(
        chunk_markdown, doc.text, size=collection.chunk_size, overlap=collection.chunk_overlap
    )
    # A document of headings only has no body blocks; it is still findable as one chunk.
    return chunks or [Chunk(0, doc.text.strip(), "")]


class PointWriter:
    """Embeds chunks and upserts them as points, counting progress per batch."""

    def __init__(self, store: VectorStore, embedder: Embedder, tracer: Tracer) -> None:
        self.store = store
        self.embedder = embedder
        self.tracer = tracer

    async def write(
        self, collection: CollectionRecord, doc: DocumentIn, chunks: list[Chunk], progress: JobProgress
    ) -> Ingested:
        """Write the document's points; returns the registry records to commit once it is whole."""
        content_hash = doc.content_hash
        for start in range(0, len(chunks), EMBED_BATCH):
            batch = chunks[start : start + EMBED_BATCH]
            await self._store(collection.name, doc, content_hash, batch, progress.job.id)
            progress.count(chunks=len(batch))
            await progress.save()
        record = DocumentRecord(
            id=doc.id,
            title=doc.title,
            content_hash=content_hash,
            chunks=len(chunks),
            bytes=len(doc.text.encode()),
            source=doc.source,
            metadata=dict(doc.metadata),
        )
        rows = [
            ChunkRecord(doc.id, c.index, point_id(collection.name, doc.id, content_hash, c.index), c.section, c.text)
            for c in chunks
        ]
        return record, rows

    async def _store(
        self, collection: str, doc: DocumentIn, content_hash: str, chunks: list[Chunk], job_id: str
    ) -> None:
        texts = [c.embedding_text(doc.title) for c in chunks]
        with stage(self.tracer, "embed", embedder=self.embedder.name, texts=len(texts)):
            vectors = await self.embedder.embed(texts)
        points = [
            Point(
                id=point_id(collection, doc.id, content_hash, chunk.index),
                vector=vector,
                sparse=document_vector(text),  # the same text as the embedding: title, section path, chunk
                payload={
                    "document_id": doc.id,
                    "title": doc.title,
                    "text": chunk.text,
                    "section": chunk.section,
                    "chunk_index": chunk.index,
                    "source": doc.source,
                    "content_hash": content_hash,
                    "metadata": dict(doc.metadata),
                    JOB_FIELD: job_id,
                },
            )
            for chunk, text, vector in zip(chunks, texts, vectors, strict=True)
        ]
        with stage(self.tracer, "upsert", collection=collection, points=len(points)):
            await self.store.upsert(collection, points)
