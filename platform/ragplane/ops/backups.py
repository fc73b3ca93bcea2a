"""`ragplane backup` and `ragplane restore`: the collections service's backup routes, called
with the service token (docs/backups.md).

    ragplane backup --collection NAME | --all    write an archive of each into BACKUP_DIR
    ragplane backup --schedule [CRON]            keep running: --all at each time CRON names (UTC;
                                                 default BACKUP_SCHEDULE): the compose stack's backup service
    ragplane backup list                         the archives: collection, age, size, status
    ragplane restore NAME [--from ARCHIVE] [--as NEW_NAME]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from croniter import croniter
from tqdm import tqdm

from ragplane import parsing
from ragplane.kit.service_auth import HEADER
from ragplane.ops.ingest_client import problem_text
from ragplane.settings import Settings

TIMEOUT_S = 3600.0  # a big collection takes a while; the service, not the client, bounds the work
PROGRESS_EVERY_S = 0.25
# Touched while the scheduler waits: its container's health check reads the file's age.
HEARTBEAT = Path(tempfile.gettempdir()) / "ragplane-backup-scheduler.alive"
HEARTBEAT_EVERY_S = 30.0

Say = Callable[[str], None]


def add_commands(commands: Any) -> None:
    backup = commands.add_parser(
        "backup", help="back up collections into BACKUP_DIR, or list the archives (`backup list`)"
    )
    backup.add_argument("action", nargs="?", choices=["list"], help="list the archives instead")
    which = backup.add_mutually_exclusive_group()
    which.add_argument("--collection", help="the collection to back up")
    which.add_argument("--all", action="store_true", help="every collection")
    which.add_argument(
        "--schedule",
        nargs="?",
        const="",
        metavar="CRON",
        help="keep running, backing every collection up at each time CRON names (UTC; default BACKUP_SCHEDULE)",
    )
    restore = commands.add_parser(
        "restore", help="restore a collection from its newest archive (or --from), verified before it replaces anything"
    )
    restore.add_argument("collection", help="the collection whose archive to restore")
    restore.add_argument(
        "--from", dest="source", metavar="ARCHIVE", help="an archive's file name (default: the newest)"
    )
    restore.add_argument("--as", dest="new_name", metavar="NEW_NAME", help="restore into a new collection")


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _age(seconds: int) -> str:
    return (
        f"{seconds // 86400} d"
        if seconds >= 86400
        else f"{seconds // 3600} h"
        if seconds >= 3600
        else f"{seconds // 60} min"
    )


def run(settings: Settings, args: argparse.Namespace, say: Say) -> int:
    url = settings.upstream_url("collections")
    headers = {HEADER: settings.service_token or ""}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=TIMEOUT_S) as client:
            if args.command == "restore":
                return _restore(client, args, say)
            if args.action == "list":
                return _list(client, say)
            if args.schedule is not None:
                cron = _schedule(args.schedule) if args.schedule else settings.backup.backup_schedule
                if cron is None:
                    say(f"ragplane: --schedule needs a cron expression such as '0 2 * * *' (got {cron!r})")
                    return 2
                return scheduled(client, cron, say)
            if not (args.collection or args.all):
                say("ragplane: name a collection (--collection NAME) or --all")
                return 2
            return _backup(client, args, say)
    except httpx.HTTPError as exc:
        say(f"ragplane: cannot reach the collections service at {url} ({exc}); is `ragplane up` running?")
        return 1


def _failed(response: httpx.Response, say: Say) -> bool:
    if response.is_success:
        return False
    say(f"ragplane: {problem_text(response)}")
    return True


def _backup(client: httpx.Client, args: argparse.Namespace, say: Say) -> int:
    say(f"backing up {args.collection or 'every collection'}…")
    body = {"collection": args.collection} if args.collection else {"all": True}
    response = _with_progress(client, "backup", lambda: client.post("/internal/backups", json=body))
    if _failed(response, say):
        return 1
    outcome = response.json()
    for made in outcome["backups"]:
        say(f"  {made['collection']}: {made['archive']} ({_size(made['size_bytes'])})")
    for failed in outcome["failed"]:
        say(f"  {failed['collection']}: FAILED ({failed['error']})")
    return 1 if outcome["failed"] else 0


def _schedule(raw: str) -> str | None:
    """`--schedule CRON` as BACKUP_SCHEDULE is read (`parsing.cron`); None when it names no times."""
    try:
        return parsing.cron(raw)
    except ValueError:
        return None


def scheduled(
    client: httpx.Client,
    cron: str,
    say: Say,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Back every collection up at each time `cron` names, until stopped; a failed run waits for the next."""
    times = croniter(cron, clock())
    say(f"backing up every collection at {cron!r} (UTC)")
    while True:
        due: datetime = times.get_next(datetime)
        while (left := (due - clock()).total_seconds()) > 0:
            HEARTBEAT.touch()
            sleep(min(left, HEARTBEAT_EVERY_S))
        HEARTBEAT.touch()
        try:
            _backup(client, argparse.Namespace(collection=None, all=True), say)
        except httpx.HTTPError as exc:
            say(f"ragplane: the backup due at {due} could not reach the collections service ({exc}); next time again")


def _list(client: httpx.Client, say: Say) -> int:
    response = client.get("/internal/backups")
    if _failed(response, say):
        return 1
    listing = response.json()
    archives, running = listing["backups"], listing["running"]
    if not archives:
        say("no backups yet: `ragplane backup --all` makes them")
    for a in archives:
        age, size = _age(a["age_seconds"]), _size(a["size_bytes"])
        say(f"{a['collection']:24} {a['archive']:52} {age:>7} {size:>9}  {a['status']}")
    for task in running:
        say(f"{task['collection']:24} {task['action']} running: {task['points']} of {task['total']} points")
    return 0


def _with_progress(client: httpx.Client, action: str, call: Callable[[], httpx.Response]) -> httpx.Response:
    """`call()`, with a progress bar on a terminal fed by the listing's `running` while it waits."""
    bar = tqdm(total=0, unit="point", desc=action, file=sys.stderr, disable=None, leave=True)
    with ThreadPoolExecutor(max_workers=1) as pool, bar:
        answer = pool.submit(call)
        while not bar.disable and not wait([answer], timeout=PROGRESS_EVERY_S).done:
            try:
                tasks = [t for t in client.get("/internal/backups").json()["running"] if t["action"] == action]
            except (httpx.HTTPError, ValueError, KeyError):
                continue  # the bar is a courtesy: the answer decides
            bar.total = max(bar.total, sum(t["total"] for t in tasks))
            bar.update(max(0, sum(t["points"] for t in tasks) - bar.n))
        return answer.result()


def _restore(client: httpx.Client, args: argparse.Namespace, say: Say) -> int:
    say(f"restoring {args.collection}{f' as {args.new_name}' if args.new_name else ''}…")
    body = {"collection": args.collection, "archive": args.source, "as": args.new_name}
    restore = {k: v for k, v in body.items() if v}
    response = _with_progress(client, "restore", lambda: client.post("/internal/restores", json=restore))
    if _failed(response, say):
        return 1
    report = response.json()
    how = "replacing the previous copy" if report["replaced"] else "as a new collection"
    say(f"restored {report['collection']} from {report['archive']}: {report['points']} points, verified, {how}")
    return 0
