"""Where data is kept beyond a process: the Redis cache, PostgreSQL, the query log written to it,
and the backups. Each store is optional: without its URL ragplane keeps the data in process or in
files under the data directory.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PositiveFloat, PositiveInt

from ragplane.settings._reading import Section
from ragplane.settings.types import Cron, Flag, PostgresUrl, RedisUrl, Text


class CacheSettings(Section):
    # Also the gateway's rate-limit counters and maintenance switch; unset: everything in process.
    redis_url: RedisUrl | None = Field(None, validation_alias="REDIS_URL")
    redis_key_prefix: Text = Field("ragplane", validation_alias="REDIS_KEY_PREFIX")
    cache_ttl_s: PositiveFloat = Field(300.0, validation_alias="CACHE_TTL_S")
    cache_entries: PositiveInt = Field(1024, validation_alias="CACHE_ENTRIES")


class DatabaseSettings(Section):
    # The registry, ingestion jobs and query logs; unset: the JSON registry and no query log.
    database_url: PostgresUrl | None = Field(None, validation_alias="DATABASE_URL")
    database_pool_size: PositiveInt = Field(10, validation_alias="DATABASE_POOL_SIZE")
    database_timeout_s: PositiveFloat = Field(5.0, validation_alias="DATABASE_TIMEOUT_S")
    database_migrate_on_start: Flag = Field(True, validation_alias="DATABASE_MIGRATE_ON_START")
    database_retry_s: PositiveFloat = Field(2.0, validation_alias="DATABASE_RETRY_S")
    # The maintenance run: rollups, time partitions, and rows past their retention dropped.
    database_maintenance_s: PositiveFloat = Field(60.0, validation_alias="DATABASE_MAINTENANCE_S")
    query_log_retention_days: PositiveInt = Field(30, validation_alias="QUERY_LOG_RETENTION_DAYS")
    job_retention_days: PositiveInt = Field(90, validation_alias="JOB_RETENTION_DAYS")


class QueryLogSettings(Section):
    """How the query service batches its log rows into PostgreSQL (with DATABASE_URL only)."""

    query_log_batch_size: PositiveInt = Field(200, validation_alias="QUERY_LOG_BATCH_SIZE")
    query_log_flush_s: PositiveFloat = Field(1.0, validation_alias="QUERY_LOG_FLUSH_S")
    query_log_buffer: PositiveInt = Field(10_000, validation_alias="QUERY_LOG_BUFFER")


class BackupSettings(Section):
    backup_dir: Path | None = Field(None, validation_alias="BACKUP_DIR")  # None: RAGPLANE_DATA_DIR/backups
    backup_retention_days: PositiveInt = Field(7, validation_alias="BACKUP_RETENTION_DAYS")
    backup_schedule: Cron = Field("0 2 * * *", validation_alias="BACKUP_SCHEDULE")  # None: no scheduled backups
