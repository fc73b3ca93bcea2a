"""What every backup and restore leaves behind: metrics, a JSON line in `BACKUP_DIR/backup.log`,
and a line in the service's JSON log.

`ragplane_backup_last_success_timestamp_seconds` and `ragplane_backup_size_bytes` are also set at
start from the archives already on disk, so a restarted service does not look as if it had
never backed anything up (`RagplaneBackupStale` compares the timestamp with now).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragplane.errors import CollectionNotFound, DependencyError, RegistryError
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

LOG = "backup.log"

log = logging.getLogger("ragplane.backups")


def reason_of(exc: BaseException) -> str:
    """The `reason` label of a failed backup."""
    if isinstance(exc, CollectionNotFound):
        return "collection_missing"
    if isinstance(exc, DependencyError):
        return "store"
    if isinstance(exc, RegistryError):
        return "registry"
    if isinstance(exc, OSError):
        return "disk"
    return "internal"


class BackupJournal:
    def __init__(self, folder: Path, metrics: ServiceMetrics) -> None:
        self.folder = folder
        self.metrics_registry = metrics.registry
        self.last_success = metrics.gauge(catalog.BACKUP_LAST_SUCCESS)
        self.size = metrics.gauge(catalog.BACKUP_SIZE)
        self.duration = metrics.histogram(catalog.BACKUP_DURATION).labels()
        self.failures = metrics.counter(catalog.BACKUP_FAILURES)
        self.restores = metrics.counter(catalog.RESTORES)

    def _append(self, entry: dict[str, Any]) -> None:
        line = {"time": datetime.now(UTC).isoformat().replace("+00:00", "Z"), **entry}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with (self.folder / LOG).open("a") as out:
                out.write(json.dumps(line) + "\n")
        except OSError as exc:  # the log must not turn a backup into a failure
            log.warning("cannot append to %s: %s", self.folder / LOG, exc)

    def publish(self, collection: str, archive: Path) -> int:
        """The archive as the collection's newest good one, in the gauges; its size."""
        stat = archive.stat()
        self.last_success.labels(collection=collection).set(stat.st_mtime)
        self.size.labels(collection=collection).set(stat.st_size)
        return stat.st_size

    def succeeded(self, collection: str, archive: Path, seconds: float) -> None:
        size = self.publish(collection, archive)
        self.duration.observe(seconds)
        self._append(
            {
                "event": "backup",
                "collection": collection,
                "result": "ok",
                "archive": archive.name,
                "bytes": size,
                "seconds": round(seconds, 3),
            }
        )
        fields = {"event": "backup", "collection": collection, "archive": archive.name, "bytes": size}
        log.info(
            "backed up %s to %s (%d bytes, %.1f s)", collection, archive.name, size, seconds, extra={"fields": fields}
        )

    def failed(self, collection: str, exc: BaseException, seconds: float) -> None:
        reason = reason_of(exc)
        self.failures.labels(reason=reason).inc()
        self._append(
            {
                "event": "backup",
                "collection": collection,
                "result": "failed",
                "reason": reason,
                "error": str(exc) or type(exc).__name__,
                "seconds": round(seconds, 3),
            }
        )
        fields = {"event": "backup_failed", "collection": collection, "reason": reason}
        log.error("backing up %s failed (%s): %s", collection, reason, exc, extra={"fields": fields})

    def restored(self, collection: str, result: str, detail: str) -> None:
        self.restores.labels(result=result).inc()
        self._append({"event": "restore", "collection": collection, "result": result, "detail": detail})
