"""The web page's headers: its own origin only, no inline code, no sniffing, no referrer."""

from starlette.applications import Starlette
from starlette.testclient import TestClient

from ragplane.services.gateway.web import web_routes


def test_the_page_allows_nothing_inline_and_nothing_from_elsewhere() -> None:
    with TestClient(Starlette(routes=web_routes())) as client:
        page = client.get("/")
    assert page.status_code == 200 and 'id="view"' in page.text
    policy = dict(d.strip().split(" ", 1) for d in page.headers["Content-Security-Policy"].split(";"))
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in page.headers["Content-Security-Policy"]
    assert policy["default-src"] == policy["script-src"] == policy["style-src"] == "'self'"
    assert policy["object-src"] == policy["base-uri"] == policy["frame-ancestors"] == "'none'"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"


def test_the_pages_files_are_served_from_static() -> None:
    with TestClient(Starlette(routes=web_routes())) as client:
        script = client.get("/static/views/search.js")
        missing = client.get("/static/nothing.js")
    assert script.status_code == 200 and "/api/v1/rag/search" not in script.text and "render" in script.text
    assert missing.status_code == 404
