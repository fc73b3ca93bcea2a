"""Activity per minute: this replica's own counts, and the answer's shape whatever its source."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.requests import Request

from ragplane.errors import ValidationFailed
from ragplane.services.query.activity import ActivityApi, RecentActivity
from ragplane.services.query.schemas import WINDOW_MINUTES

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def request(query: str = "") -> Request:
    return Request(
        {"type": "http", "method": "GET", "path": "/api/v1/rag/activity", "query_string": query.encode(), "headers": []}
    )


async def answer(api: ActivityApi, query: str = "") -> dict[str, Any]:
    response = await api.activity(request(query))
    assert response.status_code == 200
    return json.loads(bytes(response.body))


def test_requests_are_counted_per_minute_by_kind_with_errors_and_latency() -> None:
    clock = Clock(600 * 60 + 5)
    recent = RecentActivity(clock)
    recent.record("search", 0.010, 200)
    recent.record("search", 0.030, 503)
    recent.record("query", 0.200, 404)
    [(minute, counts)] = recent.since(0).items()
    assert minute == 600
    assert counts.bucket(minute).model_dump() == {
        "minute": "1970-01-01T10:00:00Z",
        "searches": 2,
        "questions": 1,
        "errors": 1,
        "latency_avg_ms": 80.0,
        "latency_max_ms": 200.0,
    }


def test_minutes_older_than_the_window_are_dropped_when_a_new_minute_begins() -> None:
    clock = Clock(1000 * 60)
    recent = RecentActivity(clock)
    recent.record("search", 0.01, 200)
    clock.now += 30 * 60
    recent.record("search", 0.01, 200)
    clock.now += WINDOW_MINUTES * 60
    recent.record("query", 0.01, 200)
    assert sorted(recent.since(0)) == [1000 + 30 + WINDOW_MINUTES]


async def test_without_a_query_log_every_minute_of_the_window_comes_from_this_replica() -> None:
    clock = Clock(2000 * 60 + 59)
    recent = RecentActivity(clock)
    recent.record("search", 0.02, 200)
    body = await answer(ActivityApi(recent, None), "minutes=5")
    assert body["source"] == "replica"
    assert body["minutes"] == 5
    assert [b["searches"] for b in body["buckets"]] == [0, 0, 0, 0, 1]
    assert body["buckets"][0] == {
        "minute": "1970-01-02T09:16:00Z",
        "searches": 0,
        "questions": 0,
        "errors": 0,
        "latency_avg_ms": None,
        "latency_max_ms": None,
    }
    assert len((await answer(ActivityApi(recent, None)))["buckets"]) == WINDOW_MINUTES


class UnreadableLog:
    """A query log whose database refuses: the answer falls back to this replica's counts."""

    timeout_s = 1.0

    def __init__(self, pool: object) -> None:
        self.pool = pool


class RefusingPool:
    async def fetch(self, *args: object, **kwargs: object) -> list[object]:
        raise ConnectionRefusedError("connection refused")


@pytest.mark.parametrize("pool", [None, RefusingPool()], ids=["not connected yet", "refused"])
async def test_a_query_log_that_cannot_be_read_falls_back_to_this_replica(pool: object) -> None:
    recent = RecentActivity()
    recent.record("query", 0.1, 200)
    body = await answer(ActivityApi(recent, UnreadableLog(pool)), "minutes=1")  # type: ignore[arg-type]
    assert body["source"] == "replica"
    assert body["buckets"][0]["questions"] == 1


@pytest.mark.parametrize("minutes", ["0", "61", "-1", "ten", "1.5", "", "²"])
async def test_a_window_outside_one_to_sixty_minutes_is_refused(minutes: str) -> None:
    with pytest.raises(ValidationFailed, match="minutes: must be a whole number from 1 to 60"):
        await ActivityApi(RecentActivity(), None).activity(request(f"minutes={minutes}"))
