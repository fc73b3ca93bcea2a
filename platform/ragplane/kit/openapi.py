"""OpenAPI 3.1 documents built from the same `ApiRoute`s that route requests, and an offline docs page.

Because the document is generated from the routing table, a route cannot exist without
being documented (a test checks both directions). Its `components/schemas` are generated
from the pydantic models that validate requests and serialise responses
(`ragplane.kit.schemas`), so what is documented is what is enforced. `/docs` renders it with
Swagger UI served from the `swagger-ui-py` package's files, so it works with no network.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, SkipJsonSchema, models_json_schema
from pydantic_core import CoreSchema
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ragplane import __version__
from ragplane.kit.problems import PROBLEM_JSON
from ragplane.kit.schemas import optional
from ragplane.kit.versioning import ApiRoute

REF = "#/components/schemas/{model}"


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")  # extension members: dependency, breaker, ...

    type: str = Field(json_schema_extra={"format": "uri-reference"}, examples=["urn:ragplane:problem:not-found"])
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str | SkipJsonSchema[None] = optional()
    trace_id: str | SkipJsonSchema[None] = optional()
    errors: list[FieldError] | SkipJsonSchema[None] = optional("Each refused field and why (422 only).")


class _Generator(GenerateJsonSchema):
    """pydantic's JSON Schema without a `title` on every property (the name says it)."""

    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        return False


def components(
    *, requests: Sequence[type[BaseModel]] = (), responses: Sequence[type[BaseModel]] = ()
) -> dict[str, Any]:
    """`components/schemas` for these models and every model they use, each under its class name."""
    modes: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "validation") for m in requests]
    modes += [(m, "serialization") for m in responses]
    _, definitions = models_json_schema(modes, ref_template=REF, schema_generator=_Generator)
    return dict(definitions.get("$defs", {}))


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """An operation's required JSON request body."""
    return {"required": True, "content": {"application/json": {"schema": ref(model)}}}


def json_response(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(model)}}}


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The model's fields as query parameters; an optional one's `null` is dropped (a query cannot send it).
    Models they refer to (an enum) must be among the `components`."""
    schema = model.model_json_schema(ref_template=REF, schema_generator=_Generator)
    required = set(schema.get("required", ()))
    parameters = []
    for name, field in schema["properties"].items():
        field = dict(field)
        description = field.pop("description", None)
        options = [o for o in field.pop("anyOf", ()) if o != {"type": "null"}]
        if len(options) == 1:
            field = {**options[0], **field}
        elif options:
            field["anyOf"] = options
        if field.get("default", 0) is None:
            del field["default"]
        parameter = {"name": name, "in": "query", "required": name in required, "schema": field}
        parameters.append(parameter | ({"description": description} if description else {}))
    return parameters


PROBLEM_SCHEMAS = components(responses=[Problem])

PROBLEM_RESPONSE = {
    "description": "An error, as application/problem+json.",
    "content": {PROBLEM_JSON: {"schema": ref(Problem)}},
}


def _operation_id(method: str, path: str) -> str:
    words = re.findall(r"[a-z0-9]+", path.lower().replace("{", "by_"))
    return method.lower() + "".join(w.capitalize() for w in words)


def openapi_path(path: str) -> str:
    """A route's path as OpenAPI writes it: `{id:path}` (Starlette's converter) becomes `{id}`."""
    return re.sub(r"{(\w+):\w+}", r"{\1}", path)


def openapi_document(
    *,
    title: str,
    description: str,
    routes: Iterable[ApiRoute],
    schemas: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for one service's `/api/v1` routes."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation = {
            "summary": route.summary,
            "operationId": _operation_id(route.method, route.versioned_path),
            **{k: v for k, v in route.operation.items() if k != "responses"},
            "responses": {**route.operation.get("responses", {}), "default": PROBLEM_RESPONSE},
        }
        path_params = re.findall(r"{(\w+)(?::\w+)?}", route.path)
        if path_params:
            operation["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in path_params
            ] + list(operation.get("parameters", []))
        paths.setdefault(openapi_path(route.versioned_path), {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": __version__, "description": description},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": {**PROBLEM_SCHEMAS, **(schemas or {})}},
    }


def _swagger_ui_dir() -> Path:
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed; it provides the offline /docs assets")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true}});</script>
</body></html>
"""


def docs_routes(document: Mapping[str, Any] | None, *, title: str) -> list[BaseRoute]:
    """`/openapi.json`, `/docs` and the Swagger UI assets; `document=None` means an endpoint of the caller's."""
    routes: list[BaseRoute] = []
    if document is not None:
        body = dict(document)

        async def openapi_json(request: Request) -> Response:
            return JSONResponse(body)

        routes.append(Route("/openapi.json", openapi_json, methods=["GET"]))

    async def docs(request: Request) -> Response:
        return HTMLResponse(DOCS_PAGE.format(title=title))

    routes.append(Route("/docs", docs, methods=["GET"]))
    routes.append(Mount("/docs/assets", app=StaticFiles(directory=_swagger_ui_dir()), name="docs-assets"))
    return routes
