"""The composition root: build adapters and service apps from settings, then serve them.

`ragplane up` runs query and collections in one process (one event loop, a uvicorn server
per port) sharing one embedding model (run in a child process unless EMBEDDER_PROCESS=false)
and one Qdrant client, and the gateway in a second
(`serving.py`); `ragplane serve NAME` runs one. The services still talk to each other over HTTP only, exactly as
in the docker-compose stack: the same code, composed differently.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import uvicorn
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from redis.asyncio import Redis
from starlette.applications import Starlette

from ragplane.adapters.embedders import Embedder, LocalEmbedder
from ragplane.adapters.gpu import GpuSlots
from ragplane.adapters.ollama import OllamaAnswerer, OllamaClient, OllamaEmbedder
from ragplane.adapters.rediscache import connect as connect_redis
from ragplane.adapters.vectors import VectorStore
from ragplane.errors import SettingsError, StartupFailed
from ragplane.kit.logs import current_service
from ragplane.kit.tracing import create_tracer_provider, sampler
from ragplane.services.collections.app import create_collections_app
from ragplane.services.gateway.app import create_gateway_app
from ragplane.services.query.app import create_query_app
from ragplane.settings import ModelSettings, ServerSettings, Settings, prepare_offline_model_environment

SERVICES = ("gateway", "query", "collections")
BACKENDS = ("query", "collections")

log = logging.getLogger("ragplane.stack")


def build_embedder(models: ModelSettings) -> Embedder:
    if models.embedder == "ollama":
        assert models.ollama_url
        client = OllamaClient(models.ollama_url, timeout_s=models.ollama_timeout_s, dependency="embedder")
        return OllamaEmbedder(client, models.ollama_embed_model)
    prepare_offline_model_environment()  # before the model loads, here or in its child process
    return LocalEmbedder(threads=models.embedder_threads, process=models.embedder_process)


def build_llm(models: ModelSettings) -> OllamaAnswerer | None:
    """The generating answerer, if one is configured (the extractive one is built per service)."""
    if models.answerer != "ollama":
        return None
    assert models.ollama_url
    client = OllamaClient(models.ollama_url, timeout_s=models.ollama_timeout_s, dependency="llm")
    return OllamaAnswerer(client, models.ollama_llm_model)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 lets the kernel pick a free one (read it back with getsockname)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it Nagle's algorithm and delayed ACKs add ~40 ms to every response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(2048)
    return sock


def bind_service(server: ServerSettings, name: str) -> socket.socket:
    """The listening socket of service `name` at its configured port; a SettingsError naming the
    port's variable when it cannot be had."""
    ports = {"gateway": server.gateway_port, "query": server.query_port, "collections": server.collections_port}
    port = ports[name]
    try:
        return bind(server.host, port)
    except OSError as exc:
        raise SettingsError(f"{name.upper()}_PORT={port} on RAGPLANE_HOST={server.host}: {exc}") from exc


def local_url(sock: socket.socket) -> str:
    """How a process on this machine reaches `sock` (a wildcard address means loopback)."""
    host, port = sock.getsockname()[:2]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 - mapping, not binding
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass
class Stack:
    """Built apps plus what must be closed after their servers stop."""

    apps: dict[str, Starlette]
    sockets: dict[str, socket.socket]
    providers: list[TracerProvider] = field(default_factory=list)
    embedder: Embedder | None = None
    store: VectorStore | None = None
    llm: OllamaAnswerer | None = None
    redis: Redis | None = None

    @property
    def urls(self) -> dict[str, str]:
        return {name: local_url(sock) for name, sock in self.sockets.items()}

    async def close(self) -> None:
        for resource in (self.llm, self.embedder, self.store):
            if resource is not None:
                await resource.close()
        if self.redis is not None:
            await self.redis.aclose()
        for provider in self.providers:
            provider.shutdown()
        for sock in self.sockets.values():
            sock.close()


async def build_stack(
    settings: Settings,
    services: Sequence[str] = SERVICES,
    *,
    sockets: Mapping[str, socket.socket] | None = None,
    span_processors: Sequence[SpanProcessor] = (),
) -> Stack:
    """Apps for `services`, listening on `sockets` (bound from settings' ports when not given)."""
    unknown = set(services) - set(SERVICES)
    if unknown:
        raise ValueError(f"unknown services: {', '.join(sorted(unknown))}")
    if not settings.service_token:
        raise SettingsError("INTER_SERVICE_SECRET is not set: the services cannot authenticate each other")
    bound = dict(sockets or {})
    stack = Stack(apps={}, sockets={})
    try:
        for name in services:
            stack.sockets[name] = bound.pop(name) if name in bound else bind_service(settings.server, name)

        telemetry = settings.telemetry

        def provider(name: str) -> TracerProvider:
            p = create_tracer_provider(
                name,
                otlp_endpoint=telemetry.otel_exporter_otlp_endpoint,
                sampled_by=sampler(telemetry.otel_traces_sampler, telemetry.otel_traces_sampler_arg),
                disabled=telemetry.otel_sdk_disabled,
                processors=tuple(span_processors),
            )
            stack.providers.append(p)
            return p

        # One embedder, Qdrant client and GPU slot pool per process, shared by its services.
        slots = GpuSlots(settings.effective_gpu_slots, settings.models.gpu_queue_timeout_s)
        # One Redis client per process: the query caches, the gateway's rate limits and maintenance switch.
        stack.redis = connect_redis(settings.cache.redis_url) if settings.cache.redis_url else None
        if set(services) & set(BACKENDS):
            stack.store = VectorStore.configured(settings.qdrant, settings.qdrant_path)
            await stack.store.open()
            stack.embedder = build_embedder(settings.models)
        if "query" in services:
            assert stack.embedder is not None and stack.store is not None
            stack.llm = build_llm(settings.models)
            stack.apps["query"] = create_query_app(
                settings,
                embedder=stack.embedder,
                store=stack.store,
                llm=stack.llm,
                slots=slots,
                redis=stack.redis,
                tracer_provider=provider("query"),
            )
        if "collections" in services:
            assert stack.embedder is not None and stack.store is not None
            stack.apps["collections"] = create_collections_app(
                settings,
                embedder=stack.embedder,
                store=stack.store,
                slots=slots,
                tracer_provider=provider("collections"),
            )
        if "gateway" in services:
            upstreams = {
                name: local_url(stack.sockets[name]) if name in stack.sockets else settings.upstream_url(name)
                for name in BACKENDS
            }
            stack.apps["gateway"] = create_gateway_app(
                settings, upstreams=upstreams, tracer_provider=provider("gateway"), redis=stack.redis
            )
    except BaseException:
        await stack.close()
        raise
    return stack


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the runner (several share one process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Runner:
    """Serves a stack's apps on their sockets in the running event loop."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.servers: dict[str, _Server] = {}
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for name, app in self.stack.apps.items():
            config = uvicorn.Config(
                app,
                log_config=None,
                access_log=False,
                lifespan="on",
                server_header=False,
                proxy_headers=False,  # the gateway sets X-Forwarded-*; no other proxy is trusted
                timeout_graceful_shutdown=10,
                # Each request in a fresh context. Without it, asyncio's transport re-registers the
                # connection's reader inside the request that resumed reading a large body
                # (python/cpython#140947), and every later request on that keep-alive connection
                # inherits that request's trace (uvicorn#2167).
                reset_contextvars=True,
            )
            server = _Server(config)
            self.servers[name] = server
            # Each server runs in a context naming its service, so uvicorn's own log lines say which
            # (requests get a fresh context: `ServiceLogContext` names the service in theirs).
            context = contextvars.copy_context()
            context.run(current_service.set, name)
            serve = server.serve(sockets=[self.stack.sockets[name]])
            self.tasks.append(asyncio.create_task(serve, name=name, context=context))
        while not all(s.started for s in self.servers.values()):
            failed = [t.get_name() for t in self.tasks if t.done()]
            if failed:
                await self.stop()
                raise StartupFailed(f"{', '.join(failed)} failed to start; see the log above")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        for server in self.servers.values():
            server.should_exit = True
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.stack.close()
