"""`ragplane up` as real processes: the gateway in a child of its own, stopped with its parent,
and a parent that stops when the gateway dies."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.running import until

RAGPLANE = Path(sys.executable).with_name("ragplane")

pytestmark = pytest.mark.subprocess


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().rstrip("\0").split("\0")


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, dict[str, str]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTER_SERVICE", "RAGPLANE_", "QDRANT"))}
    env.update(RAGPLANE_DATA_DIR=str(tmp_path / "data"), GATEWAY_PORT="0", QUERY_PORT="0", COLLECTIONS_PORT="0")
    log = tmp_path / "stderr.log"
    with log.open("w") as err:
        process = subprocess.Popen(
            [str(RAGPLANE), "--env-file", str(tmp_path / ".env"), "up"], env=env, stdout=subprocess.DEVNULL, stderr=err
        )
    try:
        line = until(lambda: re.search(r"ragplane is ready: (.*)", log.read_text()) or process.poll() is not None)
        assert not isinstance(line, bool), log.read_text()
        yield process, log, dict(part.split("=", 1) for part in line.group(1).split())
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(60)


def test_the_gateway_runs_in_a_process_of_its_own_and_stops_with_the_stack(up) -> None:
    process, log, urls = up
    [gateway] = [c for c in children(process.pid) if "serve" in cmdline(c)]
    assert cmdline(gateway)[-6:-4] == ["serve", "gateway"]
    until(lambda: httpx.get(urls["gateway"] + "/health", timeout=10).json()["dependencies"]["query"]["status"] == "up")
    listed = httpx.get(urls["gateway"] + "/api/v1/rag/collections", timeout=10)
    assert listed.status_code == 200  # through the child to the services of its parent

    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 0
    assert not Path(f"/proc/{gateway}").exists() or "zombie" in Path(f"/proc/{gateway}/status").read_text()
    assert log.read_text().count("ragplane is ready:") == 1  # the child does not announce itself


def test_the_stack_stops_when_its_gateway_dies(up) -> None:
    process, log, _ = up
    [gateway] = [c for c in children(process.pid) if "serve" in cmdline(c)]
    os.kill(gateway, signal.SIGKILL)
    assert process.wait(60) == 1
    assert "the gateway process exited with -9" in log.read_text()


def test_a_killed_stack_leaves_no_gateway_behind_nor_its_ports_taken(up) -> None:
    process, _, urls = up
    [gateway] = [c for c in children(process.pid) if "serve" in cmdline(c)]
    process.kill()
    process.wait(60)
    # The services' ports close with their process: a caller is refused at once, not left waiting.
    for service in ("query", "collections"):
        with pytest.raises(httpx.ConnectError):
            httpx.get(urls[service] + "/health/live", timeout=30)
    # The gateway sees its parent's end of the pipe close and stops by itself.
    until(lambda: not Path(f"/proc/{gateway}").exists(), timeout=60)
