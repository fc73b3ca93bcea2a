"""Where the vectors live: the Qdrant nodes, and how the node pool treats them.

A section of `Settings` (`settings.qdrant`), declared here to keep `settings.py` small; the
environment is still read only through the reader `settings.load_settings` hands to
`read_qdrant`. No URL means the embedded engine under the data directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ragplane import parsing
from ragplane.parsing import URLS, Read, SettingsError


@dataclass(frozen=True)
class QdrantSettings:
    urls: tuple[str, ...] = ()
    api_key: str | None = field(default=None, metadata={"secret": True})
    # What a new collection asks of a cluster: copies of each shard, and how many of them must
    # apply a write before it is acknowledged (a majority of 3 keeps writing with a node lost).
    replication_factor: int = 3
    write_consistency_factor: int = 2
    probe_interval_s: float = 1.0  # each node's readiness probe; a node down is found this fast
    timeout_s: int = 10  # seconds for one call to one node, before it counts as failed (and a read moves on)

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


def read_qdrant(read: Read) -> QdrantSettings:
    """The section, as `settings.load_settings` reads it."""
    d = QdrantSettings()
    qdrant = QdrantSettings(
        urls=read("QDRANT_URLS", URLS, ()) or read("QDRANT_URL", URLS, ()),
        api_key=read("QDRANT_API_KEY", str, None, secret=True),
        replication_factor=read("QDRANT_REPLICATION_FACTOR", parsing.positive_int, d.replication_factor),
        write_consistency_factor=read(
            "QDRANT_WRITE_CONSISTENCY_FACTOR", parsing.positive_int, d.write_consistency_factor
        ),
        probe_interval_s=read("QDRANT_PROBE_INTERVAL_S", parsing.positive_float, d.probe_interval_s),
        timeout_s=read("QDRANT_TIMEOUT_S", parsing.positive_int, d.timeout_s),
    )
    if qdrant.write_consistency_factor > qdrant.replication_factor:
        raise SettingsError(
            f"QDRANT_WRITE_CONSISTENCY_FACTOR={qdrant.write_consistency_factor} cannot exceed "
            f"QDRANT_REPLICATION_FACTOR={qdrant.replication_factor}: a write cannot wait for more copies than exist"
        )
    return qdrant
