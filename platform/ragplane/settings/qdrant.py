"""Where the vectors live: the Qdrant nodes, and how the node pool treats them.

No URL means the embedded engine under the data directory (`Settings.qdrant_path`).
"""

from __future__ import annotations

from typing import Self

from pydantic import AliasChoices, Field, PositiveFloat, PositiveInt, model_validator

from ragplane.settings._reading import Section
from ragplane.settings.types import Credential, Urls


class QdrantSettings(Section):
    urls: Urls = Field((), validation_alias=AliasChoices("QDRANT_URLS", "QDRANT_URL"))
    api_key: Credential | None = Field(None, validation_alias="QDRANT_API_KEY")
    # What a new collection asks of a cluster: copies of each shard, and how many of them must
    # apply a write before it is acknowledged (a majority of 3 keeps writing with a node lost).
    replication_factor: PositiveInt = Field(3, validation_alias="QDRANT_REPLICATION_FACTOR")
    write_consistency_factor: PositiveInt = Field(2, validation_alias="QDRANT_WRITE_CONSISTENCY_FACTOR")
    # Each node's readiness probe; a node down is found this fast.
    probe_interval_s: PositiveFloat = Field(1.0, validation_alias="QDRANT_PROBE_INTERVAL_S")
    # Seconds for one call to one node, before it counts as failed (and a read moves on).
    timeout_s: PositiveInt = Field(10, validation_alias="QDRANT_TIMEOUT_S")

    @model_validator(mode="after")
    def _writes_wait_for_copies_that_exist(self) -> Self:
        if self.write_consistency_factor > self.replication_factor:
            raise ValueError(
                f"QDRANT_WRITE_CONSISTENCY_FACTOR={self.write_consistency_factor} cannot exceed "
                f"QDRANT_REPLICATION_FACTOR={self.replication_factor}: a write cannot wait for more copies than exist"
            )
        return self

    @property
    def pooled(self) -> bool:
        return len(self.urls) > 1

    def copies(self) -> tuple[int, int] | None:
        """(replication factor, write consistency factor) for a new collection, each capped at the
        nodes listed; None with one URL, which leaves the server's own defaults."""
        if not self.pooled:
            return None
        replicas = min(self.replication_factor, len(self.urls))
        return replicas, min(self.write_consistency_factor, replicas)
