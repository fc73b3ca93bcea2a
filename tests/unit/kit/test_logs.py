import io
import json
import logging
import re

from opentelemetry.sdk.trace import TracerProvider

from ragplane.kit.logs import JsonFormatter, configure_logging, current_service


def record(msg: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("ragplane.test", logging.WARNING, __file__, 1, msg, args or ("world",), None)
    rec.__dict__.update(extra)
    return rec


def test_one_json_object_per_record() -> None:
    doc = json.loads(JsonFormatter().format(record(fields={"event": "x", "n": 1}, other="y")))
    assert doc["message"] == "hello world"
    assert doc["level"] == "warning" and doc["logger"] == "ragplane.test"
    assert doc["event"] == "x" and doc["n"] == 1 and doc["other"] == "y"
    assert doc["ts"].endswith("Z")
    assert "trace_id" not in doc and "service" not in doc


def test_trace_and_service_are_added_from_context() -> None:
    tracer = TracerProvider().get_tracer("t")
    token = current_service.set("query")
    try:
        with tracer.start_as_current_span("s") as span:
            doc = json.loads(JsonFormatter().format(record()))
    finally:
        current_service.reset(token)
    assert doc["service"] == "query"
    assert doc["trace_id"] == format(span.get_span_context().trace_id, "032x")


def test_exceptions_are_included() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        rec = record()
        rec.exc_info = sys.exc_info()
    assert "ValueError: bad" in json.loads(JsonFormatter().format(rec))["exception"]


def test_the_default_handler_follows_stdout_when_it_is_swapped(monkeypatch) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stdout", first)
    configure_logging()
    try:
        logging.getLogger("ragplane.test").warning("one")
        monkeypatch.setattr("sys.stdout", second)
        first.close()  # a test runner closes the stdout it swapped out
        logging.getLogger("ragplane.test").warning("two")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    assert '"message": "two"' in second.getvalue()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_lines_are_short_and_successful_requests_stay_out(monkeypatch) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    configure_logging()  # no LOG_FORMAT: a terminal gets console lines
    try:
        access = logging.getLogger("ragplane.access")
        for status in (200, 503):
            fields = {"event": "request", "status": status, "duration_ms": 12.3}
            access.info("GET /api/v1/rag/search %s", status, extra={"fields": fields, "service": "query"})
        logging.getLogger("ragplane.ingest").info("job done", extra={"fields": {"job": "j1"}})
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    lines = terminal.getvalue().splitlines()
    assert len(lines) == 2 and not any(line.startswith("{") for line in lines)
    assert re.fullmatch(r"\d\d:\d\d:\d\d info    query       GET /api/v1/rag/search 503 \(12\.3 ms\)", lines[0])
    assert lines[1].endswith("job done")


def test_log_format_json_wins_on_a_terminal_and_console_off_one(monkeypatch) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    terminal, pipe = Terminal(), io.StringIO()
    try:
        monkeypatch.setattr("sys.stdout", terminal)
        configure_logging(log_format="json")
        logging.getLogger("ragplane.test").warning("as json")
        monkeypatch.setattr("sys.stdout", pipe)
        configure_logging(log_format="console")
        logging.getLogger("ragplane.test").warning("as a line")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    assert json.loads(terminal.getvalue())["message"] == "as json"
    assert pipe.getvalue().rstrip().endswith("warning             as a line")
