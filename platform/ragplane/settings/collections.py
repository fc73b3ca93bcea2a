"""Collections: the one a request gets when it names none, and how documents are uploaded,
chunked and ingested."""

from __future__ import annotations

from typing import Self

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from ragplane.settings._reading import Section
from ragplane.settings.types import Text


class CollectionSettings(Section):
    default_collection: Text = Field("docs", validation_alias="RAGPLANE_DEFAULT_COLLECTION")
    ingest_concurrency: PositiveInt = Field(2, validation_alias="INGEST_CONCURRENCY")
    ingest_max_jobs: PositiveInt = Field(32, validation_alias="INGEST_MAX_JOBS")
    max_upload_bytes: PositiveInt = Field(20 * 1024 * 1024, validation_alias="MAX_UPLOAD_BYTES")
    chunk_size_chars: PositiveInt = Field(800, validation_alias="CHUNK_SIZE_CHARS")
    chunk_overlap_chars: NonNegativeInt = Field(120, validation_alias="CHUNK_OVERLAP_CHARS")

    @model_validator(mode="after")
    def _overlap_within_a_chunk(self) -> Self:
        if self.chunk_overlap_chars >= self.chunk_size_chars:
            raise ValueError(
                f"CHUNK_OVERLAP_CHARS={self.chunk_overlap_chars} must be smaller than "
                f"CHUNK_SIZE_CHARS={self.chunk_size_chars}"
            )
        return self
