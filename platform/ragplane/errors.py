"""Every exception ragplane raises on purpose, in one tree, and the one table that maps them to problems.

Exceptions are small classes carrying data (as httpx's are). The module imports nothing of
ragplane, so every layer can raise and catch them: adapters translate library exceptions
(httpx, asyncpg, torch) into `DependencyError`s, services raise `ProblemError`s, operator tools
raise `OperatorError`s that the CLI prints. `problem_for` decides, in one place, which problem
document (RFC 9457) a client gets for each; `ragplane.kit.problems` renders it.

    RagplaneError
     ├── ProblemError                      a request failed; carries its HTTP status and problem type
     │    ├── BadRequest                   400 bad-request
     │    ├── Unauthorized                 401 unauthorized
     │    ├── Forbidden                    403 forbidden
     │    ├── NotFound                     404 not-found
     │    │    └── DocumentNotFound        404 document-not-found
     │    ├── MethodNotAllowed             405 method-not-allowed
     │    ├── Conflict                     409 conflict
     │    ├── PayloadTooLarge              413 payload-too-large
     │    ├── UnsupportedMediaType         415 unsupported-media-type
     │    ├── ValidationFailed             422 validation-failed  (+ "errors": [{"field", "message"}])
     │    ├── TooManyRequests              429 rate-limited       (+ Retry-After)
     │    ├── HeadersTooLarge              431 headers-too-large
     │    ├── RestoreRefused               500 restore-failed
     │    ├── BadGateway                   502 bad-gateway
     │    ├── ServiceUnavailable           503 service-unavailable (+ Retry-After)
     │    └── GatewayTimeout               504 gateway-timeout
     ├── DependencyError                   a call to a dependency failed (.dependency names it)
     │    ├── DependencyUnavailable        unreachable, timed out, or a 5xx: worth retrying later  → 503
     │    │    ├── CircuitOpen             not even tried: its circuit breaker is open             → 503
     │    │    ├── SlotTimeout             not even tried: no GPU slot came free in time           → 503
     │    │    └── Unreachable             a gateway upstream's replica did not answer: try another → 503
     │    └── DependencyRejected           it refused the request (4xx): retrying will not help    → 502
     ├── CollectionNotFound                the vector store has no such collection                  → 404
     ├── CollectionExists                  a collection of that name exists already                 → 409
     ├── ModelProcessExited                the embedding model's child process is gone
     ├── VectorStoreLocked                 another process holds the local vector store
     ├── UpgradeFailed                     a collection copied to the new store format does not match
     ├── RegistryError                     the collections registry cannot be read or written
     ├── MigrationError                    a service's schema history does not match its shipped migrations
     │    └── SchemaBehind                 migrations are pending and not applied at start: run `ragplane migrate`
     ├── ArchiveInvalid                    a backup archive is damaged, altered or not ours         → 422
     ├── RestoreFailed                     a restored copy did not match its archive and was dropped → 500
     ├── NotText                           an uploaded file's bytes are not UTF-8 text (a ValueError)
     ├── SettingsError                     a setting ragplane cannot run with (a ValueError)
     ├── PromQLSyntaxError                 a generated or documented PromQL expression does not parse (a ValueError)
     └── OperatorError                     an operator command failed; the CLI prints it and exits 1
          ├── IngestError                  the stack refused or failed an ingestion request
          │    └── TooLarge                a request body over the service's or gateway's limit
          ├── TransferError                migrate-json found nothing to migrate from
          ├── ChunkStepError               migrate-json cannot read the vector store
          ├── MaintenanceError             the gateway refused a maintenance change
          ├── RedisBackupError             Redis could not be snapshotted or restored
          ├── DrillError                   a fault drill did not see what it expected
          ├── StartupFailed                `ragplane up` could not start a service
          └── GatewayFailed                the gateway's child process did not start or died

A service may subclass a problem to build its detail and headers from its own data (the
gateway's `Unauthorized` with its RFC 6750 challenge, `RateLimitExceeded`, `InMaintenance`);
the status and type stay the parent's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal


class RagplaneError(Exception):
    """The root: anything ragplane raises on purpose."""


# --- Problems: a request failed, and the client is told why -------------------------------------


class ProblemError(RagplaneError):
    """Maps to one problem document: `status`, type `urn:ragplane:problem:<slug>`, `detail`, extras."""

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


class TooManyRequests(ProblemError):
    """A consumer used up its plan's requests for this window; `headers` say when to come back."""

    status, slug = 429, "rate-limited"


class HeadersTooLarge(ProblemError):
    status, slug = 431, "headers-too-large"


class RestoreRefused(ProblemError):
    """The loaded copy did not match its archive: it was dropped, and nothing else changed."""

    status, slug = 500, "restore-failed"


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


PROBLEMS: tuple[type[ProblemError], ...] = (BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, Conflict)
PROBLEMS += (PayloadTooLarge, UnsupportedMediaType, ValidationFailed, TooManyRequests, HeadersTooLarge)
PROBLEMS += (BadGateway, ServiceUnavailable, GatewayTimeout)
"""One class per status, the ones a plain status code (a library's HTTPException) maps to."""


# --- Dependencies: what services call failed ------------------------------------------------------

Kind = Literal[
    "timeout",  # no answer in time
    "unreachable",  # connection refused, DNS, reset
    "server_error",  # a 5xx
    "bad_response",  # an answer we cannot use
    "unavailable",  # down for another reason (not loaded, closed, injected fault)
    "rejected",  # a 4xx: the request or the configuration is wrong
    "circuit_open",
    "slot_timeout",
]
"""The `kind` label of `ragplane_dependency_errors_total`."""


class DependencyError(RagplaneError):
    default_kind: Kind = "unavailable"

    def __init__(self, dependency: str, message: str, *, kind: Kind | None = None) -> None:
        super().__init__(f"{dependency}: {message}")
        self.dependency = dependency
        self.message = message
        self.kind: Kind = kind or self.default_kind


class DependencyUnavailable(DependencyError):
    """The dependency could not answer; the caller may retry after a while."""


class CircuitOpen(DependencyUnavailable):
    """The breaker guarding `dependency` is open; the next probe is `retry_after` seconds away."""

    default_kind = "circuit_open"

    def __init__(self, dependency: str, *, failures: int, retry_after: int) -> None:
        super().__init__(
            dependency,
            f"circuit breaker '{dependency}' is open after {failures} consecutive failures; "
            f"the next attempt is in {retry_after} s",
        )
        self.failures = failures
        self.retry_after = retry_after


class SlotTimeout(DependencyUnavailable):
    """Every GPU slot stayed busy for the whole queue timeout."""

    default_kind = "slot_timeout"

    def __init__(self, dependency: str, *, waited_s: float) -> None:
        super().__init__(dependency, f"all GPU slots stayed busy for {waited_s:g} s; the service is overloaded")
        self.waited_s = waited_s
        self.retry_after = max(1, math.ceil(waited_s / 2))  # half the wait: the queue has moved on by then


class Unreachable(DependencyUnavailable):
    """No answer from a gateway upstream's replica: refused, reset, closed, or (kind `timeout`) too slow.

    Except after a timeout, an idempotent request may be sent to another replica: it was
    never received, or it is harmless to repeat.
    """


class DependencyRejected(DependencyError):
    """The dependency answered with a refusal; the request or configuration must change."""

    default_kind = "rejected"


class CollectionNotFound(RagplaneError):
    def __init__(self, name: str) -> None:
        super().__init__(f"collection {name!r} does not exist")
        self.name = name


class CollectionExists(RagplaneError):
    def __init__(self, name: str) -> None:
        super().__init__(f"collection {name!r} already exists")
        self.name = name


class ModelProcessExited(RagplaneError):
    """The child is gone (killed, out of memory, failed to start): start a new one."""


class VectorStoreLocked(RagplaneError):
    """Another process already uses this local vector store directory."""


class UpgradeFailed(RagplaneError):
    """A copied collection does not hold what the original holds."""


# --- The collections service's own data -----------------------------------------------------------


class RegistryError(RagplaneError):
    """The registry cannot be read or written."""


class MigrationError(RagplaneError):
    """A service's schema history in the database does not match the migrations shipped with this version."""


class SchemaBehind(MigrationError):
    """The database needs `ragplane migrate` before this version can use it."""


class ArchiveInvalid(RagplaneError):
    """The archive cannot be trusted: damaged, truncated, altered, or not one of ours."""


class RestoreFailed(RagplaneError):
    """The loaded copy does not match its archive; nothing the caller had was changed."""


class NotText(RagplaneError, ValueError):
    """A file's bytes are not a document's text; the message says why, to follow its name."""


class SettingsError(RagplaneError, ValueError):
    """A setting has a value ragplane cannot run with; the message names the variable."""


class PromQLSyntaxError(RagplaneError, ValueError):
    """An expression the PromQL parser refuses: `expr` as given and the parser's `reason`."""

    def __init__(self, expr: str, reason: str) -> None:
        super().__init__(f"not valid PromQL ({reason}): {expr!r}")
        self.expr = expr
        self.reason = reason


# --- Operator tools: the CLI prints the message and exits 1 ---------------------------------------


class OperatorError(RagplaneError):
    """An operator command could not do what was asked; the message says why and what to do."""


class IngestError(OperatorError):
    """The stack refused or failed the request; the message says why and what to do."""


class TooLarge(IngestError):
    """The request body was over the service's or the gateway's limit (413)."""


class TransferError(OperatorError):
    """There is nothing to migrate from: the JSON registry is missing or unreadable."""


class ChunkStepError(OperatorError):
    """Qdrant cannot be read, so no (further) chunk rows can be filled."""


class MaintenanceError(OperatorError):
    """The gateway refused to turn maintenance mode on or off."""


class RedisBackupError(OperatorError):
    """Redis could not be snapshotted, or a snapshot could not be put back."""


class DrillError(OperatorError):
    """A fault drill did not see what it expected (or could not start)."""


class StartupFailed(OperatorError):
    """A service of `ragplane up` did not start."""


class GatewayFailed(OperatorError):
    """The gateway's child process did not start, or died."""


# --- The one table: exception → problem ------------------------------------------------------------

DEPENDENCY_RETRY_AFTER_S = 10


def problem_for(exc: BaseException) -> ProblemError | None:
    """The problem a client gets for `exc`; None for an exception that is a bug (an unlogged 500)."""
    if isinstance(exc, ProblemError):
        return exc
    if isinstance(exc, CollectionNotFound):
        return NotFound(f"Collection {exc.name!r} does not exist.")
    if isinstance(exc, CollectionExists):
        return Conflict(f"Collection {exc.name!r} already exists.")
    if isinstance(exc, CircuitOpen):
        return ServiceUnavailable(
            f"{exc.dependency} is unavailable: {exc.message}",
            retry_after=exc.retry_after,
            dependency=exc.dependency,
            breaker=exc.dependency,
        )
    if isinstance(exc, SlotTimeout):
        return ServiceUnavailable(
            f"{exc.dependency}: {exc.message}", retry_after=exc.retry_after, dependency=exc.dependency
        )
    if isinstance(exc, DependencyUnavailable):
        return ServiceUnavailable(
            f"{exc.dependency} is unavailable: {exc.message}",
            retry_after=DEPENDENCY_RETRY_AFTER_S,
            dependency=exc.dependency,
        )
    if isinstance(exc, DependencyError):
        return BadGateway(f"{exc.dependency} refused the request: {exc.message}", dependency=exc.dependency)
    if isinstance(exc, ArchiveInvalid):
        return ValidationFailed([("archive", str(exc))], detail=f"The archive was refused: {exc}")
    if isinstance(exc, RestoreFailed):
        return RestoreRefused(f"The restored copy did not check out, so it was dropped: {exc}")
    return None
