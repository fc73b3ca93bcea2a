"""A private embedded stack for one load run: `ragplane up --demo` in its own process.

Free ports, a throw-away data directory and `.env`, its own secrets, and a `load` plan added
to RATE_LIMIT_PLANS, so a run keeps the rate limiter in the path (its check is part of what
is measured) without one client at 1000 requests/s being refused. The token for that plan
comes from `ragplane token`, as an operator would get one. Started from the checkout, so the
demo corpus is the repository's own docs/ and runbooks/; ready once the corpus is ingested.
`Stack(demo=False)` starts an empty stack, ready once it is up (the browser tests bring their
own small corpus); `settings` adds or replaces settings of the stack's environment.
"""

from __future__ import annotations

import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from loadtests import config

ROOT = Path(__file__).resolve().parents[1]
RAGPLANE = Path(sys.executable).with_name("ragplane")
LOAD_PLAN = "load"
LOAD_PLAN_PER_MINUTE = 10_000_000
UP = re.compile(r"ragplane is ready: (.*)")
SEEDED = re.compile(r"(\d+) ingested, (\d+) unchanged, (\d+) failed")
# Settings of the caller's environment that would point the private stack at shared state.
PRIVATE = (
    "INTER_SERVICE",
    "RAGPLANE_",
    "QDRANT",
    "DATABASE_URL",
    "REDIS_URL",
    "JWT_",
    "RATE_LIMIT_",
    "GATEWAY_",
    "OLLAMA_",
)


class StackFailed(RuntimeError):
    pass


class Stack:
    """Use as a context manager: `with Stack() as stack: stack.urls["gateway"]`."""

    def __init__(self, timeout_s: float = 300, *, demo: bool = True, settings: Mapping[str, str] | None = None) -> None:
        self.demo = demo
        self.tmp = tempfile.TemporaryDirectory(prefix="ragplane-load-")
        self.dir = Path(self.tmp.name)
        self.timeout_s = timeout_s
        self.service_token = secrets.token_urlsafe(40)
        self.env = config.environment(
            {
                "RAGPLANE_DATA_DIR": str(self.dir / "data"),
                "GATEWAY_PORT": "0",
                "QUERY_PORT": "0",
                "COLLECTIONS_PORT": "0",
                "LOG_LEVEL": "WARNING",
                "INTER_SERVICE_SECRET": self.service_token,
                "JWT_SECRET": secrets.token_urlsafe(40),
                "RATE_LIMIT_PLANS": f"free:100,pro:1000,{LOAD_PLAN}:{LOAD_PLAN_PER_MINUTE}",
                **(settings or {}),
            },
            without=PRIVATE,
        )
        self.stderr = self.dir / "stderr.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.urls: dict[str, str] = {}

    def _command(self, *args: str) -> list[str]:
        return [str(RAGPLANE), "--env-file", str(self.dir / ".env"), *args]

    def start(self) -> Stack:
        with self.stderr.open("w") as err, (self.dir / "stdout.log").open("w") as out:
            self.process = subprocess.Popen(
                self._command("up", *(["--demo"] if self.demo else [])), cwd=ROOT, env=self.env, stdout=out, stderr=err
            )
        up = self._wait(UP)
        self.urls = dict(part.split("=", 1) for part in up.group(1).split())
        if not self.demo:
            return self
        seeded = self._wait(SEEDED)
        if int(seeded.group(3)):
            raise StackFailed(f"the demo corpus did not ingest cleanly: {seeded.group(0)}")
        return self

    def _wait(self, pattern: re.Pattern[str]) -> re.Match[str]:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            found = pattern.search(self.stderr.read_text())
            if found:
                return found
            if self.process is None or self.process.poll() is not None:
                raise StackFailed(f"ragplane exited:\n{self.stderr.read_text()[-3000:]}")
            time.sleep(0.1)
        raise StackFailed(f"no {pattern.pattern!r} within {self.timeout_s:g} s:\n{self.stderr.read_text()[-3000:]}")

    def token(self, ttl: str = "12h", *, plan: str = LOAD_PLAN, sub: str = "load-test") -> str:
        """A bearer token (the load plan's unless told), from `ragplane token` with the stack's settings."""
        result = subprocess.run(
            self._command("token", "--sub", sub, "--plan", plan, "--ttl", ttl),
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackFailed(f"ragplane token failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.tmp.cleanup()

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
