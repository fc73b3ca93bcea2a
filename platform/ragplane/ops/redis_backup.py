"""`ragplane redis backup [--to DIR]`: Redis's persistence files, copied whole, with checksums.

Redis is asked for a snapshot (BGSAVE; one already running is waited for, then a fresh one
taken), and once it has finished successfully the RDB file and the append-only directory are
copied from Redis's data directory (`CONFIG GET dir`) into `DIR/redis-<UTC time>/`, with a
`SHA256SUMS` file that `sha256sum -c` checks. The RDB file is a consistent point in time; the
append-only files are copied as they are then (Redis may append to the newest one meanwhile:
a last command cut short is dropped when it is loaded, `aof-load-truncated yes`).

Run it where that data directory can be read: on the Redis host, or in the full stack in a
container that mounts the `redis` volume. docs/redis.md has the restore procedure.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import redis

from ragplane.errors import RedisBackupError
from ragplane.redaction import redacted_url
from ragplane.services.collections.archive import sha256_of

SNAPSHOT_TIMEOUT_S = 600.0
POLL_S = 0.1
SUMS = "SHA256SUMS"


def snapshot(client: redis.Redis, *, timeout_s: float = SNAPSHOT_TIMEOUT_S) -> None:
    """A snapshot started after this call, finished and successful. `rdb_saves` counts the
    snapshots taken (Redis ≥ 7.0); SCHEDULE waits for an append-only rewrite under way."""
    saves = client.info("persistence")["rdb_saves"]
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.bgsave(schedule=True)
            break
        except redis.ResponseError as exc:  # another snapshot is being written: take ours after it
            if "in progress" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(POLL_S)
    while True:
        info = client.info("persistence")
        finished = not info["rdb_bgsave_in_progress"]
        if finished and (info["rdb_saves"] > saves or info["rdb_last_bgsave_status"] != "ok"):
            break
        if time.monotonic() > deadline:
            raise RedisBackupError(f"the snapshot did not finish within {timeout_s:g} s")
        time.sleep(POLL_S)
    if info["rdb_last_bgsave_status"] != "ok":
        raise RedisBackupError("the snapshot failed: see Redis's log (a full disk, or no permission to write)")


def backup(url: str, to: Path, *, say: Callable[[str], None] = print) -> Path:
    """Snapshot, then copy the RDB file and the append-only directory into a new folder under `to`."""
    try:
        with redis.Redis.from_url(url, socket_timeout=30) as client:
            config = client.config_get("dir") | client.config_get("dbfilename") | client.config_get("appenddirname")
            snapshot(client)
    except redis.RedisError as exc:
        raise RedisBackupError(f"Redis at {redacted_url(url)} cannot be asked: {exc}") from exc
    data = Path(config["dir"])
    rdb, aof = data / config["dbfilename"], data / config.get("appenddirname", "appendonlydir")
    if not rdb.is_file():
        raise RedisBackupError(f"{rdb} cannot be read here: run this where Redis's data directory is mounted")
    folder = to / f"redis-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    partial = to / f".{folder.name}.partial"  # renamed when complete: a failed copy leaves no backup's name
    partial.mkdir(parents=True)
    try:
        shutil.copy2(rdb, partial / rdb.name)
        if aof.is_dir():
            shutil.copytree(aof, partial / aof.name)
        files = sorted(p.relative_to(partial) for p in partial.rglob("*") if p.is_file())
        lines = [f"{sha256_of(partial / p)}  {p}" for p in files]
        (partial / SUMS).write_text("\n".join(lines) + "\n")
        partial.rename(folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    for path in files:
        say(f"  {path}  {(folder / path).stat().st_size:,} bytes")
    say(f"Redis backed up to {folder} ({len(files)} files; check with: cd {folder} && sha256sum -c {SUMS})")
    return folder


def command(url: str | None, to: Path, say: Callable[[str], None]) -> int:
    if not url:
        say("ragplane: REDIS_URL is not set: there is no Redis to back up")
        return 2
    try:
        backup(url, to, say=say)
    except (RedisBackupError, OSError) as exc:
        say(f"ragplane: Redis backup failed: {exc}")
        return 1
    return 0
