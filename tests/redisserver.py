"""A real `redis-server` run from deploy/redis/redis.conf on a free port with a data directory of
the test's: started, killed with SIGKILL, restarted on the same directory."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path
from types import TracebackType

import redis

from tests.promstack import free_port
from tests.running import until

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "deploy" / "redis" / "redis.conf"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """`with RedisServer(tmp_path) as server:` — `server.url`, `server.kill()`, `server.start()`.
    `overrides` are `redis-server` options after the file's (`appendonly no`, say)."""

    def __init__(self, data: Path, *overrides: str) -> None:
        self.data = data
        self.data.mkdir(parents=True, exist_ok=True)
        self.overrides = overrides
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        options = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data), "--daemonize", "no"]
        for override in self.overrides:
            options += ["--" + override.split()[0], *override.split()[1:]]
        with (self.data.parent / f"redis-{self.port}.log").open("ab") as log:
            self.process = subprocess.Popen([REDIS_SERVER, str(CONF), *options], stdout=log, stderr=log)
        with redis.Redis.from_url(self.url, socket_timeout=2) as client:
            until(lambda: self._loaded(client), timeout=60)
        return self

    def _loaded(self, client: redis.Redis) -> bool:
        assert self.process is not None and self.process.poll() is None, "redis-server exited"
        try:
            return bool(client.info("persistence")["loading"] == 0)
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown save, no AOF flush beyond what each write already did."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.kill()
