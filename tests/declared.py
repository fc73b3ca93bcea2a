"""Real responses checked against what a service's OpenAPI document declares for their route and status.

`check_responses(client)` hooks a client so that every response it receives from a documented
route must be declared (its status, or a problem under `default`), in a declared media type,
with a body that validates against the declared schema. The endpoint tests run with the hook,
so a handler whose answer drifts from its model (a field renamed, added, or of another type)
fails the test that made the request.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator

from ragplane.kit.versioning import LEGACY_PREFIX, V1


class DeclaredResponses:
    """The operations of one OpenAPI document, by method and path."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.components = document.get("components", {})
        # Each path's parameters match one segment; the last one may span several (a document id).
        self.templates: list[tuple[re.Pattern[str], str]] = []
        for greedy in ("[^/]+", ".+"):
            for path in document["paths"]:
                pattern = re.sub(r"\\{\w+\\}$", greedy, re.sub(r"\\{\w+\\}(?=/)", "[^/]+", re.escape(path)))
                self.templates.append((re.compile(pattern + "$"), path))
        self.validators: dict[str, Validator] = {}

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        if path.startswith(LEGACY_PREFIX + "/"):
            path = V1 + path  # a deprecated twin answers as its successor
        for pattern, template in self.templates:
            if pattern.match(path) and method.lower() in self.document["paths"][template]:
                operation: dict[str, Any] = self.document["paths"][template][method.lower()]
                return operation
        return None

    def check(self, response: httpx.Response) -> None:
        """Fails (AssertionError) when `response` is not what its operation declares."""
        request = response.request
        path = request.url.raw_path.decode().split("?")[0]
        operation = self.operation(request.method, path)
        if operation is None or request.method == "HEAD":
            return  # not an API route (health, metrics, docs): nothing is declared
        where = f"{request.method} {path} answered {response.status_code}"
        declared = operation["responses"].get(str(response.status_code))
        if declared is None:
            assert response.status_code >= 400, f"{where}, a status its operation does not declare"
            declared = operation["responses"]["default"]
        content = declared.get("content")
        if not content:
            assert not response.content, f"{where} with a body, though its operation declares none"
            return
        media = response.headers.get("content-type", "").split(";")[0].strip()
        assert media in content, f"{where} as {media!r}; declared: {sorted(content)}"
        schema = content[media]["schema"]
        key = repr(schema)
        if key not in self.validators:
            root = {**schema, "components": self.components}
            self.validators[key] = Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = sorted(self.validators[key].iter_errors(response.json()), key=lambda e: list(e.absolute_path))
        assert not errors, f"{where} with a body that is not its declared schema: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in errors[:5]
        )


def check_responses(client: httpx.Client, document: dict[str, Any] | None = None) -> httpx.Client:
    """Hook `client` so each response is checked against `document` (default: the service's /openapi.json)."""
    declared = DeclaredResponses(document if document is not None else client.get("/openapi.json").json())

    def hook(response: httpx.Response) -> None:
        response.read()
        declared.check(response)

    client.event_hooks["response"].append(hook)
    return client
