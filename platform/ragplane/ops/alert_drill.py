"""`ragplane drill alert`: from an injected fault to the page and back, timed.

The breaker drill (`ragplane.ops.drill`) makes a dependency fail until its circuit breaker
opens; this drill then follows the alert out of the stack: Prometheus fires
`RagplaneCircuitBreakerOpen`, Alertmanager receives it and, unless a silence or an
inhibition suppresses it, sends the page after its route's `group_wait` (seen as its own
`alertmanager_notifications_total` going up; the fault is held until then), and, once the
fault is removed and the breaker reset, the alert resolves. Every step is printed with its time since the
fault, so a game day measures the real detection path with the production rules and
intervals rather than trusting a diagram. Prometheus and Alertmanager are polled; one
failed poll is retried until the step's timeout.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ragplane.errors import DrillError
from ragplane.ops.drill import Drill

ALERT = "RagplaneCircuitBreakerOpen"
T = TypeVar("T")


@dataclass
class Timings:
    """Seconds from the fault (all but `resolved`, which counts from the fault's removal)."""

    breaker_open: float = 0.0
    firing: float = 0.0
    received: float = 0.0  # in Alertmanager
    notified: float | None = None  # Alertmanager sent notifications (None: not within `hold_s`)
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
    hold_s: float = 30  # how long to wait for the page once Alertmanager has the alert (> group_wait)
    poll_s: float = 0.2
    timings: Timings = field(default_factory=Timings)

    def run(self, *, requests: int = 6) -> Timings:
        """Fault → breaker open → Prometheus firing → in Alertmanager → paged → fault removed → resolved."""
        self._check_reachable()
        sent_before = self._notifications()
        t = self.timings
        t.fault_at = time.monotonic()
        try:
            state = self.drill.start(seconds=self.timeout_s * 4, mode="error", requests=requests)
            if state["state"] != "open":
                raise DrillError(
                    f"the {self.drill.dependency} breaker is {state['state']}, not open: send more requests"
                )
            t.breaker_open = self._since(t.fault_at)
            t.firing, _ = self._wait(self._firing, "Prometheus to fire " + ALERT)
            self.say(f"{t.firing:.1f} s  Prometheus fires {ALERT}")
            t.received, held = self._wait(self._received, "Alertmanager to receive " + ALERT)
            labels = held[0]["labels"]
            held_as = held[0]["status"]["state"]  # active, or suppressed by a silence or an inhibition
            self.say(f"{t.received:.1f} s  Alertmanager has it, {held_as} ({_describe(labels)})")
            t.notified = self._wait_for_page(sent_before)
        finally:
            self.drill.end()
        cleared = time.monotonic()
        t.resolved, _ = self._wait(lambda: not self._received(), f"{ALERT} to resolve", origin=cleared)
        self.say(f"{t.resolved:.1f} s after the fault was removed, the alert is resolved")
        page = f"fault → page {t.notified:.1f} s" if t.notified is not None else "no page within the hold"
        self.say(
            f"{page} (breaker open {t.breaker_open:.1f} s, firing {t.firing:.1f} s, in Alertmanager "
            f"{t.received:.1f} s); recovery → resolved {t.resolved:.1f} s"
        )
        return t

    def _wait_for_page(self, sent_before: float) -> float | None:
        """Seconds from the fault until Alertmanager sent notifications, or None after `hold_s`
        (silenced, inhibited, or a route that sends nothing)."""
        deadline = time.monotonic() + self.hold_s
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                sent = self._notifications() - sent_before
                if sent > 0:
                    notified = self._since(self.timings.fault_at)
                    self.say(f"{notified:.1f} s  Alertmanager sent {sent:g} notification(s): on-call is paged")
                    return notified
            time.sleep(self.poll_s)
        self.say(f"Alertmanager sent nothing within {self.hold_s:g} s: is the alert silenced, or routed to nothing?")
        return None

    def _notifications(self) -> float:
        """Notifications Alertmanager has attempted so far, over all its integrations."""
        response = httpx.get(self.alertmanager_url + "/metrics", timeout=10)
        response.raise_for_status()
        return sum(
            sample.value
            for family in text_string_to_metric_families(response.text)
            if family.name == "alertmanager_notifications"
            for sample in family.samples
            if sample.name == "alertmanager_notifications_total"
        )

    def _check_reachable(self) -> None:
        for name, url in (("Prometheus", self.prometheus_url), ("Alertmanager", self.alertmanager_url)):
            try:
                httpx.get(url + "/-/ready", timeout=5).raise_for_status()
            except httpx.HTTPError as exc:
                raise DrillError(f"{name} is not ready at {url}/-/ready: {exc}") from exc
        if self._received():
            raise DrillError(f"{ALERT} is already active for {self.drill.dependency}: resolve it before drilling")

    def _matches(self, labels: dict[str, Any]) -> bool:
        return bool(
            labels.get("alertname") == ALERT
            and labels.get("breaker") == self.drill.dependency
            and labels.get("service") == self.service
        )

    def _firing(self) -> bool:
        response = httpx.get(self.prometheus_url + "/api/v1/alerts", timeout=10)
        response.raise_for_status()
        return any(a["state"] == "firing" and self._matches(a["labels"]) for a in response.json()["data"]["alerts"])

    def _received(self) -> list[dict[str, Any]]:
        """The drill's alert as Alertmanager holds it, unresolved: active, or suppressed by a silence
        (a quiet drill) or an inhibition; `_wait_for_page` then tells whether anyone was paged."""
        response = httpx.get(
            self.alertmanager_url + "/api/v2/alerts", params={"filter": f'alertname="{ALERT}"'}, timeout=10
        )
        response.raise_for_status()
        return [a for a in response.json() if self._matches(a["labels"])]

    def _wait(self, poll: Callable[[], T], what: str, *, origin: float | None = None) -> tuple[float, T]:
        """Poll until `poll` answers something truthy, for up to `timeout_s`: the seconds from
        `origin` (default: the fault) until then, and that answer."""
        deadline = time.monotonic() + self.timeout_s
        last_error: Exception | None = None
        while True:
            try:
                answer = poll()
                if answer:
                    return self._since(self.timings.fault_at if origin is None else origin), answer
            except (httpx.HTTPError, KeyError, ValueError) as exc:  # one bad poll is not the end of the drill
                last_error = exc
            if time.monotonic() > deadline:
                reason = f" (last error: {last_error})" if last_error else ""
                raise DrillError(f"gave up waiting for {what} after {self.timeout_s:g} s{reason}")
            time.sleep(self.poll_s)

    @staticmethod
    def _since(start: float) -> float:
        return time.monotonic() - start


def _describe(labels: dict[str, Any]) -> str:
    return ", ".join(f"{k}={labels[k]}" for k in ("severity", "service", "breaker") if k in labels)
