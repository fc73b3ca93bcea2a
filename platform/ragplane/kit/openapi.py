"""OpenAPI 3.1 documents built from the same `ApiRoute`s that route requests, and an offline docs page.

Because the document is generated from the routing table, a route cannot exist without
being documented (a test checks both directions). `/docs` renders it with Swagger UI
served from the `swagger-ui-py` package's files, so it works with no network.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ragplane import __version__
from ragplane.kit.errors import PROBLEM_JSON
from ragplane.kit.versioning import ApiRoute

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem document.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference", "examples": ["urn:ragplane:problem:not-found"]},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "trace_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

PROBLEM_RESPONSE = {
    "description": "An error, as application/problem+json.",
    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
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
        "components": {"schemas": {"Problem": PROBLEM_SCHEMA, **(schemas or {})}},
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
