import json

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from ragplane.kit.problems import EXCEPTION_HANDLERS
from ragplane.kit.requests import MAX_JSON_DEPTH, read_json_object


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


async def roomy(request: Request) -> JSONResponse:
    return JSONResponse(await read_json_object(request, limit=1_000_000))


deep_client = TestClient(Starlette(routes=[Route("/", roomy, methods=["POST"])], exception_handlers=EXCEPTION_HANDLERS))  # type: ignore[arg-type]


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("[" * 10_000 + "]" * 10_000, f"deeper than {MAX_JSON_DEPTH} levels"),
        ('{"a":' + "[" * 10_000 + "]" * 10_000 + "}", f"deeper than {MAX_JSON_DEPTH} levels"),
        (nested(MAX_JSON_DEPTH + 1), f"deeper than {MAX_JSON_DEPTH} levels"),
        ('{"metadata":' + nested(400) + "}", f"deeper than {MAX_JSON_DEPTH} levels"),
        ('{"query": "\\ud800"}', "lone UTF-16 surrogate"),
        ('{"\\udfff": 1}', "lone UTF-16 surrogate"),
        ('{"n": ' + "1" * 50_000 + "}", "outside the 64-bit range"),
        ('{"n": [-9223372036854775809]}', "outside the 64-bit range"),
        ('{"n": 1e400}', "too large to represent"),
        ('{"n": NaN}', "NaN, which is not JSON"),
        ('{"n": -Infinity}', "-Infinity, which is not JSON"),
        (b'{"a": "\xe9"}', "not UTF-8 text"),
    ],
)
def test_hostile_json_is_a_clear_400(body: str | bytes, detail: str) -> None:
    r = deep_client.post("/", content=body, headers={"content-type": "application/json"})
    assert (r.status_code, r.headers["content-type"]) == (400, "application/problem+json")
    assert detail in r.json()["detail"]


def test_json_within_the_bounds_is_accepted() -> None:
    body = {
        "deep": json.loads(nested(MAX_JSON_DEPTH - 1)),
        "big": [9223372036854775807, -9223372036854775808, 1e300],
        "text": "emoji 😀 and accents é",
    }
    assert deep_client.post("/", json=body).json() == body
    assert deep_client.post("/", content='{"pair": "\\ud83d\\ude00"}').json() == {"pair": "😀"}
