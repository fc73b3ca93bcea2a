import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from ragplane.kit.problems import EXCEPTION_HANDLERS
from ragplane.kit.requests import read_json_object


async def endpoint(request: Request) -> JSONResponse:
    return JSONResponse(await read_json_object(request, limit=100))


client = TestClient(Starlette(routes=[Route("/", endpoint, methods=["POST"])], exception_handlers=EXCEPTION_HANDLERS))  # type: ignore[arg-type]


def test_a_json_object_is_returned() -> None:
    assert client.post("/", json={"a": 1}).json() == {"a": 1}


@pytest.mark.parametrize(
    ("kwargs", "status", "detail"),
    [
        ({"content": b"{bad", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
        ({"content": b"", "headers": {"content-type": "application/json"}}, 400, "empty"),
        ({"json": [1, 2]}, 400, "Expected a JSON object, got list"),
        ({"content": b"a=1", "headers": {"content-type": "text/plain"}}, 415, "text/plain"),
        ({"json": {"a": "x" * 200}}, 413, "limit is 100 bytes"),
        (
            {"content": b"{}", "headers": {"content-type": "application/json", "content-length": "nan"}},
            400,
            "Content-Length",
        ),
    ],
)
def test_bad_bodies_get_clear_problems(kwargs: dict, status: int, detail: str) -> None:
    r = client.post("/", **kwargs)
    assert r.status_code == status
    assert detail in r.json()["detail"]


def test_a_streamed_body_over_the_limit_is_refused() -> None:
    def chunks():
        yield b'{"a": "'
        yield b"x" * 200
        yield b'"}'

    r = client.post("/", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
