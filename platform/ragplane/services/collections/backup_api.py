"""The collections service's backup routes, behind the service token like every `/internal` route;
`ragplane backup` and `ragplane restore` call them.

    GET  /internal/backups                       every archive (collection, name, age, size, status),
                                                 and the backups and restores running (points done of total)
    POST /internal/backups  {"collection": NAME}   back up now; what was written (a failure: its problem)
    POST /internal/backups  {"all": true}          every collection; one failing does not stop the others:
                                                   201 with what was written, and what failed and why
    POST /internal/restores {"collection": NAME, "archive"?: FILE, "as"?: NEW_NAME}
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ragplane.errors import ValidationFailed
from ragplane.kit.naming import COLLECTION_NAME, COLLECTION_NAME_RULE
from ragplane.kit.requests import read_json_object
from ragplane.services.collections.backups import Backups

BODY_LIMIT = 4096


def _text(body: dict[str, Any], key: str, *, collection: bool = False) -> str | None:
    """`body[key]`: a non-empty string, and a collection's name when `collection` (the archives'
    folder is named after it: nothing else may reach the file system)."""
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise ValidationFailed([(key, "must be a non-empty string")])
    if collection and value is not None and not COLLECTION_NAME.fullmatch(value):
        raise ValidationFailed([(key, COLLECTION_NAME_RULE)])
    return value


def backup_routes(backups: Backups) -> list[Route]:
    async def listing(request: Request) -> Response:
        archives = [backups.describe(a) for a in backups.archives()]
        return JSONResponse({"backups": archives, "running": backups.running})

    async def create(request: Request) -> Response:
        body = await read_json_object(request, BODY_LIMIT)
        name = _text(body, "collection", collection=True)
        if (name is None) == (body.get("all") is not True):
            raise ValidationFailed([("collection", 'give either "collection": NAME or "all": true')])
        if name:
            return JSONResponse({"backups": [await backups.create(name)], "failed": []}, status_code=201)
        written, failed = await backups.create_all()
        return JSONResponse({"backups": written, "failed": failed}, status_code=201)

    async def restore(request: Request) -> Response:
        body = await read_json_object(request, BODY_LIMIT)
        name = _text(body, "collection", collection=True)
        if name is None:
            raise ValidationFailed([("collection", "is required")])
        source, new_name = _text(body, "archive"), _text(body, "as", collection=True)
        # ArchiveInvalid (422) and RestoreFailed (500 restore-failed) as ragplane.errors maps them.
        return JSONResponse(await backups.restore(name, source=source, new_name=new_name))

    return [
        Route("/internal/backups", listing, methods=["GET"]),
        Route("/internal/backups", create, methods=["POST"]),
        Route("/internal/restores", restore, methods=["POST"]),
    ]
