import asyncio

from starlette.applications import Starlette
from starlette.testclient import TestClient

from ragplane import __version__
from ragplane.kit.health import Health


async def ok() -> dict:
    return {"detail": "fine"}


async def broken() -> dict:
    raise RuntimeError("disk on fire")


async def slow() -> dict:
    await asyncio.sleep(5)
    return {}


def test_liveness_describes_the_service(make_kit) -> None:
    body = make_kit().client.get("/health").json()
    assert body["status"] == "ok"
    assert body["service"] == "demo" and body["version"] == __version__
    assert body["uptime_seconds"] >= 0 and body["dependencies"] == {}


def test_ready_when_every_check_passes(make_kit) -> None:
    r = make_kit(checks={"a": ok}).client.get("/health/ready")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready"
    assert body["checks"]["a"]["status"] == "up" and body["checks"]["a"]["detail"] == "fine"


def test_not_ready_is_a_503_problem_naming_the_failures(make_kit) -> None:
    r = make_kit(checks={"a": ok, "disk": broken, "slow": slow}).client.get("/health/ready")
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["retry-after"] == "5"
    body = r.json()
    assert "disk: disk on fire" in body["detail"]
    assert "slow: no answer within 0.2s" in body["detail"]
    assert body["checks"]["a"]["status"] == "up"


def test_a_dependency_serving_reduced_marks_liveness_degraded_but_not_readiness() -> None:
    async def describe() -> dict:
        return {"registry": {"backend": "json", "status": "degraded (json)"}, "cache": {"status": "up"}}

    health = Health("demo", checks={"a": ok}, describe=describe)
    client = TestClient(Starlette(routes=health.routes()))

    assert client.get("/health").json()["status"] == "degraded"
    assert client.get("/health/ready").status_code == 200
