"""The README's Quick start, end to end: `ragplane up --demo` as a real process, then the
acceptance checks and every curl command in README.md and docs/api.md against it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.test_docs import shell_commands

ROOT = Path(__file__).resolve().parents[2]
RAGPLANE = Path(sys.executable).with_name("ragplane")
DOCUMENTED = "http://127.0.0.1:8000"

pytestmark = pytest.mark.subprocess


class Process:
    """`ragplane up --demo` from the checkout, on free ports, with a private data dir and .env."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.env_file = tmp / ".env"
        self.stderr_path = tmp / "stderr.log"
        self.stdout_path = tmp / "stdout.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INTER_SERVICE", "RAGPLANE_", "QDRANT"))}
        env.update(RAGPLANE_DATA_DIR=str(tmp / "data"), GATEWAY_PORT="0", QUERY_PORT="0", COLLECTIONS_PORT="0")
        with self.stdout_path.open("w") as out, self.stderr_path.open("w") as err:
            self.process = subprocess.Popen(
                [str(RAGPLANE), "--env-file", str(self.env_file), "up", "--demo"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=err,
            )
        line = self.wait_for(r"ragplane is ready: (.*)")
        self.urls = dict(part.split("=", 1) for part in line.group(1).split())

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.stderr)
            if found:
                return found
            assert self.process.poll() is None, f"ragplane exited early:\n{self.stderr}"
            time.sleep(0.1)
        raise TimeoutError(f"no {pattern!r} in:\n{self.stderr}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(30)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    process = Process(tmp_path_factory.mktemp("quickstart"))
    process.wait_for(r"(\d+) ingested, (\d+) unchanged, 0 failed")
    yield process
    if process.process.poll() is None:
        process.stop()


def test_search_finds_relevant_chunks(demo: Process) -> None:
    r = httpx.get(
        f"{demo.urls['gateway']}/api/v1/rag/search", params={"query": "circuit breaker", "collection": "docs"}
    )
    assert r.status_code == 200
    results = r.json()["results"]
    assert results and "breaker" in " ".join(x["text"].lower() for x in results[:3])


def test_query_answers_with_sources(demo: Process) -> None:
    r = httpx.post(f"{demo.urls['gateway']}/api/v1/rag/query", json={"query": "What does make test do?"}, timeout=30)
    body = r.json()
    assert r.status_code == 200 and body["answer"] and body["sources"]


def test_acceptance_checks(demo: Process) -> None:
    gateway, query = demo.urls["gateway"], demo.urls["query"]
    forbidden = httpx.get(f"{query}/api/v1/rag/search", params={"query": "x", "collection": "docs"})
    assert forbidden.status_code == 403 and forbidden.headers["content-type"] == "application/problem+json"
    legacy = httpx.get(f"{gateway}/rag/search", params={"query": "qdrant"})
    assert legacy.status_code == 200 and legacy.headers["deprecation"] == "true"
    v2 = httpx.get(f"{gateway}/api/v2/anything")
    assert v2.status_code == 404 and v2.headers["content-type"] == "application/problem+json"
    for url in demo.urls.values():
        assert httpx.get(f"{url}/health").headers["x-api-version"] == "v1"
    metrics = httpx.get(f"{query}/metrics").text
    searches = re.search(
        r'ragplane_http_requests_total\{[^}]*route="/api/v1/rag/search"[^}]*status="200"\} (\S+)', metrics
    )
    assert searches and float(searches.group(1)) >= 1
    assert re.search(r'ragplane_service_auth_total\{result="missing",service="query"\} [1-9]', metrics)


def test_the_first_run_can_mint_a_token_the_gateway_takes(demo: Process) -> None:
    """`ragplane up` wrote a JWT_SECRET beside the service secret, so the README's token example works."""
    minted = subprocess.run(
        [str(RAGPLANE), "--env-file", str(demo.env_file), "token", "--sub", "me", "--plan", "pro"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert minted.returncode == 0, minted.stderr
    assert "Generated INTER_SERVICE_SECRET and JWT_SECRET" in demo.stderr
    search = f"{demo.urls['gateway']}/api/v1/rag/search?query=breaker&collection=docs"
    answer = httpx.get(search, headers={"Authorization": f"Bearer {minted.stdout.strip()}"}, timeout=30)
    assert answer.status_code == 200 and answer.headers["ratelimit-limit"] == "1000"  # the pro plan's


def test_documented_curl_commands_run(demo: Process) -> None:
    gateway = demo.urls["gateway"]
    commands = [c for doc in ("README.md", "docs/api.md") for c in curl_commands(ROOT / doc)]
    assert len(commands) >= 5
    for command in commands:
        result = subprocess.run(
            command.replace(DOCUMENTED, gateway),
            shell=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        assert result.stdout.strip(), command
        assert '"status":4' not in result.stdout and '"status":5' not in result.stdout, result.stdout


def test_the_restore_runbook_runs_as_written(demo: Process) -> None:
    """runbooks/restore-a-collection.md, command by command, against the demo's `docs` collection
    once it has a backup: its answers afterwards are the ones from before."""
    gateway = demo.urls["gateway"]
    search = f"{gateway}/api/v1/rag/search?query=circuit%20breaker&collection=docs&max_results=3"
    before = [(r["document_id"], r["score"]) for r in httpx.get(search, timeout=30).json()["results"]]
    env = {**os.environ, "COLLECTIONS_URL": demo.urls["collections"], "RAGPLANE_DATA_DIR": str(demo.tmp / "data")}
    ragplane = f"{RAGPLANE} --env-file {demo.env_file}"
    commands = [
        ".venv/bin/ragplane backup --collection docs",
        *shell_commands(ROOT / "runbooks/restore-a-collection.md"),
    ]
    assert len(commands) >= 5
    for command in commands:
        ran = command.replace(".venv/bin/ragplane", ragplane).replace(DOCUMENTED, gateway)
        result = subprocess.run(ran, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        assert '"status":4' not in result.stdout and '"status":5' not in result.stdout, result.stdout
    assert "verified, replacing the previous copy" in result.stderr
    assert [(r["document_id"], r["score"]) for r in httpx.get(search, timeout=30).json()["results"]] == before


def test_restart_does_not_duplicate_the_demo_corpus_and_ctrl_c_is_clean(demo: Process) -> None:
    gateway = demo.urls["gateway"]
    vectors = httpx.get(f"{gateway}/api/v1/rag/collections/docs/stats").json()["vectors"]
    assert demo.stop() == 0
    assert "ragplane: stopping" in demo.stderr
    secret = next(
        line.split("=", 1)[1]
        for line in demo.env_file.read_text().splitlines()
        if line.startswith("INTER_SERVICE_SECRET=")
    )
    assert len(secret) >= 32
    assert secret not in demo.stderr and secret not in demo.stdout_path.read_text()
    again = Process(demo.tmp)
    try:
        found = again.wait_for(r"(\d+) ingested, (\d+) unchanged, 0 failed")
        assert found.group(1) == "0" and int(found.group(2)) > 0
        stats = httpx.get(f"{again.urls['gateway']}/api/v1/rag/collections/docs/stats").json()
        assert stats["vectors"] == vectors
        assert "Generated INTER_SERVICE_SECRET" not in again.stderr
    finally:
        assert again.stop() == 0


def curl_commands(path: Path) -> list[str]:
    """Every `curl` command in the ```sh blocks of a Markdown file, continuation lines joined."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", path.read_text(), re.S):
        for command in block.replace("\\\n", " ").splitlines():
            if command.strip().startswith("curl "):
                commands.append(command.strip())
    return commands


def test_curl_is_available() -> None:
    assert shutil.which("curl"), "the documented commands use curl"
