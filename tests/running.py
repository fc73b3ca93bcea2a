"""A ragplane stack running in a background thread, for tests that talk real HTTP."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import httpx
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ragplane.kit.service_auth import HEADER
from ragplane.settings import Settings
from ragplane.stack import SERVICES, Runner, Stack, build_stack


class RunningStack:
    """Starts `services` on free ports in a thread with its own event loop; `stop()` ends it."""

    def __init__(self, settings: Settings, services: Sequence[str] = SERVICES) -> None:
        self.settings = settings
        self.services = tuple(services)
        self.spans = InMemorySpanExporter()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="ragplane-stack", daemon=True)
        self.stack: Stack | None = None
        self.runner: Runner | None = None

    def _run(self, coro: Any, timeout: float = 120) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def start(self, *, wait_ready: bool = True) -> RunningStack:
        self.thread.start()

        async def start() -> None:
            self.stack = await build_stack(
                self.settings, self.services, span_processors=[SimpleSpanProcessor(self.spans)]
            )
            self.runner = Runner(self.stack)
            await self.runner.start()

        self._run(start())
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for name in self.services:
            while True:
                try:
                    if httpx.get(self.urls[name] + "/health/ready", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} did not become ready within {timeout}s")
                time.sleep(0.05)

    def call(self, coro: Any, timeout: float = 60) -> Any:
        """Run a coroutine on the stack's loop (e.g. to reach into a service's objects)."""
        return self._run(coro, timeout)

    def stop(self) -> None:
        if self.runner is not None:
            self._run(self.runner.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    @property
    def urls(self) -> dict[str, str]:
        assert self.stack is not None
        return self.stack.urls

    def client(self, service: str = "gateway", *, token: bool | str = False, **kwargs: Any) -> httpx.Client:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers[HEADER] = token if isinstance(token, str) else (self.settings.service_token or "")
        return httpx.Client(base_url=self.urls[service], headers=headers, timeout=60, **kwargs)


def wait_for_job(client: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/v1/rag/jobs/{job_id}").json()
        if job["state"] in ("completed", "failed"):
            return job  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['state']} after {timeout}s")
        time.sleep(0.05)


def ingest(
    client: httpx.Client, collection: str, documents: list[dict[str, Any]], *, create: bool = True
) -> dict[str, Any]:
    """Create `collection` (unless told not to), ingest `documents`, wait for the job, return it."""
    if create:
        response = client.post("/api/v1/rag/collections", json={"name": collection})
        assert response.status_code == 201, response.text
    response = client.post(f"/api/v1/rag/collections/{collection}/documents", json={"documents": documents})
    assert response.status_code == 202, response.text
    return wait_for_job(client, response.json()["id"])


def long_text(chunks: int) -> str:
    """A Markdown document of about `chunks` chunks (at the default chunk size): a job that stays busy a while."""
    paragraph = "This sentence is part of a long document used to keep a job busy for a while. " * 9
    return "# Big\n\n" + "\n\n".join(paragraph for _ in range(chunks))


def until(check: Callable[[], Any], timeout: float = 120) -> Any:
    """Poll `check` until it returns something truthy (the event waited for), or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise TimeoutError(f"{check} never held")
