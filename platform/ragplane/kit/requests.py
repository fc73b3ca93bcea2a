"""Reading request bodies safely: size limits, JSON objects, clear errors.

A body larger than the limit is refused with 413 before it is buffered (from
`Content-Length`) or as soon as the stream passes the limit (chunked uploads), so one
large upload cannot exhaust a service's memory.

JSON from a client is parsed by `parse_json` only, which refuses with a 400 what the
standard library would accept and our code (or a library after it) would choke on:
nesting deeper than `MAX_JSON_DEPTH` (so every walk over a body is bounded and none can
hit Python's recursion limit), integers outside 64 bits (Qdrant payloads and PostgreSQL
`bigint` hold no more, and a 5,000-digit literal exceeds Python's int conversion limit),
`NaN`/`Infinity` and numbers that overflow to infinity (not JSON), and lone UTF-16
surrogates such as `"\ud800"` (not Unicode text: encoding them for the tokenizer or a
database fails).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

from starlette.requests import Request

from ragplane.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType


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
    value = parse_json(body)
    if not isinstance(value, dict):
        raise BadRequest(f"Expected a JSON object, got {type(value).__name__}.")
    return value


MAX_JSON_DEPTH = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_json(body: bytes) -> Any:
    """A client's JSON as Python values, or a 400 problem saying in plain words what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The request body is not UTF-8 text (invalid byte at position {exc.start}).") from None
    try:
        value = json.loads(text, parse_int=_integer, parse_float=_real, parse_constant=_constant)
    except RecursionError:
        raise BadRequest(_too_deep()) from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}.") from None
    _check_nesting_and_text(value)
    return value


def _integer(literal: str) -> int:
    # Length first: int() refuses literals over 4,300 digits with an error of its own.
    if len(literal.lstrip("-")) <= 19 and INT64_MIN <= (value := int(literal)) <= INT64_MAX:
        return value
    shown = literal if len(literal) <= 24 else f"{literal[:12]}... ({len(literal)} characters)"
    raise BadRequest(f"The request body has the integer {shown}, outside the 64-bit range; send it as a string.")


def _real(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise BadRequest("The request body has a number too large to represent; send it as a string.")
    return value


def _constant(name: str) -> NoReturn:
    raise BadRequest(f"The request body has {name}, which is not JSON; send a number or null.")


def _too_deep() -> str:
    return f"The request body nests arrays or objects deeper than {MAX_JSON_DEPTH} levels."


def _check_text(value: str) -> None:
    if not value.isascii() and _SURROGATE.search(value):
        raise BadRequest(
            "The request body has a lone UTF-16 surrogate escape (such as \\ud800) in a string: "
            "that is not Unicode text. Send characters as UTF-8, or escape one outside the BMP as a surrogate pair."
        )


def _check_nesting_and_text(value: Any) -> None:
    """Depth and strings of a parsed body, without recursion (depth 1 is the outermost container)."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_text(item)
            continue
        if not isinstance(item, dict | list):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise BadRequest(_too_deep())
        if isinstance(item, dict):
            for key in item:
                _check_text(key)
            item = item.values()
        pending.extend((child, depth + 1) for child in item)
