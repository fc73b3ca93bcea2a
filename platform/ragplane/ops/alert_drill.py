"""`ragplane drill alert`: from an injected fault to the page and back, timed.

The breaker drill (`ragplane.ops.drill`) makes a dependency fail until its circuit breaker
opens; this drill then follows the alert out of the stack: Prometheus fires
`RagplaneCircuitBreakerOpen`, Alertmanager receives it (from there its routes page
on-call), and, once the fault is removed and the breaker reset, the alert resolves.
Every step is printed with its time since the fault, so a game day measures the real
detection path with the production rules and intervals rather than trusting a diagram.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ragplane.ops.drill import Drill, DrillError

ALERT = "RagplaneCircuitBreakerOpen"


@dataclass
class Timings:
    """Seconds from the fault (the first four) and from its removal (`resolved`)."""

    breaker_open: float = 0.0
    firing: float = 0.0
    received: float = 0.0
    resolved: float = 0.0
    fault_at: float = 0.0  # time.monotonic() when the fault went in


@dataclass
class AlertDrill:
    drill: Drill
    prometheus_url: str
    alertmanager_url: str
    say: Callable[[str], None]
    service: str = "query"
    timeout_s: float = 120
    poll_s: float = 0.2
    timings: Timings = field(default_factory=Timings)

    def run(self, *, requests: int = 6) -> Timings:
        """Fault → breaker open → Prometheus firing → Alertmanager received → fault removed → resolved."""
        self._check_reachable()
        t = self.timings
        t.fault_at = time.monotonic()
        try:
            state = self.drill.start(seconds=self.timeout_s * 2, mode="error", requests=requests)
            if state["state"] != "open":
                raise DrillError(
                    f"the {self.drill.dependency} breaker is {state['state']}, not open: send more requests"
                )
            t.breaker_open = self._since(t.fault_at)
            t.firing = self._wait(self._firing, "Prometheus to fire " + ALERT)
            self.say(f"{t.firing:.1f} s  Prometheus fires {ALERT}")
            t.received = self._wait(lambda: bool(self._received()), "Alertmanager to receive " + ALERT)
            labels = self._received()[0]["labels"]
            self.say(f"{t.received:.1f} s  Alertmanager has it ({_describe(labels)}) and routes it to on-call")
        finally:
            self.drill.end()
        cleared = time.monotonic()
        t.resolved = self._wait(lambda: not self._received(), f"{ALERT} to resolve", since=cleared)
        self.say(f"{t.resolved:.1f} s after the fault was removed, the alert is resolved")
        self.say(
            f"fault → page {t.received:.1f} s (breaker open {t.breaker_open:.1f} s, "
            f"firing {t.firing:.1f} s); recovery → resolved {t.resolved:.1f} s"
        )
        return t

    def _check_reachable(self) -> None:
        for name, url in (
            ("Prometheus", self.prometheus_url + "/-/ready"),
            ("Alertmanager", self.alertmanager_url + "/-/ready"),
        ):
            try:
                httpx.get(url, timeout=5).raise_for_status()
            except httpx.HTTPError as exc:
                raise DrillError(f"{name} is not ready at {url}: {exc}") from exc
        if self._received():
            raise DrillError(f"{ALERT} is already active for {self.drill.dependency}: resolve it before drilling")

    def _matches(self, labels: dict[str, Any]) -> bool:
        return bool(
            labels.get("alertname") == ALERT
            and labels.get("breaker") == self.drill.dependency
            and labels.get("service") == self.service
        )

    def _firing(self) -> bool:
        body = httpx.get(self.prometheus_url + "/api/v1/alerts", timeout=10).json()
        return any(a["state"] == "firing" and self._matches(a["labels"]) for a in body["data"]["alerts"])

    def _received(self) -> list[dict[str, Any]]:
        """The drill's alert as Alertmanager holds it (active, not yet resolved)."""
        response = httpx.get(
            self.alertmanager_url + "/api/v2/alerts", params={"filter": f'alertname="{ALERT}"'}, timeout=10
        )
        response.raise_for_status()
        return [a for a in response.json() if self._matches(a["labels"])]

    def _wait(self, done: Callable[[], bool], what: str, *, since: float | None = None) -> float:
        start = self.timings.fault_at if since is None else since
        while not done():
            if self._since(start) > self.timeout_s:
                raise DrillError(f"gave up waiting for {what} after {self.timeout_s:g} s")
            time.sleep(self.poll_s)
        return self._since(start)

    @staticmethod
    def _since(start: float) -> float:
        return time.monotonic() - start


def _describe(labels: dict[str, Any]) -> str:
    return ", ".join(f"{k}={labels[k]}" for k in ("severity", "service", "breaker") if k in labels)
