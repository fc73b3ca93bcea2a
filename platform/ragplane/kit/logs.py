"""Logs on stdout: JSON, one object per line with the trace id of the current span, for log
shippers; or, on a terminal, short lines for a person (`LOG_FORMAT`, default: console when
stdout is a terminal, JSON otherwise).

Request logs, deprecation warnings and errors all go through the standard `logging`
module; the JSON formatter turns a record plus its `fields` extra into one JSON line, so
log shippers need no parsing rules. The service name comes from a context variable set
per request (`ServiceLogContext`), because in the embedded stack three services share a process.
The console handler writes through tqdm, so a progress bar on the terminal is redrawn below the
line instead of being broken by it, and leaves routine lines out (below DEBUG).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from starlette.types import ASGIApp, Receive, Scope, Send
from tqdm import tqdm

current_service: ContextVar[str | None] = ContextVar("ragplane_service", default=None)

# Record attributes that are logging's own (or uvicorn's ANSI-coloured copy of the message).
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
    "taskName",
}


class ServiceLogContext:
    """Names the service in every log line written while one of its requests runs.

    Outermost of ragplane's middleware, so deprecation warnings and unhandled errors say
    which service they come from too. Set per request, not once per server: uvicorn runs
    each request in a fresh context (see `stack.Runner`), so nothing set around the server
    reaches it.
    """

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = current_service.set(self.service)
        try:
            await self.app(scope, receive, send)
        finally:
            current_service.reset(token)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: ts, level, logger, service, message, trace ids, fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        service = getattr(record, "service", None) or current_service.get()
        if service:
            doc["service"] = service
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            doc["trace_id"] = format(context.trace_id, "032x")
            doc["span_id"] = format(context.span_id, "016x")
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            doc.update(fields)
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in ("fields", "service") and not key.startswith("_"):
                doc.setdefault(key, value)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """`12:24:34 warning query  GET /api/v1/rag/search 503 (12.3 ms) trace 4bf9…` for a person."""

    def format(self, record: logging.LogRecord) -> str:
        service = getattr(record, "service", None) or current_service.get() or ""
        line = f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {record.levelname.lower():7} "
        line += f"{service:11} {record.getMessage()}"
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping) and "duration_ms" in fields:
            line += f" ({fields['duration_ms']} ms)"
        context = trace.get_current_span().get_span_context()
        if record.levelno >= logging.WARNING and context.is_valid:
            line += f" trace {format(context.trace_id, '032x')}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _QuietRoutine(logging.Filter):
    """On a terminal the news is what went wrong: drops the access log of requests that succeeded
    and of health probes, and uvicorn's start-up chatter below warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("uvicorn"):
            return record.levelno >= logging.WARNING
        fields = getattr(record, "fields", None)
        if record.name != "ragplane.access" or not isinstance(fields, Mapping):
            return True
        return fields["status"] >= 400 and not str(fields.get("route", "")).startswith("/health")


class TerminalHandler(logging.Handler):
    """Writes through `tqdm.write`, which clears a progress bar, prints, and draws the bar again."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stdout)
        except Exception:  # logging must never raise
            self.handleError(record)


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stdout` is when a record is emitted, not when logging was set up:
    a program (or a test runner) that swaps stdout and closes the old one must not leave a
    thread still logging into the closed file ("I/O operation on closed file")."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # always sys.stdout


def configure_logging(level: str = "INFO", stream: Any = None, log_format: str | None = None) -> None:
    """Route every logger (ours, uvicorn's, libraries') through one handler on stdout (or
    `stream`): JSON, or console lines (`log_format`; None: console on a terminal)."""
    console = log_format == "console" or (log_format is None and stream is None and sys.stdout.isatty())
    handler: logging.Handler
    if console:
        handler = TerminalHandler()
        handler.setFormatter(ConsoleFormatter())
        if logging.getLevelName(level) > logging.DEBUG:
            handler.addFilter(_QuietRoutine())
    else:
        handler = logging.StreamHandler(stream) if stream is not None else StdoutHandler()
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "httpx", "httpcore"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # ragplane's access middleware logs every request with route template and trace id;
    # uvicorn's own access log would only repeat it in another format.
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    # Libraries chatter at INFO about every HTTP call they make; our access log already covers them.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level)))
