"""`ragplane drill breaker --dependency embedder`: trip a circuit breaker on purpose.

For demos, game days and the alert drill. The drill asks the running query service to
fail every call to one dependency for a while (`POST /internal/faults/{dependency}`), sends
questions through the gateway until the breaker opens, and prints what a user and an
operator see at each step. The fault expires by itself; `--end` removes it and resets the
breaker. (The collections service has breakers and fault routes too; drive those with the
routes directly, since only ingestion exercises them.)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from ragplane.errors import DrillError
from ragplane.kit.service_auth import HEADER as SERVICE_TOKEN


@dataclass
class Drill:
    service_url: str
    gateway_url: str
    token: str
    dependency: str
    say: Callable[[str], None]
    collection: str = "docs"

    def _service(self) -> httpx.Client:
        return httpx.Client(base_url=self.service_url, headers={SERVICE_TOKEN: self.token}, timeout=30)

    def breaker(self) -> dict[str, Any]:
        with self._service() as client:
            response = client.get("/internal/breakers")
        if response.status_code != 200:
            raise DrillError(f"cannot read the breakers: HTTP {response.status_code} {response.text[:200]}")
        breakers: dict[str, dict[str, Any]] = response.json()["breakers"]
        if self.dependency not in breakers:
            raise DrillError(f"the service has no breaker {self.dependency!r}; it has {', '.join(breakers)}")
        return breakers[self.dependency]

    def _answerer(self) -> str:
        """The query service's answerer: `extractive` when no LLM is configured."""
        with self._service() as client:
            response = client.get("/health")
        if response.status_code != 200:
            raise DrillError(f"cannot read the service's health: HTTP {response.status_code} {response.text[:200]}")
        return str(response.json().get("dependencies", {}).get("answerer", {}).get("name", ""))

    def start(self, *, seconds: float, mode: str, requests: int) -> dict[str, Any]:
        self.breaker()  # fails early on a wrong service or dependency
        if self.dependency == "llm" and self._answerer() == "extractive":
            # Its breaker guards no call: every request would answer 200 and prove nothing.
            raise DrillError(
                "no LLM is in use (OLLAMA_URL is not set): answers are extractive and the llm breaker "
                "guards no call. Set OLLAMA_URL to drill it, or drill the embedder or qdrant."
            )
        with self._service() as client:
            response = client.post(f"/internal/faults/{self.dependency}", json={"seconds": seconds, "mode": mode})
        if response.status_code != 200:
            raise DrillError(f"the service refused the fault: HTTP {response.status_code} {response.text[:200]}")
        self.say(f"fault injected: {self.dependency} fails ({mode}) for {seconds:g} s")
        with httpx.Client(base_url=self.gateway_url, timeout=60) as gateway:
            for n in range(1, requests + 1):
                started = time.perf_counter()
                question = f"drill {uuid.uuid4().hex[:8]}: what does the circuit breaker do?"
                r = gateway.post("/api/v1/rag/query", json={"query": question, "collection": self.collection})
                took = (time.perf_counter() - started) * 1000
                extra = r.headers.get("retry-after")
                detail = r.json().get("detail") or ("degraded" if r.json().get("degraded") else "ok")
                self.say(
                    f"request {n}: HTTP {r.status_code} in {took:.0f} ms"
                    + (f" (Retry-After {extra})" if extra else "")
                    + f" — {detail}"
                )
        state = self.breaker()
        self.say(
            f"breaker {self.dependency}: {state['state']}, {state['failures']} failures, "
            f"next probe in {state['retry_after_seconds']} s"
        )
        return state

    def end(self) -> dict[str, Any]:
        with self._service() as client:
            client.delete(f"/internal/faults/{self.dependency}")
            response = client.post(f"/internal/breakers/{self.dependency}/reset")
        if response.status_code != 200:
            raise DrillError(f"cannot reset the breaker: HTTP {response.status_code} {response.text[:200]}")
        self.say(f"fault removed; breaker {self.dependency} reset to {response.json()['state']}")
        return dict(response.json())
