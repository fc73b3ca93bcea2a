"""OpenAPI documents from models: components lifted from pydantic's schemas, a valid document, and
responses checked against what their route declares."""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import pytest
from openapi_spec_validator import validate
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ragplane.kit.openapi import components, json_body, json_response, openapi_document, query_parameters
from ragplane.kit.schemas import CollectionName, RequestModel, ResponseModel
from ragplane.kit.versioning import ApiRoute
from tests.declared import DeclaredResponses


class Filters(RequestModel):
    collection: CollectionName | None = None
    limit: Annotated[int, Field(ge=1, le=10)] = Field(default=5, description="How many.")


class Thing(ResponseModel):
    name: str
    size: int | None


class Things(ResponseModel):
    things: list[Thing]


async def endpoint(request: Request) -> Response:
    return JSONResponse({})


ROUTES = [
    ApiRoute(
        "GET",
        "/things",
        endpoint,
        "List things",
        {
            "parameters": query_parameters(Filters),
            "responses": {"200": json_response(Things, "Things.")},
        },
    ),
    ApiRoute(
        "POST",
        "/things/{name}",
        endpoint,
        "Make a thing",
        {
            "requestBody": json_body(Filters),
            "responses": {"201": json_response(Thing, "Made."), "204": {"description": "Nothing to do."}},
        },
    ),
]
DOCUMENT = openapi_document(
    title="t", description="d", routes=ROUTES, schemas=components(requests=[Filters], responses=[Things])
)


def test_the_document_is_valid_and_every_model_is_a_component() -> None:
    validate(DOCUMENT)
    assert set(DOCUMENT["components"]["schemas"]) == {"Problem", "FieldError", "Filters", "Thing", "Things"}
    thing = DOCUMENT["components"]["schemas"]["Thing"]
    assert thing["required"] == ["name", "size"] and thing["additionalProperties"] is False
    assert all("title" not in field for field in thing["properties"].values())


def test_query_parameters_come_from_the_models_fields() -> None:
    assert query_parameters(Filters) == [
        {
            "name": "collection",
            "in": "query",
            "required": False,
            "schema": {"pattern": "^[a-z0-9][a-z0-9_-]{0,62}$", "type": "string"},
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"default": 5, "maximum": 10, "minimum": 1, "type": "integer"},
            "description": "How many.",
        },
    ]


def answer(method: str, path: str, status: int, body: Any = None, media: str = "application/json") -> httpx.Response:
    content = b"" if body is None else json.dumps(body).encode()
    headers = {"content-type": media} if body is not None else {}
    return httpx.Response(status, content=content, headers=headers, request=httpx.Request(method, "http://s" + path))


DECLARED = DeclaredResponses(DOCUMENT)


@pytest.mark.parametrize(
    "response",
    [
        answer("GET", "/api/v1/things", 200, {"things": [{"name": "a", "size": None}]}),
        answer("GET", "/things", 200, {"things": []}),  # the legacy twin answers as its successor
        answer("POST", "/api/v1/things/a%2Fb", 201, {"name": "a", "size": 3}),
        answer("POST", "/api/v1/things/a", 204),
        answer(
            "GET",
            "/api/v1/things",
            503,
            {"type": "t", "title": "T", "status": 503, "detail": "d", "x": 1},
            "application/problem+json",
        ),
        answer("GET", "/health", 200, {"anything": True}),  # not an API route: nothing declared
    ],
)
def test_responses_as_declared_pass(response: httpx.Response) -> None:
    DECLARED.check(response)


@pytest.mark.parametrize(
    ("response", "complaint"),
    [
        (answer("GET", "/api/v1/things", 200, {"things": [{"name": "a"}]}), "'size' is a required property"),
        (answer("GET", "/api/v1/things", 200, {"things": [], "more": 1}), "Additional properties"),
        (
            answer("GET", "/api/v1/things", 200, {"things": [{"name": 5, "size": 1}]}),
            "things/0/name: 5 is not of type 'string'",
        ),
        (answer("POST", "/api/v1/things/a", 200, {"name": "a", "size": 1}), "a status its operation does not declare"),
        (answer("POST", "/api/v1/things/a", 201, {"name": "a", "size": 1}, "text/plain"), "as 'text/plain'"),
        (answer("POST", "/api/v1/things/a", 204, {"name": "a"}), "with a body"),
        (answer("GET", "/api/v1/things", 404, {"detail": "no"}, "application/problem+json"), "'type' is a required"),
    ],
)
def test_a_response_that_drifts_from_its_declaration_fails(response: httpx.Response, complaint: str) -> None:
    with pytest.raises(AssertionError) as caught:
        DECLARED.check(response)
    assert complaint in str(caught.value)
