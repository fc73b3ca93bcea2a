"""The `ragplane` command.

    ragplane up [--demo]                  the stack: the gateway in a child process, the services here
    ragplane serve gateway|query|collections
    ragplane ingest PATH... --collection NAME [--prefix P] [--delete-missing]   through the gateway
    ragplane delete ID... --collection NAME   delete documents from a collection
    ragplane seed                         ingest ./docs and ./runbooks into `docs`
    ragplane drill breaker --dependency embedder    trip a circuit breaker on purpose
    ragplane drill alert [--prometheus URL] [--alertmanager URL]   time fault → page → resolved
    ragplane gateway export-kong [--check]   generate deploy/kong/kong.yml (Kong DB-less, full stack)
    ragplane token --sub alice --plan pro --ttl 1h    a bearer token signed with JWT_SECRET
    ragplane trace TRACE_ID               one trace's recent spans from every service, as a tree
    ragplane maintenance on|off|status [--message TEXT] [--retry-after S]   the gateway's maintenance switch
    ragplane migrate [--check]            apply (or check) the database schema migrations
    ragplane migrate-json [--dry-run] [--registry PATH] [--skip-chunks]   move the JSON registry into PostgreSQL
    ragplane redis backup [--to DIR]      Redis's RDB and append-only files, with checksums
    ragplane backup --collection NAME | --all | --schedule [CRON] | list;  ragplane restore NAME [--from A] [--as NEW]

Human-facing messages (URLs, progress) go to stderr; stdout carries the JSON logs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import uvloop

from ragplane import __version__, serving
from ragplane.errors import DrillError, IngestError, MaintenanceError, SettingsError
from ragplane.kit.logs import configure_logging
from ragplane.ops import backups, kong, maintenance, migrate, redis_backup, token, trace, transfer
from ragplane.ops.alert_drill import AlertDrill
from ragplane.ops.drill import Drill
from ragplane.ops.ingest import IngestClient, Source, Summary
from ragplane.ops.ingest import run as run_ingest
from ragplane.services.gateway.proxy import Origin, origin
from ragplane.settings import Settings, ensure_env_secrets, load_settings
from ragplane.stack import SERVICES

DEMO_COLLECTION = "docs"
DEMO_PATHS = (Path("docs"), Path("runbooks"))
DEMO_DESCRIPTION = "ragplane's own documentation and runbooks"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ragplane", description="Observability-first RAG services.")
    parser.add_argument("--version", action="version", version=f"ragplane {__version__}")
    parser.add_argument("--env-file", default=".env", help="settings file read after the environment (default .env)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser(
        "up", help="run the stack: query and collections in this process, the gateway in a child process"
    )
    up.add_argument("--demo", action="store_true", help="ingest ./docs and ./runbooks into the 'docs' collection")

    serve = commands.add_parser(
        "serve",
        help="run one service",
        description="Run one service. Query and collections as separate processes need a Qdrant server "
        "(QDRANT_URLS): Qdrant local mode allows one process per data directory.",
    )
    serve.add_argument("service", choices=SERVICES)
    serve.add_argument("--socket-fd", type=int, help=argparse.SUPPRESS)  # `ragplane up`'s gateway: a socket it bound
    serve.add_argument("--parent-fd", type=int, help=argparse.SUPPRESS)  # and the pipe that says `up` is gone

    ingest = commands.add_parser(
        "ingest",
        help="ingest text/Markdown files into a collection of a running stack",
        description=INGEST_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ingest.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="a folder (its .md, .markdown, .txt, .text and .rst files, hidden ones left out) or a file",
    )
    ingest.add_argument("--collection", required=True, help="the collection; created when it does not exist")
    ingest.add_argument("--prefix", default="", help="put PREFIX/ in front of every document id (default: none)")
    ingest.add_argument("--description", default="", help="the collection's description, when it is created")
    ingest.add_argument(
        "--delete-missing",
        action="store_true",
        help="after ingesting, delete the collection's documents (only those under --prefix, if given) "
        "that no PATH has a file for",
    )
    _api_options(ingest)

    delete = commands.add_parser("delete", help="delete documents, by id, from a collection of a running stack")
    delete.add_argument("ids", nargs="+", metavar="ID", help="a document id, as `GET .../documents` lists it")
    delete.add_argument("--collection", required=True, help="the collection that holds them")
    _api_options(delete)

    commands.add_parser("seed", help="ingest ./docs and ./runbooks into the 'docs' collection of a running stack")

    drill = commands.add_parser("drill", help="inject faults into a running stack (game days, alert drills)")
    kinds = drill.add_subparsers(dest="drill", required=True, metavar="DRILL")
    breaker = kinds.add_parser("breaker", help="make a dependency fail until its circuit breaker opens")
    breaker.add_argument("--dependency", required=True, choices=("embedder", "qdrant", "llm"))
    breaker.add_argument("--seconds", type=float, default=60, help="how long the fault lasts (default 60)")
    breaker.add_argument("--mode", default="error", choices=("error", "hang"))
    breaker.add_argument("--requests", type=int, default=6, help="requests sent through the gateway (default 6)")
    breaker.add_argument("--end", action="store_true", help="remove the fault and reset the breaker instead")
    alert = kinds.add_parser(
        "alert",
        help="trip a breaker and time RagplaneCircuitBreakerOpen through Prometheus and Alertmanager",
    )
    # The query service's breakers that page; the others' alerts are tickets after a minute of refusals.
    alert.add_argument("--dependency", default="embedder", choices=("embedder", "qdrant"))
    alert.add_argument("--prometheus", default="http://127.0.0.1:9090", help="Prometheus URL (default %(default)s)")
    alert.add_argument("--alertmanager", default="http://127.0.0.1:9093", help="Alertmanager URL (default %(default)s)")
    alert.add_argument("--collection", default=DEMO_COLLECTION, help="the collection asked (default %(default)s)")
    alert.add_argument("--timeout", type=float, default=120, help="give up when one step takes longer (seconds)")
    alert.add_argument(
        "--hold", type=float, default=30, help="how long to wait for the page once Alertmanager has the alert"
    )
    alert.add_argument("--requests", type=int, default=6, help="requests sent through the gateway (default 6)")
    gateway = commands.add_parser("gateway", help="the edge's generated configuration")
    gateway_commands = gateway.add_subparsers(dest="gateway_command", required=True, metavar="COMMAND")
    export = gateway_commands.add_parser("export-kong", help="write deploy/kong/kong.yml for the full stack's Kong")
    export.add_argument("--output", type=Path, default=None, help="where (default deploy/kong/kong.yml)")
    export.add_argument("--check", action="store_true", help="write nothing; exit 1 when the file differs")

    token = commands.add_parser("token", help="print a signed bearer token (JWT_SECRET) for local use")
    token.add_argument("--sub", required=True, help="the consumer (the rate-limit key)")
    token.add_argument("--plan", default=None, help="its plan (default: RATE_LIMIT_DEFAULT_PLAN)")
    token.add_argument("--ttl", default="1h", help="lifetime: 90, 90s, 15m, 1h, 7d (default 1h)")
    traced = commands.add_parser("trace", help="print one trace's recent spans from every service as a tree")
    traced.add_argument("trace_id", metavar="TRACE_ID", help="32 hex digits: a log line's or problem's trace_id")

    maintenance = commands.add_parser("maintenance", help="switch the gateway's maintenance mode (API answers 503)")
    maintenance.add_argument("action", choices=("on", "off", "status"))
    maintenance.add_argument("--message", help="what API callers and the web page are told")
    maintenance.add_argument("--retry-after", type=int, default=300, help="Retry-After seconds (default 300)")
    maintenance.add_argument("--url", help="gateway URL (default: http://RAGPLANE_HOST:GATEWAY_PORT)")

    schema = commands.add_parser("migrate", help="apply pending database migrations (DATABASE_URL)")
    schema.add_argument(
        "--check", action="store_true", help="apply nothing; exit 1 when migrations are pending, 0 when current"
    )
    move = commands.add_parser(
        "migrate-json",
        help="copy the JSON registry into PostgreSQL (DATABASE_URL) and verify it arrived intact",
    )
    move.add_argument("--dry-run", action="store_true", help="write nothing; show what would be copied and checked")
    move.add_argument("--registry", type=Path, help="the JSON registry (default: RAGPLANE_DATA_DIR/collections.json)")
    move.add_argument(
        "--skip-chunks",
        action="store_true",
        help="leave Qdrant alone: do not rebuild chunk rows from it; their check is for information only",
    )
    backups.add_commands(commands)
    redis = commands.add_parser("redis", help="Redis's persistence files (REDIS_URL; docs/redis.md)")
    redis_actions = redis.add_subparsers(dest="redis", required=True, metavar="ACTION")
    redis_backup_parser = redis_actions.add_parser("backup", help="snapshot, then copy the RDB and AOF files")
    redis_backup_parser.add_argument("--to", type=Path, help="where (default: BACKUP_DIR)")
    return parser


INGEST_HELP = """\
Ingest text and Markdown files into a collection of a running ragplane, through its API.

Document ids: a folder's files are named by their path inside that folder
(`ragplane ingest ~/cooking` stores cooking/pasta/risotto.md as `pasta/risotto.md`),
a file given by name by its file name (as an upload is), with --prefix in front. The
working directory does not matter: ingesting the same files again updates the changed
ones and skips the rest. PATHs whose files would get the same id are refused: ingest
them in separate runs with different --prefix values. Files must be UTF-8 text; the others are named with the reason
and left out, the rest ingested. The exit status is 1 when any file was refused or failed.

By default the command goes through the gateway (http://RAGPLANE_HOST:GATEWAY_PORT),
anonymously or with --token / RAGPLANE_TOKEN for a bigger plan; --url points it
elsewhere. INTER_SERVICE_SECRET is sent only when --url is the collections service
these settings name (COLLECTIONS_URL, or RAGPLANE_HOST:COLLECTIONS_PORT).
"""


def _api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        help="the gateway, or the collections service (INTER_SERVICE_SECRET is sent only to the one "
        "COLLECTIONS_URL or COLLECTIONS_PORT names) "
        "(default: http://RAGPLANE_HOST:GATEWAY_PORT, the gateway)",
    )
    parser.add_argument("--token", help="a bearer token for the gateway (default: RAGPLANE_TOKEN; none: anonymous)")


def _client(settings: Settings, args: argparse.Namespace) -> IngestClient:
    """The gateway unless --url says otherwise. The service secret goes only to the collections
    service these settings name (COLLECTIONS_URL, or RAGPLANE_HOST:COLLECTIONS_PORT): a --url
    elsewhere, mistyped or hostile, never receives it."""
    url = args.url or settings.gateway_url
    trusted = _origin(url) == _origin(settings.upstream_url("collections"))
    secret = settings.service_token if trusted else None
    saved = settings.server.token.get_secret_value() if settings.server.token else None
    return IngestClient(url, token=args.token or saved, service_token=secret, say=_say)


def _origin(url: str) -> tuple[str, Origin | None]:
    """Scheme, host and port, the default port spelled out, so `http://h` and `http://h:80` match."""
    return urlsplit(url.strip()).scheme.lower(), origin(url.strip())


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "up" and (written := ensure_env_secrets(args.env_file)):
            _say(f"Generated {' and '.join(written)} into {args.env_file}.")
        settings = load_settings(env_file=args.env_file)
    except SettingsError as exc:
        _say(f"ragplane: configuration error: {exc}")
        return 2
    configure_logging(settings.telemetry.log_level, log_format=settings.telemetry.log_format)
    if args.command in ("up", "serve"):
        return _run_services(settings, args)
    if args.command == "seed":
        return _report(asyncio.run(_seed(settings)))
    if args.command == "drill":
        return _drill(settings, args)
    if args.command == "migrate":
        return migrate.command(settings, check=args.check, say=_say)
    if args.command == "maintenance":
        return _maintenance(settings, args)
    if args.command == "gateway":
        return kong.export(settings, args.output or kong.DEFAULT_OUTPUT, check=args.check, say=_say)
    if args.command == "token":
        plan = args.plan or settings.gateway.default_plan
        return token.command(settings, sub=args.sub, plan=plan, ttl=args.ttl, say=_say)
    if args.command == "trace":
        return trace.command(settings, args.trace_id, say=_say)
    if args.command == "migrate-json":
        return transfer.run(settings, args.registry, dry_run=args.dry_run, say=_say, skip_chunks=args.skip_chunks)
    if args.command in ("backup", "restore"):
        return backups.run(settings, args, _say)
    if args.command == "redis":
        return redis_backup.command(settings.cache.redis_url, args.to or settings.backups, _say)
    if args.command == "delete":
        return asyncio.run(_delete(_client(settings, args), args.collection, args.ids))
    sources = [Source(path, args.prefix) for path in args.paths]
    run = _ingest(_client(settings, args), sources, args.collection, args.description, delete=args.delete_missing)
    return _report(asyncio.run(run))


async def _ingest(
    client: IngestClient, sources: Sequence[Source], collection: str, description: str, *, delete: bool = False
) -> Summary | str:
    try:
        async with client:
            return await run_ingest(client, sources, collection, description=description, delete=delete)
    except IngestError as exc:
        return str(exc)


async def _delete(client: IngestClient, collection: str, ids: Sequence[str]) -> int:
    missing = 0
    try:
        async with client:
            for doc_id in ids:
                found = await client.delete_document(collection, doc_id)
                missing += not found
                _say(f"deleted {doc_id}" if found else f"ragplane: {collection} has no document {doc_id!r}")
    except IngestError as exc:
        _say(f"ragplane: {exc}")
        return 1
    return 1 if missing else 0


async def _seed(settings: Settings, url: str | None = None) -> Summary | str:
    """The demo corpus, each folder under its own name (`docs/api.md`, `runbooks/on-call.md`),
    straight to the collections service with the service secret."""
    sources = [Source(path, path.name) for path in DEMO_PATHS if path.is_dir()]
    if not sources:
        return "no ./docs or ./runbooks here: run from the ragplane checkout"
    url = url or settings.upstream_url("collections")
    client = IngestClient(url, service_token=settings.service_token, say=_say)
    return await _ingest(client, sources, DEMO_COLLECTION, DEMO_DESCRIPTION)


def _drill(settings: Settings, args: argparse.Namespace) -> int:
    drill = Drill(
        service_url=settings.upstream_url("query"),
        gateway_url=settings.gateway_url,
        token=settings.service_token or "",
        dependency=args.dependency,
        say=_say,
        collection=getattr(args, "collection", DEMO_COLLECTION),
    )
    try:
        if args.drill == "alert":
            AlertDrill(
                drill,
                args.prometheus.rstrip("/"),
                args.alertmanager.rstrip("/"),
                _say,
                timeout_s=args.timeout,
                hold_s=args.hold,
            ).run(requests=args.requests)
        elif args.end:
            drill.end()
        else:
            drill.start(seconds=args.seconds, mode=args.mode, requests=args.requests)
    except (DrillError, httpx.HTTPError) as exc:
        _say(f"ragplane: drill failed: {exc}")
        return 1
    return 0


def _maintenance(settings: Settings, args: argparse.Namespace) -> int:
    url = args.url or settings.gateway_url
    try:
        state = maintenance.switch(
            url, settings.service_token or "", args.action, message=args.message, retry_after=args.retry_after
        )
    except (MaintenanceError, httpx.HTTPError) as exc:
        _say(f"ragplane: {exc}")
        return 1
    _say(maintenance.describe(state))
    return 0


def _run_services(settings: Settings, args: argparse.Namespace) -> int:
    services = SERVICES if args.command == "up" else (args.service,)

    async def seed_demo(urls: Mapping[str, str]) -> None:
        _report(await _seed(settings, urls["collections"]))

    demo = args.command == "up" and args.demo
    serve = serving.serve(
        settings,
        services,
        env_file=args.env_file,
        say=_say,
        after_up=seed_demo if demo else None,
        socket_fd=getattr(args, "socket_fd", None),
        parent_fd=getattr(args, "parent_fd", None),
    )
    # uvloop: libuv's event loop, whose sockets cost a request much less than asyncio's own (docs/performance.md).
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(serve)


def _report(result: Summary | str) -> int:
    if isinstance(result, str):
        _say(f"ragplane: {result}")
        return 1
    for name, reason in result.refused:
        _say(f"  refused {name}: {reason}")
    for doc_id in result.deleted:
        _say(f"  deleted {doc_id}")
    for error in result.errors:
        _say(f"  job failed: {error}")
    _say(
        f"{result.ingested} ingested, {result.skipped} unchanged, {result.failed} failed, "
        f"{len(result.refused)} refused, {len(result.deleted)} deleted ({result.chunks} chunks)."
    )
    return 1 if result.failed or result.errors or result.refused else 0


if __name__ == "__main__":
    sys.exit(main())
