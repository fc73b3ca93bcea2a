"""A stand-in Qdrant node: the subset of Qdrant's REST API ragplane's server engine uses, served
over a real engine (Qdrant Edge, ragplane's embedded one) in a directory of its own, for tests only.

Qdrant servers cannot run here, so the node pool is tested against three of these as separate
processes, started and killed by the tests (`tests/qdrant_cluster.py`). Each node applies a
write to its own engine and passes it on to its peers (a request marked as a peer's is not passed
on again), and acknowledges it once the collection's `write_consistency_factor` copies hold it,
as a Qdrant cluster does; it does not catch a peer up that missed writes while down. Collection
metadata (the content version ragplane keeps) is the node's own JSON file, copied the same way.

    python -m tests.fakes.qdrant_node --fd FD --data DIR [--peer URL ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from qdrant_client import models
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ragplane.adapters.embedded_store import EmbeddedEngine
from ragplane.adapters.store_engine import DENSE, SPARSE, Point
from ragplane.errors import CollectionExists, CollectionNotFound
from ragplane.lexical import SparseVector

PEER_HEADER = "x-standin-peer"  # a write passed on by a peer: apply it, pass it on no further
PEER_TIMEOUT_S = 2.0


def ok(result: Any) -> JSONResponse:
    return JSONResponse({"result": result, "status": "ok", "time": 0.0})


def refused(status: int, error: str) -> JSONResponse:
    return JSONResponse({"status": {"error": error}, "time": 0.0}, status_code=status)


def completed() -> JSONResponse:
    return ok({"operation_id": 0, "status": "completed"})


def _match(conditions: list[dict[str, Any]] | None) -> dict[str, str]:
    return {c["key"]: c["match"]["value"] for c in conditions or []}


def _sparse(raw: dict[str, Any]) -> SparseVector:
    return SparseVector(tuple(raw["indices"]), tuple(raw["values"]))


def _point(raw: dict[str, Any]) -> Point:
    vector = raw["vector"]
    named = vector if isinstance(vector, dict) else {DENSE: vector}
    sparse = named.get(SPARSE)
    return Point(str(raw["id"]), named[DENSE], raw.get("payload") or {}, _sparse(sparse) if sparse else None)


def _dense(query: Any) -> list[float]:
    return list(query["nearest"] if isinstance(query, dict) else query)


def _offset(value: Any) -> Any:
    """A scroll offset as JSON carries it: Edge gives a point id back as an int or a UUID."""
    return value if value is None or isinstance(value, int) else str(value)


def _vectors(point: Point) -> Any:
    if point.sparse is None:
        return point.vector
    return {DENSE: point.vector, SPARSE: {"indices": list(point.sparse.indices), "values": list(point.sparse.values)}}


class Node:
    def __init__(self, data: Path, peers: list[str]) -> None:
        self.engine = EmbeddedEngine(data)
        self.peers = peers
        self.metadata_file = data / "metadata.json"
        self.metadata: dict[str, dict[str, Any]] = {}
        self.client: httpx.AsyncClient | None = None

    def open(self) -> None:
        self.engine.open()
        if self.metadata_file.exists():
            self.metadata = json.loads(self.metadata_file.read_text())

    def _save_metadata(self) -> None:
        temporary = self.metadata_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.metadata))
        temporary.replace(self.metadata_file)

    async def replicate(self, request: Request, body: bytes) -> int:
        """Copies that hold a write: this node's, and each peer's that took it."""
        assert self.client is not None, "the app's lifespan makes the client"
        url = request.url.path + (f"?{request.url.query}" if request.url.query else "")

        async def send(peer: str) -> bool:
            assert self.client is not None
            try:
                answer = await self.client.request(request.method, peer + url, content=body, headers={PEER_HEADER: "1"})
                return answer.status_code < 300
            except httpx.HTTPError:
                return False

        return 1 + sum(await asyncio.gather(*(send(peer) for peer in self.peers)))

    async def write(self, request: Request, collection: str, apply: Any) -> Response:
        """Apply locally, pass on, and answer as a cluster would for the collection's consistency."""
        body = await request.body()
        try:
            result = await run_in_threadpool(apply, json.loads(body) if body else {})
        except CollectionNotFound:
            return refused(404, f"Not found: Collection `{collection}` doesn't exist!")
        except CollectionExists:
            return refused(409, f"Wrong input: Collection `{collection}` already exists!")
        if request.headers.get(PEER_HEADER):
            return completed()  # the peer that passed it on counts the copies
        copies = await self.replicate(request, body)
        needed = int(self.metadata.get(collection, {}).get("_write_consistency_factor", 1))
        if copies < needed:
            return refused(503, f"Service internal error: {copies} of {needed} replicas applied the write")
        return ok(result) if result is not None else completed()

    async def read(self, collection: str, fn: Any) -> Response:
        try:
            return ok(await run_in_threadpool(fn))
        except CollectionNotFound:
            return refused(404, f"Not found: Collection `{collection}` doesn't exist!")

    # --- collections -------------------------------------------------------------------------

    def create(self, name: str, body: dict[str, Any]) -> bool:
        self.engine.create(name, int(body["vectors"]["size"]))
        self.metadata[name] = {
            **(body.get("metadata") or {}),
            "_dimension": int(body["vectors"]["size"]),
            "_replication_factor": body.get("replication_factor") or 1,
            "_write_consistency_factor": body.get("write_consistency_factor") or 1,
        }
        self._save_metadata()
        return True

    def update(self, name: str, body: dict[str, Any]) -> bool:
        if not self.engine.exists(name):
            raise CollectionNotFound(name)
        self.metadata.setdefault(name, {}).update(body.get("metadata") or {})
        self._save_metadata()
        return True

    def drop(self, name: str) -> bool:
        self.metadata.pop(name, None)
        self._save_metadata()
        return self.engine.drop(name)

    def info(self, name: str) -> dict[str, Any]:
        count = self.engine.count(name)  # raises CollectionNotFound
        own = self.metadata.get(name, {})
        info = models.CollectionInfo(
            status=models.CollectionStatus.GREEN,
            optimizer_status=models.OptimizersStatusOneOf.OK,
            points_count=count,
            segments_count=1,
            payload_schema={},
            config=models.CollectionConfig(
                params=models.CollectionParams(
                    vectors=models.VectorParams(size=own.get("_dimension", 1), distance=models.Distance.COSINE),
                    sparse_vectors={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                    replication_factor=own.get("_replication_factor", 1),
                    write_consistency_factor=own.get("_write_consistency_factor", 1),
                ),
                hnsw_config=models.HnswConfig(m=16, ef_construct=100, full_scan_threshold=10000),
                optimizer_config=models.OptimizersConfig(
                    deleted_threshold=0.2,
                    vacuum_min_vector_number=1000,
                    default_segment_number=0,
                    flush_interval_sec=5,
                ),
                metadata={k: v for k, v in own.items() if not k.startswith("_")},
            ),
        )
        return info.model_dump(mode="json", exclude_none=True)

    # --- points ------------------------------------------------------------------------------

    def query(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        limit = int(body.get("limit", 10))
        dense, sparse = None, None
        if body.get("prefetch"):
            for prefetch in body["prefetch"]:
                if prefetch.get("using") == SPARSE:
                    sparse = _sparse(prefetch["query"])
                else:
                    dense = _dense(prefetch["query"])
        else:
            dense = _dense(body["query"])
        assert dense is not None, "a query needs its dense vector"
        hits = self.engine.search(name, dense, limit, sparse)
        return {"points": [{"id": h.id, "version": 0, "score": h.score, "payload": h.payload} for h in hits]}

    def scroll(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        limit, offset = int(body.get("limit", 10)), body.get("offset")
        if body.get("with_vector"):
            points, following = self.engine.points(name, limit=limit, offset=offset)
            shown = [{"id": p.id, "payload": p.payload, "vector": _vectors(p)} for p in points]
            return {"points": shown, "next_page_offset": _offset(following)}
        fields = body.get("with_payload", True)
        match = _match((body.get("filter") or {}).get("must"))
        records, following = self.engine.scroll(
            name, match=match, fields=fields if isinstance(fields, list) else None, limit=limit, offset=offset
        )
        return {"points": [{"id": i, "payload": p} for i, p in records], "next_page_offset": _offset(following)}

    def delete(self, name: str, body: dict[str, Any]) -> None:
        where = body.get("filter") or {}
        self.engine.delete(name, _match(where.get("must")), _match(where.get("must_not")))


def app(node: Node) -> Starlette:
    async def collections(request: Request) -> Response:
        return ok({"collections": [{"name": n} for n in node.engine.collections()]})

    async def collection(request: Request) -> Response:
        name = request.path_params["name"]
        if request.method == "GET":
            return await node.read(name, lambda: node.info(name))
        if request.method == "PUT":
            return await node.write(request, name, lambda body: node.create(name, body))
        if request.method == "PATCH":
            return await node.write(request, name, lambda body: node.update(name, body))
        return await node.write(request, name, lambda body: node.drop(name))

    async def exists(request: Request) -> Response:
        return ok({"exists": node.engine.exists(request.path_params["name"])})

    async def index(request: Request) -> Response:
        # Edge indexes ragplane's filter fields when it builds a collection: nothing left to do.
        return completed()

    async def upsert(request: Request) -> Response:
        name = request.path_params["name"]
        points = lambda body: [_point(p) for p in body["points"]]  # noqa: E731
        return await node.write(request, name, lambda body: node.engine.upsert(name, points(body)))

    async def delete(request: Request) -> Response:
        name = request.path_params["name"]
        return await node.write(request, name, lambda body: node.delete(name, body))

    async def query(request: Request) -> Response:
        name, body = request.path_params["name"], await request.json()
        return await node.read(name, lambda: node.query(name, body))

    async def scroll(request: Request) -> Response:
        name, body = request.path_params["name"], await request.json()
        return await node.read(name, lambda: node.scroll(name, body))

    async def count(request: Request) -> Response:
        name = request.path_params["name"]
        return await node.read(name, lambda: {"count": node.engine.count(name)})

    async def ready(request: Request) -> Response:
        return PlainTextResponse("all shards are ready")

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=PEER_TIMEOUT_S) as client:
            node.client = client
            yield
        await run_in_threadpool(node.engine.close)

    return Starlette(
        routes=[
            Route("/readyz", ready),
            Route("/collections", collections),
            Route("/collections/{name}", collection, methods=["GET", "PUT", "PATCH", "DELETE"]),
            Route("/collections/{name}/exists", exists),
            Route("/collections/{name}/index", index, methods=["PUT"]),
            Route("/collections/{name}/points", upsert, methods=["PUT"]),
            Route("/collections/{name}/points/delete", delete, methods=["POST"]),
            Route("/collections/{name}/points/query", query, methods=["POST"]),
            Route("/collections/{name}/points/scroll", scroll, methods=["POST"]),
            Route("/collections/{name}/points/count", count, methods=["POST"]),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="a listening socket the parent bound")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--peer", action="append", default=[])
    args = parser.parse_args()
    node = Node(args.data, args.peer)
    node.open()
    sock = socket.socket(fileno=args.fd)
    config = uvicorn.Config(app(node), log_level="warning", access_log=False, lifespan="on")
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
