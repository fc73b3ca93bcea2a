import io
import json
import logging

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
