"""An HTTP endpoint that records what is POSTed to it: the far end of an exporter or notifier.

The OTLP trace exporter and Alertmanager's webhook both push to a URL; the tests stand this
up on a free port and read back what arrived, parsed, with the time it arrived.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Generic, TypeVar

T = TypeVar("T")


class Receiver(Generic[T]):
    """Answers every POST with an empty 200 of `content_type` and records `(arrival, parse(body))`."""

    def __init__(self, parse: Callable[[bytes], T], content_type: str = "application/json") -> None:
        self.received: list[tuple[float, T]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((time.monotonic(), parse(body)))
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
