"""`ragplane backup` and `ragplane restore`: the collections service's backup routes, called
with the service token (docs/backups.md).

    ragplane backup --collection NAME | --all    write an archive of each into BACKUP_DIR
    ragplane backup list                         the archives: collection, age, size, status
    ragplane restore NAME [--from ARCHIVE] [--as NEW_NAME]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import httpx

from ragplane.kit.service_auth import HEADER
from ragplane.ops.ingest_client import problem_text
from ragplane.settings import Settings

TIMEOUT_S = 3600.0  # a big collection takes a while; the service, not the client, bounds the work

Say = Callable[[str], None]


def add_commands(commands: Any) -> None:
    backup = commands.add_parser(
        "backup", help="back up collections into BACKUP_DIR, or list the archives (`backup list`)"
    )
    backup.add_argument("action", nargs="?", choices=["list"], help="list the archives instead")
    which = backup.add_mutually_exclusive_group()
    which.add_argument("--collection", help="the collection to back up")
    which.add_argument("--all", action="store_true", help="every collection")
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
    headers = {HEADER: settings.inter_service_secret or ""}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=TIMEOUT_S) as client:
            if args.command == "restore":
                return _restore(client, args, say)
            if args.action == "list":
                return _list(client, say)
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
    response = client.post("/internal/backups", json=body)
    if _failed(response, say):
        return 1
    for made in response.json()["backups"]:
        say(f"  {made['collection']}: {made['archive']} ({_size(made['size_bytes'])})")
    return 0


def _list(client: httpx.Client, say: Say) -> int:
    response = client.get("/internal/backups")
    if _failed(response, say):
        return 1
    archives = response.json()["backups"]
    if not archives:
        say("no backups yet: `ragplane backup --all` makes them")
    for a in archives:
        age, size = _age(a["age_seconds"]), _size(a["size_bytes"])
        say(f"{a['collection']:24} {a['archive']:52} {age:>7} {size:>9}  {a['status']}")
    return 0


def _restore(client: httpx.Client, args: argparse.Namespace, say: Say) -> int:
    say(f"restoring {args.collection}{f' as {args.new_name}' if args.new_name else ''}…")
    body = {"collection": args.collection, "archive": args.source, "as": args.new_name}
    response = client.post("/internal/restores", json={k: v for k, v in body.items() if v})
    if _failed(response, say):
        return 1
    report = response.json()
    how = "replacing the previous copy" if report["replaced"] else "as a new collection"
    say(f"restored {report['collection']} from {report['archive']}: {report['points']} points, verified, {how}")
    return 0
