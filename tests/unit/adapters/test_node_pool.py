"""The node pool's choice of node and its states; its probes and failovers against processes are
in tests/integration/test_qdrant_pool.py."""

import asyncio
import logging
from types import SimpleNamespace

import pytest

from ragplane.adapters.node_pool import NodePool


def pool(n: int) -> NodePool:
    engines = [SimpleNamespace(node=f"q{i}:6333", location=f"http://q{i}:6333") for i in range(n)]
    return NodePool(engines)  # type: ignore[arg-type]


def test_calls_go_round_robin_over_the_nodes_not_known_to_be_down() -> None:
    three = pool(3)
    assert [three.choose().name for _ in range(4)] == ["q0:6333", "q1:6333", "q2:6333", "q0:6333"]
    three.observe(three.nodes[1], False)
    assert {three.choose().name for _ in range(6)} == {"q0:6333", "q2:6333"}
    three.observe(three.nodes[1], True)
    assert {three.choose().name for _ in range(6)} == {"q0:6333", "q1:6333", "q2:6333"}


def test_with_every_node_down_calls_still_go_somewhere() -> None:
    two = pool(2)
    for node in two.nodes:
        two.observe(node, False)
    assert {two.choose().name for _ in range(4)} == {"q0:6333", "q1:6333"}
    assert two.describe()["status"] == "down"


def test_a_retry_avoids_the_node_that_failed_and_a_lone_node_has_no_other() -> None:
    three = pool(3)
    first = three.nodes[0]
    assert all(three.choose(avoid=first) is not first for _ in range(6))
    lone = pool(1)
    assert lone.choose(avoid=lone.nodes[0]) is None
    lone.observe(lone.nodes[0], False)
    assert lone.choose() is lone.nodes[0]  # its only node, whatever its state
    assert lone.describe() == {}


def test_listeners_hear_every_outcome_and_changes_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    three = pool(3)
    heard: list[tuple[str, bool]] = []
    three.listen(lambda node, up: heard.append((node, up)))
    with caplog.at_level(logging.WARNING, logger="ragplane.qdrant"):
        three.observe(three.nodes[0], True)  # unknown → up: the normal start, not news
        three.observe(three.nodes[0], False)
        three.observe(three.nodes[0], False)
        three.observe(three.nodes[0], True)
    assert heard == [("q0:6333", True), ("q0:6333", False), ("q0:6333", False), ("q0:6333", True)]
    assert [r.getMessage() for r in caplog.records] == [
        "qdrant node q0:6333 is down: its calls go to the others",
        "qdrant node q0:6333 is back up",
    ]
    assert three.describe() == {"nodes": {"q0:6333": "up", "q1:6333": "unknown", "q2:6333": "unknown"}}


def test_a_pool_needs_a_node_and_probes_only_several() -> None:
    with pytest.raises(ValueError):
        NodePool([])

    async def scenario() -> None:
        lone = pool(1)
        lone.start()
        assert lone._prober is None
        await lone.stop()

    asyncio.run(scenario())
