import asyncio
from unittest.mock import ANY

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from ragplane import __version__
from ragplane.kit.health import Health, ReadinessGate, public_view
from tests.unit.kit.conftest import SECRET


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


async def located() -> dict:
    return {"path": "/srv/ragplane/data/collections.json", "location": "http://qdrant-1:6333", "collections": 2}


async def unwritable() -> dict:
    raise PermissionError("[Errno 13] Permission denied: '/srv/ragplane/data/.write-probe'")


def test_only_service_token_holders_see_where_things_live(make_kit) -> None:
    client = make_kit(secrets=[SECRET], checks={"registry": located, "disk": unwritable}).client
    anonymous = client.get("/health/ready")
    assert anonymous.status_code == 503
    assert "/srv/" not in anonymous.text and "qdrant-1" not in anonymous.text
    assert anonymous.json()["checks"]["registry"] == {"status": "up", "latency_ms": ANY, "collections": 2}
    assert anonymous.json()["detail"] == "demo is not ready: disk: [Errno 13] Permission denied: '<hidden>'"
    trusted = client.get("/health/ready", headers={"X-Service-Token": SECRET}).json()
    assert trusted["checks"]["registry"]["path"] == "/srv/ragplane/data/collections.json"
    assert "'/srv/ragplane/data/.write-probe'" in trusted["detail"]
    assert "/srv/" not in client.get("/health/ready", headers={"X-Service-Token": "wrong"}).text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("cannot open /var/lib/ragplane/x.json", "cannot open <hidden>"),
        ("[Errno 2] No such file: '/data/q'", "[Errno 2] No such file: '<hidden>'"),
        ("refused by http://user@db:5432/x", "refused by <hidden>"),
        ("Connect call failed ('10.0.0.5', 5432)", "Connect call failed ('<hidden>', 5432)"),
        ("3/5 replicas, n/a, degraded (json), v1.2", "3/5 replicas, n/a, degraded (json), v1.2"),
    ],
)
def test_public_view_masks_paths_and_urls_in_text(text: str, shown: str) -> None:
    assert public_view({"error": text, "host": "db", "port": 5432, "nested": [{"url": "x", "detail": text}]}) == {
        "error": shown,
        "nested": [{"detail": shown}],
    }


def test_public_view_keeps_texts_that_are_not_errors() -> None:
    maintenance = {"status": "on", "message": "Re-indexing, see https://status.example/ or /var/www/notice"}
    assert public_view({"maintenance": maintenance}) == {"maintenance": maintenance}


def test_liveness_hides_locations_from_anonymous_callers() -> None:
    async def describe() -> dict:
        return {"qdrant": {"mode": "local", "location": "/data/qdrant"}, "registry": {"path": "/data/c.json"}}

    health = Health("demo", describe=describe)
    client = TestClient(Starlette(routes=health.routes(secrets=["s" * 40])))
    assert client.get("/health").json()["dependencies"] == {"qdrant": {"mode": "local"}, "registry": {}}
    trusted = client.get("/health", headers={"X-Service-Token": "s" * 40}).json()
    assert trusted["dependencies"]["qdrant"]["location"] == "/data/qdrant"


def test_readiness_names_what_serves_in_a_reduced_way() -> None:
    async def describe() -> dict:
        return {
            "registry": {"backend": "json", "status": "degraded (json)"},
            "caches": {"search_results": {"backend": "memory", "status": "down"}, "vectors": {"status": "up"}},
            "embedder": {"status": "up"},
            "answerer": {"name": "extractive"},
        }

    health = Health("demo", checks={"a": ok}, describe=describe)
    client = TestClient(Starlette(routes=health.routes()))
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["degraded"] == {"registry": "degraded (json)", "caches.search_results": "down"}


def test_a_readiness_gate_holds_readiness_until_it_opens_and_nothing_else() -> None:
    gate = ReadinessGate("loading the demo corpus")
    app = Starlette(routes=Health(service="query").routes())
    gate.hold(app)
    with TestClient(app) as client:
        held = client.get("/health/ready")
        assert held.status_code == 503 and held.headers["content-type"] == "application/problem+json"
        assert held.json()["detail"] == "not ready: loading the demo corpus" and held.headers["retry-after"] == "5"
        assert client.get("/health").status_code == 200  # alive all along
        gate.open()
        assert client.get("/health/ready").status_code == 200
