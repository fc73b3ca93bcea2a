"""The web page the gateway serves at `/`, and its files under `/static`.

The page carries a Content-Security-Policy that allows scripts, styles and requests from the
gateway's own origin only, and no inline script or style: even if text from a document were
ever inserted as HTML, nothing in it could run. (The page inserts such text as text; the
browser tests check both.) Swagger UI at `/docs` keeps its own headers: it needs inline code.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def web_dir() -> Path:
    return Path(str(resources.files("ragplane") / "web"))


async def index(request: Request) -> Response:
    return FileResponse(web_dir() / "index.html", headers=PAGE_HEADERS)


def web_routes() -> list[BaseRoute]:
    return [
        Route("/", index, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=web_dir()), name="static"),
    ]
