"""Each service's OpenAPI 3.1 document is valid and matches its routes."""

import pytest
from openapi_spec_validator import validate

from ragplane.kit.openapi import openapi_path
from tests.running import RunningStack


@pytest.mark.parametrize("service", ["query", "collections"])
def test_backend_documents_are_valid_and_versioned(stack: RunningStack, service: str) -> None:
    with stack.client(service, token=True) as client:
        document = client.get("/openapi.json").json()
        validate(document)
        assert document["openapi"] == "3.1.0"
        assert document["paths"] and all(p.startswith("/api/v1/") for p in document["paths"])
        spec = stack.stack.apps[service].state.spec
        declared = {(openapi_path(r.versioned_path), r.method.lower()) for r in spec.api}
        documented = {(p, m) for p, item in document["paths"].items() for m in item}
        assert declared == documented
        assert client.get("/docs").status_code == 200


def test_gateway_document_merges_both_services(gateway) -> None:
    document = gateway.get("/openapi.json").json()
    validate(document)
    assert "/api/v1/rag/search" in document["paths"]
    assert "/api/v1/rag/collections/{name}/documents" in document["paths"]
    assert "x-unavailable-upstreams" not in document["info"]


def test_gateway_docs_page_works_offline(gateway) -> None:
    page = gateway.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "http" not in page.text.split("<body>")[1].split("url:")[0]
    assert gateway.get("/docs/assets/swagger-ui.css").status_code == 200


def test_the_web_page_is_served(gateway) -> None:
    page = gateway.get("/")
    assert page.status_code == 200
    assert 'id="view"' in page.text and 'href="#/ask"' in page.text
    for path in ("/static/app.js", "/static/views/search.js", "/static/views/ask.js"):
        script = gateway.get(path)
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "/api/v1/rag" in gateway.get("/static/dom.js").text
