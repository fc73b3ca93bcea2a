"""A bare Starlette app answering a search-sized JSON body: the yardstick for the stack's rates.

    .venv/bin/python -m loadtests.bare FD      serve on the listening socket FD (inherited)

One route, no middleware, no I/O; uvicorn with the event loop and HTTP parser `ragplane up`
uses (uvloop, httptools). `bench_capacity` runs it in a process of its own and points wrk at it,
so "cached search through the gateway" and "the query service direct" can be read against the
most a Python service answers on this machine: what is left between them is ragplane's.
"""

from __future__ import annotations

import socket
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PATH = "/search"
# The shape and size of a cached search's answer: five results of a chunk's length.
BODY = {
    "query": "circuit breaker open",
    "collection": "docs",
    "max_results": 5,
    "results": [
        {
            "score": 0.5,
            "document_id": f"docs/page-{i}.md",
            "title": "A page",
            "text": "A chunk of a document, as long as chunks are. " * 16,
            "section": "A section",
            "chunk_index": i,
            "source": f"docs/page-{i}.md",
        }
        for i in range(5)
    ],
    "cached": True,
    "took_ms": 0.1,
}


async def search(request: Request) -> JSONResponse:
    return JSONResponse(BODY)


app = Starlette(routes=[Route(PATH, search)])


def main(argv: list[str]) -> None:
    sock = socket.socket(fileno=int(argv[0]))
    config = uvicorn.Config(app, loop="uvloop", http="httptools", log_config=None, access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1:])
