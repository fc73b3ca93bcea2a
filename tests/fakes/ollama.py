"""A fake Ollama: a real HTTP server speaking Ollama's JSON API, for tests only.

Embeddings are deterministic bag-of-words vectors (so similar texts are near each
other); answers quote the first passage and cite it. Faults: `fail_with` makes calls to
`fail_paths` answer that HTTP status, `delay_s` slows calls to `slow_paths` down (a hang,
past a client's timeout), `stop()` closes the port (connections refused) until `start()`.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DIMENSION = 32


def bag_of_words(text: str) -> list[float]:
    vector = [0.0] * DIMENSION
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIMENSION] += 1.0
    return vector if any(vector) else [1.0] + [0.0] * (DIMENSION - 1)


class FakeOllama:
    def __init__(self, models: tuple[str, ...] = ("nomic-embed-text:latest", "llama3.2:latest")) -> None:
        self.models = models
        self.fail_with: int | None = None
        self.delay_s = 0.0
        self.slow_paths = {"/api/embed", "/api/generate"}
        self.fail_paths = {"/api/embed", "/api/generate"}
        self.requests: list[tuple[str, dict[str, Any]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.requests.append((self.path, {}))
                if self.path == "/api/tags":
                    self._send(200, {"models": [{"name": m} for m in fake.models]})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append((self.path, body))
                if fake.delay_s and self.path in fake.slow_paths:
                    threading.Event().wait(fake.delay_s)
                if fake.fail_with and self.path in fake.fail_paths:
                    self._send(fake.fail_with, {"error": f"injected failure {fake.fail_with}"})
                elif self.path == "/api/embed":
                    model = body.get("model", "")
                    if model not in fake.models and f"{model}:latest" not in fake.models:
                        self._send(404, {"error": f"model '{model}' not found, try pulling it first"})
                        return
                    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    self._send(200, {"model": model, "embeddings": [bag_of_words(t) for t in texts]})
                elif self.path == "/api/generate":
                    passage = re.search(r"^\[1\] [^\n]*\n([^\n]+)", body["prompt"], re.M)
                    first = passage.group(1).strip().rstrip(".") if passage else "I do not know"
                    self._send(
                        200, {"model": body["model"], "response": f"{first}. [1] This is all. [9]", "done": True}
                    )
                else:
                    self._send(404, {"error": "not found"})

        self.handler = Handler
        self.server: ThreadingHTTPServer | None = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.server is None:
            ThreadingHTTPServer.allow_reuse_address = True
            self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Close the port: connections are refused until `start()`."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> FakeOllama:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
