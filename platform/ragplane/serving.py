"""Serving until Ctrl-C: `ragplane up` (the whole stack) and `ragplane serve NAME` (one service).

`ragplane up` runs the query and collections services in this process, where they share one
embedding model (itself run in a child process, `adapters/model_process.py`), one Qdrant client
and the embedded engine's data directory (which admits one process), and the gateway in a child
process of its own: `ragplane serve gateway --socket-fd N`
on a socket this process bound, so the address is known (and taken) before the child starts.
The edge and the services then run on two cores instead of sharing one event loop. One
gateway process keeps the rate limiter's in-memory counters exact (with `REDIS_URL` they are
shared by any number). The child is stopped with its parent, and the parent stops, exiting 1,
when the child dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from ragplane.errors import GatewayFailed, RagplaneError, StartupFailed
from ragplane.kit.health import ReadinessGate
from ragplane.settings import Settings, child_environment
from ragplane.stack import BACKENDS, Runner, bind_service, build_stack, local_url

GATEWAY_READY_S = 60.0
GATEWAY_STOP_S = 15.0

Say = Callable[[str], object]
AfterUp = Callable[[Mapping[str, str]], Coroutine[Any, Any, None]]


class GatewayProcess:
    """`ragplane serve gateway` as a child, serving on `sock` and forwarding to `backends`."""

    def __init__(self, sock: socket.socket, env_file: str | Path, backends: Mapping[str, str]) -> None:
        self.sock = sock
        self.url = local_url(sock)
        self.env_file = str(env_file)
        self.backends = dict(backends)
        self.process: asyncio.subprocess.Process | None = None
        self._alive: int | None = None  # the write end of the pipe the child watches

    async def start(self, timeout_s: float = GATEWAY_READY_S) -> None:
        """Spawn the child and wait until it answers `/health`; GatewayFailed when it cannot."""
        fd = self.sock.fileno()
        # Only this socket is inheritable: uvloop's spawn closes only the descriptors marked
        # close-on-exec, so a service's inheritable socket would live on in the gateway, which
        # would accept connections for it, never answering, after this process died.
        self.sock.set_inheritable(True)
        # The child reads `watch` and stops at its end of file, which comes when this process is
        # gone however it ended (a SIGKILL included): no gateway is left orphaned on its port.
        watch, self._alive = os.pipe()
        os.set_inheritable(watch, True)
        env = child_environment(QUERY_URL=self.backends["query"], COLLECTIONS_URL=self.backends["collections"])
        command = ["-m", "ragplane.cli", "--env-file", self.env_file, "serve", "gateway", "--socket-fd", str(fd)]
        command += ["--parent-fd", str(watch)]
        self.process = await asyncio.create_subprocess_exec(sys.executable, *command, env=env, pass_fds=(fd, watch))
        os.close(watch)
        self.sock.close()  # the child listens on its copy
        deadline = asyncio.get_running_loop().time() + timeout_s
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                if self.process.returncode is not None:
                    raise GatewayFailed(f"the gateway process exited with {self.process.returncode}; see above")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.url + "/health")).status_code == 200:
                        return
                if asyncio.get_running_loop().time() > deadline:
                    await self.stop()
                    raise GatewayFailed(f"the gateway process did not answer within {timeout_s:g} s")
                await asyncio.sleep(0.05)

    async def wait(self) -> int:
        assert self.process is not None
        return await self.process.wait()

    async def stop(self) -> None:
        """SIGINT (a graceful stop, as Ctrl-C), then SIGKILL after GATEWAY_STOP_S."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), GATEWAY_STOP_S)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._alive is not None:
            os.close(self._alive)
            self._alive = None


async def serve(
    settings: Settings,
    services: Sequence[str],
    *,
    env_file: str | Path,
    say: Say,
    after_up: AfterUp | None = None,
    socket_fd: int | None = None,
    parent_fd: int | None = None,
) -> int:
    """Serve `services` until SIGINT/SIGTERM. The whole stack splits off its gateway (above);
    `socket_fd` is the inherited socket of a gateway started that way (it says nothing itself),
    `parent_fd` the pipe whose end of file says the process that started it is gone."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if parent_fd is not None:
        loop.add_reader(parent_fd, _stop_at_end_of_file, parent_fd, stop)
    split = "gateway" in services and len(services) > 1
    in_process = [name for name in services if not (split and name == "gateway")]
    sockets = {in_process[0]: socket.socket(fileno=socket_fd)} if socket_fd is not None else {}
    try:
        edge = bind_service(settings.server, "gateway") if split else None
        stack = await build_stack(settings, in_process, sockets=sockets)
    except (RagplaneError, OSError, RuntimeError) as exc:  # settings, a locked or unconvertible store
        say(f"ragplane: cannot start: {exc}")
        return 2
    # With work to do once up (the demo corpus), the query service is not ready until it is done,
    # so the gateway's readiness, which asks its upstreams', says so too.
    gate = ReadinessGate("loading the demo corpus") if after_up is not None and "query" in stack.apps else None
    if gate is not None:
        gate.hold(stack.apps["query"])
    runner = Runner(stack)
    try:
        await runner.start()
    except StartupFailed as exc:
        say(f"ragplane: {exc}")
        return 1
    urls = stack.urls
    gateway = GatewayProcess(edge, env_file, {name: urls[name] for name in BACKENDS}) if edge else None
    if gateway is not None:
        try:
            await gateway.start()
        except GatewayFailed as exc:
            say(f"ragplane: {exc}")
            await runner.stop()
            return 1
        urls = {"gateway": gateway.url, **urls}
    after: asyncio.Task[None] | None = None
    if after_up is not None:
        after = asyncio.create_task(_then_ready(after_up, urls, gate, say))
    elif socket_fd is None:
        _banner(urls, say)
    code = await _until_stopped(stop, gateway, say)
    say("ragplane: stopping")
    if after is not None:
        after.cancel()
    if gateway is not None:
        await gateway.stop()
    await runner.stop()
    return code


def _stop_at_end_of_file(fd: int, stop: asyncio.Event) -> None:
    if not os.read(fd, 1):
        stop.set()


async def _then_ready(after_up: AfterUp, urls: Mapping[str, str], gate: ReadinessGate | None, say: Say) -> None:
    say("ragplane is up; loading the demo corpus before it is ready…")
    try:
        await after_up(urls)
    except Exception as exc:  # ready without it: the stack itself works
        say(f"ragplane: the demo corpus could not be loaded: {exc}")
    if gate is not None:
        gate.open()
    _banner(urls, say)


def _banner(urls: Mapping[str, str], say: Say) -> None:
    say("ragplane is ready: " + "  ".join(f"{name}={url}" for name, url in urls.items()))
    if "gateway" in urls:
        say(f"Open {urls['gateway']}/ for search and Q&A, {urls['gateway']}/docs for the API.")
    say("Press Ctrl-C to stop.")


async def _until_stopped(stop: asyncio.Event, gateway: GatewayProcess | None, say: Say) -> int:
    """0 on a signal; 1 when the gateway process died first."""
    waiting: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
    if gateway is not None:
        waiting.append(asyncio.create_task(gateway.wait()))
    done, pending = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    if waiting[0] in done:
        return 0
    say(f"ragplane: the gateway process exited with {waiting[1].result()}")
    return 1
