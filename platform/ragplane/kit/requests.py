"""Reading request bodies safely: size limits, JSON objects, clear errors.

A body larger than the limit is refused with 413 before it is buffered (from
`Content-Length`) or as soon as the stream passes the limit (chunked uploads), so one
large upload cannot exhaust a service's memory.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from ragplane.kit.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequest("Content-Length is not a number.") from None
        if size > limit:
            raise PayloadTooLarge(f"The body is {size} bytes; the limit is {limit} bytes.")
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"The body exceeds the limit of {limit} bytes.")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # let request.form()/json() reuse what was read
    return body


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object, or a 400/413/415 problem that says what is wrong."""
    kind = media_type(request)
    if kind and kind != "application/json" and not kind.endswith("+json"):
        raise UnsupportedMediaType(f"Expected application/json, got {kind}.")
    body = await read_body(request, limit)
    if not body.strip():
        raise BadRequest("The request body is empty; expected a JSON object.")
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(value, dict):
        raise BadRequest(f"Expected a JSON object, got {type(value).__name__}.")
    return value
