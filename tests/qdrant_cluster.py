"""Three stand-in Qdrant nodes (`tests/fakes/qdrant_node.py`) as separate processes, peers of each
other: started, killed with SIGKILL, stopped and continued (SIGSTOP/SIGCONT), for the node pool's tests.

Each node serves on a socket this process binds (a free port, no race for it) and hands over; this
process keeps no copy, so a killed node's port refuses connections, as a dead server's does.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import TracebackType

import httpx

from tests.running import until

ROOT = Path(__file__).resolve().parent.parent


class QdrantCluster:
    """`with QdrantCluster(tmp_path) as cluster:` — `cluster.urls`, `cluster.kill(i)`, `pause(i)`, `resume(i)`."""

    def __init__(self, data: Path, nodes: int = 3) -> None:
        self.data = data
        self.sockets = [_listening() for _ in range(nodes)]
        self.urls = [f"http://127.0.0.1:{s.getsockname()[1]}" for s in self.sockets]
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * nodes

    def start(self) -> QdrantCluster:
        for i, sock in enumerate(self.sockets):
            peers = [arg for j, url in enumerate(self.urls) if j != i for arg in ("--peer", url)]
            folder = self.data / f"node-{i}"
            folder.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, "-m", "tests.fakes.qdrant_node", "--fd", str(sock.fileno())]
            with (self.data / f"node-{i}.log").open("ab") as log:
                self.processes[i] = subprocess.Popen(
                    [*command, "--data", str(folder), *peers],
                    cwd=ROOT,
                    pass_fds=[sock.fileno()],
                    stdout=log,
                    stderr=log,
                )
            sock.close()
        for i in range(len(self.urls)):
            until(lambda i=i: self.ready(i), timeout=60)
        return self

    def ready(self, i: int) -> bool:
        process = self.processes[i]
        assert process is not None and process.poll() is None, f"stand-in node {i} exited: see {self.data}/node-{i}.log"
        try:
            return httpx.get(self.urls[i] + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def node(self, i: int) -> str:
        """Node `i` as the pool's metrics name it."""
        return self.urls[i].removeprefix("http://")

    def kill(self, i: int) -> None:
        process = self.processes[i]
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(30)

    def pause(self, i: int) -> None:
        """SIGSTOP: the port still accepts connections, nothing answers (a hung server)."""
        self._signal(i, signal.SIGSTOP)

    def resume(self, i: int) -> None:
        self._signal(i, signal.SIGCONT)

    def _signal(self, i: int, signum: int) -> None:
        process = self.processes[i]
        assert process is not None
        os.kill(process.pid, signum)

    def __enter__(self) -> QdrantCluster:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for i in range(len(self.processes)):
            self.kill(i)  # a stopped process is killed as well


def _listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
