"""Several Qdrant nodes as one: calls spread over the healthy ones, a failed node skipped.

Each node is an engine with a state: up, down, or not known yet. A call that does not get an
answer from a node (unreachable, timeout, 5xx) marks it down at once — the node's breaker opens
— and no call goes to it until its readiness probe (`GET /readyz`, every probe interval) answers
again: the probe is the breaker's half-open trial, so users' requests never pay to find out
whether a node is back. Calls go round-robin over the nodes not known to be down; when every node
is down, over all of them (a probe may lag, and a refused connection costs little).

A pool of one node (the embedded engine, or one URL) has no probe: its calls' outcomes alone set
its state, and every call goes to it whatever that state. Which calls may be retried on another
node, and the metrics, are the store's (`ragplane.adapters.vectors`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ragplane.adapters.store_engine import Engine

log = logging.getLogger("ragplane.qdrant")
READINESS_PATH = "/readyz"  # Qdrant: 200 once every shard on the node is ready

Listener = Callable[[str, bool], None]
"""Told (node, up) at every call's outcome and every probe."""


@dataclass
class Node:
    engine: Engine
    up: bool | None = None  # None until a call or a probe has told

    @property
    def name(self) -> str:
        return self.engine.node

    @property
    def state(self) -> str:
        return {None: "unknown", True: "up", False: "down"}[self.up]


class NodePool:
    def __init__(self, engines: Sequence[Engine], *, probe_interval_s: float = 1.0, api_key: str | None = None) -> None:
        if not engines:
            raise ValueError("a pool needs at least one node")
        self.nodes = [Node(engine) for engine in engines]
        self.probe_interval_s = probe_interval_s
        self._headers = {"api-key": api_key} if api_key else {}
        self._turn = itertools.count()
        self._listeners: list[Listener] = []
        self._prober: asyncio.Task[None] | None = None

    @property
    def pooled(self) -> bool:
        return len(self.nodes) > 1

    def choose(self, avoid: Node | None = None) -> Node | None:
        """The next node for a call, round-robin over those not known to be down; None when
        `avoid` was the only node."""
        candidates = [n for n in self.nodes if n is not avoid]
        if not candidates:
            return None
        healthy = [n for n in candidates if n.up is not False]
        ring = healthy or candidates
        return ring[next(self._turn) % len(ring)]

    def observe(self, node: Node, up: bool) -> None:
        """A call's outcome or a probe's: the node's new state, told to every listener."""
        if self.pooled and ((up and node.up is False) or (not up and node.up is not False)):
            log.warning("qdrant node %s is %s", node.name, "back up" if up else "down: its calls go to the others")
        node.up = up
        for listener in self._listeners:
            listener(node.name, up)

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def describe(self) -> dict[str, Any]:
        """Each node's state, and a status once one is down (the health routes show it as degraded)."""
        if not self.pooled:
            return {}
        down = sum(1 for n in self.nodes if n.up is False)
        shown: dict[str, Any] = {"nodes": {n.name: n.state for n in self.nodes}}
        if down == len(self.nodes):
            shown["status"] = "down"
        elif down:
            shown["status"] = f"degraded ({down} of {len(self.nodes)} nodes down)"
        return shown

    def start(self) -> None:
        """Probe every node, every interval, until `stop()` (a pool of one is not probed)."""
        if self.pooled and self._prober is None:
            self._prober = asyncio.get_running_loop().create_task(self._probe_forever(), name="qdrant-probes")

    async def stop(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
            self._prober = None

    async def _probe_forever(self) -> None:
        # A probe that takes longer than the interval counts as failed: a node that slow is not
        # one to send users' calls to.
        async with httpx.AsyncClient(timeout=self.probe_interval_s, headers=self._headers) as client:
            while True:
                await asyncio.gather(*(self._probe(client, node) for node in self.nodes))
                await asyncio.sleep(self.probe_interval_s)

    async def _probe(self, client: httpx.AsyncClient, node: Node) -> None:
        try:
            response = await client.get(node.engine.location + READINESS_PATH)
            ready = response.status_code == 200
        except httpx.HTTPError:
            ready = False
        self.observe(node, ready)
