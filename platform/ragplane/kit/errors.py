"""Errors that leave a service as `application/problem+json` (RFC 9457).

Every exception a handler raises on purpose is one of these small classes; each
carries its HTTP status, a fixed title, a human detail and optional headers, and maps
to exactly one problem document. Anything else becomes a 500 whose detail never
includes a stack trace (the trace id in the body finds the logged one).

    ProblemError
     ├── BadRequest               400 bad-request
     ├── Unauthorized             401 unauthorized
     ├── Forbidden                403 forbidden
     ├── NotFound                 404 not-found
     ├── MethodNotAllowed         405 method-not-allowed
     ├── Conflict                 409 conflict
     ├── PayloadTooLarge          413 payload-too-large
     ├── UnsupportedMediaType     415 unsupported-media-type
     ├── ValidationFailed         422 validation-failed   (+ "errors": [{"field", "message"}])
     ├── HeadersTooLarge          431 headers-too-large
     ├── BadGateway               502 bad-gateway
     ├── ServiceUnavailable       503 service-unavailable (+ Retry-After)
     └── GatewayTimeout           504 gateway-timeout
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from starlette.responses import Response

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:ragplane:problem:"


class ProblemError(Exception):
    """Base of every error that maps to a problem+json response."""

    status = 500
    slug = "internal-error"

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra


class BadRequest(ProblemError):
    status, slug = 400, "bad-request"


class Unauthorized(ProblemError):
    status, slug = 401, "unauthorized"


class Forbidden(ProblemError):
    status, slug = 403, "forbidden"


class NotFound(ProblemError):
    status, slug = 404, "not-found"


class DocumentNotFound(NotFound):
    """Its own type, so a client deleting documents can tell an absent document from an absent collection."""

    slug = "document-not-found"


class MethodNotAllowed(ProblemError):
    status, slug = 405, "method-not-allowed"


class Conflict(ProblemError):
    status, slug = 409, "conflict"


class PayloadTooLarge(ProblemError):
    status, slug = 413, "payload-too-large"


class UnsupportedMediaType(ProblemError):
    status, slug = 415, "unsupported-media-type"


class ValidationFailed(ProblemError):
    """The request was understood but its values are wrong; `errors` says which field and why."""

    status, slug = 422, "validation-failed"

    def __init__(self, errors: Sequence[tuple[str, str]], *, detail: str | None = None) -> None:
        items = [{"field": f, "message": m} for f, m in errors]
        summary = detail or "; ".join(f"{f}: {m}" for f, m in errors)
        super().__init__(summary, errors=items)


class HeadersTooLarge(ProblemError):
    status, slug = 431, "headers-too-large"


class BadGateway(ProblemError):
    status, slug = 502, "bad-gateway"


class ServiceUnavailable(ProblemError):
    """A dependency is down or not ready yet; clients may retry after `retry_after` seconds."""

    status, slug = 503, "service-unavailable"

    def __init__(self, detail: str, *, retry_after: int | None = None, **extra: Any) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        super().__init__(detail, headers=headers, **extra)


class GatewayTimeout(ProblemError):
    status, slug = 504, "gateway-timeout"


_BY_STATUS: dict[int, type[ProblemError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        ValidationFailed,
        HeadersTooLarge,
        BadGateway,
        ServiceUnavailable,
        GatewayTimeout,
    )
}


def problem_type(status: int) -> str:
    cls = _BY_STATUS.get(status)
    return TYPE_PREFIX + (cls.slug if cls else "internal-error" if status >= 500 else "http-error")


def problem_document(
    status: int, detail: str, *, instance: str | None = None, type_: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The RFC 9457 body: type, title, status, detail, instance and extension members."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    doc: dict[str, Any] = {"type": type_ or problem_type(status), "title": title, "status": status, "detail": detail}
    if instance is not None:
        doc["instance"] = instance
    doc.update({k: v for k, v in extra.items() if v is not None})
    return doc


class ProblemResponse(Response):
    media_type = PROBLEM_JSON

    def __init__(self, status: int, detail: str, *, headers: Mapping[str, str] | None = None, **fields: Any) -> None:
        body = problem_document(status, detail, **fields)
        super().__init__(
            json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(), status_code=status, headers=headers
        )


def problem_from_error(error: ProblemError, *, instance: str | None, trace_id: str | None) -> ProblemResponse:
    return ProblemResponse(
        error.status,
        error.detail,
        headers=error.headers,
        instance=instance,
        type_=TYPE_PREFIX + error.slug,
        trace_id=trace_id,
        **error.extra,
    )
