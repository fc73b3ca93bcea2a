"""Raw capacity of the embedded stack, measured with wrk: how many requests a second it carries.

    .venv/bin/python -m loadtests.bench_capacity [--seconds 10] [--connections 16] [--json FILE]

First the yardsticks: the model alone, batched (`loadtests/reference.py`), and a bare
Starlette app answering a search-sized JSON body (`loadtests/bare.py`). Then starts a private
`ragplane up --demo` (loadtests/stack.py: free ports, its own secrets, a
`load` plan sized for any rate, so the rate limiter stays in the path) and points wrk at it:
wrk is a load generator written in C that costs little CPU, so the figures are the stack's,
not Locust's. Each line is one wrk run of `--seconds` with `--connections` connections:

- cached search through the gateway, and the same request straight to the query service
  (the difference is what the gateway hop costs);
- uncached search and uncached Q&A through the gateway (every request a new query text, via
  a wrk Lua script), and Q&A whose search is cached (the answer is composed every time); the
  cached requests are asked once before their run, so the run measures the cache's answers;
- uncached search of the uncached Q&A run's question texts, and the ratio of the two: what
  composing an answer costs on top of a search of the same text;
- the resident memory of the stack's processes at idle and at the end of the heaviest run;
- uncached search against the raw encoder, and uncached Q&A against the search of its questions.

It prints the machine, then one table. Locust (`make load`) is the user-facing harness with
stages and gates; this answers "how much can it carry", for docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from loadtests import bare, reference, tables
from loadtests.stack import Stack
from ragplane.stack import bind, local_url

SEARCH = "/api/v1/rag/search?collection=docs&query="
QUERY = "/api/v1/rag/query"
CACHED_SEARCH = "circuit breaker open"
CACHED_QUESTION = "How do the services authenticate each other?"
UNCACHED = "uncached search, gateway"
ASKED = "uncached Q&A, gateway"
# Search with the uncached Q&A run's texts: the model's cost grows with a text's length, so the
# two compare on equal texts what answering adds to a search.
SEARCH_AS_ASKED = "uncached search of the Q&A questions, gateway"
# A new query text per request: the counter makes every one a cache miss.
UNIQUE_GET = """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "{path}" .. counter)
end
"""
# wrk.format's headers argument replaces wrk.headers (and the -H ones with them): add to those instead.
UNIQUE_POST = """
counter = 0
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local body = '{{"collection": "docs", "query": "{question} ' .. counter .. '"}}'
  return wrk.format("POST", "{path}", nil, body)
end
"""
CACHED_POST = """
wrk.method = "POST"
wrk.body = '{{"collection": "docs", "query": "{question}"}}'
wrk.headers["Content-Type"] = "application/json"
"""
_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_PERCENTILE = re.compile(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_REQUESTS = re.compile(r"(\d+) requests in")
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Result:
    name: str
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    errors: int


def parse(name: str, output: str) -> Result:
    """wrk's report (run with --latency) as figures; errors are non-2xx answers plus socket errors."""
    rate = _RATE.search(output)
    if rate is None:
        raise RuntimeError(f"wrk printed no rate for {name}:\n{output}")
    percentiles = {p: float(v) * _UNIT_MS[unit] for p, v, unit in _PERCENTILE.findall(output)}
    non_2xx = _NON_2XX.search(output)
    sockets = _ERRORS.search(output)
    requests = _REQUESTS.search(output)
    return Result(
        name=name,
        rps=float(rate.group(1)),
        p50_ms=percentiles.get("50", 0.0),
        p90_ms=percentiles.get("90", 0.0),
        p99_ms=percentiles.get("99", 0.0),
        requests=int(requests.group(1)) if requests else 0,
        errors=(int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, sockets.groups())) if sockets else 0),
    )


def wrk(name: str, url: str, headers: dict[str, str], *, seconds: float, connections: int, script: str = "") -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    command = ["wrk", "--latency", "-t", "2", "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "30s"]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    if script:
        command += ["-s", lua.name]
    try:
        done = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    finally:
        os.unlink(lua.name)
    return parse(name, done.stdout)


def warm(url: str, headers: dict[str, str], question: str | None = None) -> None:
    """One request first, so a "cached" run measures answers from the cache, not the first miss."""
    body = {"collection": "docs", "query": question} if question else None
    response = httpx.request("POST" if body else "GET", url, headers=headers, json=body, timeout=60)
    response.raise_for_status()


@contextlib.contextmanager
def bare_app() -> Iterator[str]:
    """The bare Starlette app (loadtests/bare.py) in a process of its own; its URL."""
    sock = bind("127.0.0.1", 0)
    url = local_url(sock) + bare.PATH
    with (
        sock,
        subprocess.Popen(
            [sys.executable, "-m", "loadtests.bare", str(sock.fileno())], pass_fds=(sock.fileno(),)
        ) as app,
    ):
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(url, timeout=5).raise_for_status()
                    break
                except httpx.TransportError:
                    if app.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the bare app did not start") from None
                    time.sleep(0.05)
            yield url
        finally:
            app.terminate()


def raw_encoder(seconds: float) -> float:
    """The model alone, batched, in this process (loadtests/reference.py), before the stack starts."""
    return reference.rate(reference.model(), seconds)


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its descendants (Linux /proc). A process's children are
    listed per thread that started them: the embedder's model process is its thread's child."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = [
                c for task in Path(f"/proc/{current}/task").iterdir() for c in (task / "children").read_text().split()
            ]
        except OSError:
            continue
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(found.group(1)) * 1024 if found else 0
        pending += [int(c) for c in children]
    return total


def table(results: list[Result]) -> str:
    header = ["what", "req/s", "p50 ms", "p90 ms", "p99 ms", "requests", "errors"]
    rows = [
        [
            r.name,
            f"{r.rps:.1f}",
            f"{r.p50_ms:.1f}",
            f"{r.p90_ms:.1f}",
            f"{r.p99_ms:.1f}",
            str(r.requests),
            str(r.errors),
        ]
        for r in results
    ]
    return tables.render([header, *rows])


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return f"{os.cpu_count()} cores, {model}; load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="per run (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--reference-seconds", type=float, default=6, help="raw encoder's run (default 6)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench_capacity: wrk is not installed; apt-get install -y wrk", file=sys.stderr)
        return 2
    runs = {"seconds": args.seconds, "connections": args.connections}
    print(f"machine: {machine()}", file=sys.stderr)
    encoder = raw_encoder(args.reference_seconds)
    with bare_app() as url:
        yardstick = wrk("bare Starlette app, same-sized JSON", url, {}, **runs)
    with Stack() as stack:
        assert stack.process is not None
        gateway, query = stack.urls["gateway"], stack.urls["query"]
        bearer = {"Authorization": f"Bearer {stack.token()}"}
        service = {"X-Service-Token": stack.service_token}
        idle_rss = rss_bytes(stack.process.pid)
        cached = gateway + SEARCH + quote(CACHED_SEARCH)
        warm(cached, bearer)
        warm(gateway + QUERY, bearer, CACHED_QUESTION)
        results = [
            yardstick,
            wrk("cached search, gateway", cached, bearer, **runs),
            wrk("cached search, query service direct", query + SEARCH + quote(CACHED_SEARCH), service, **runs),
            wrk(
                UNCACHED,
                gateway,
                bearer,
                script=UNIQUE_GET.format(path=SEARCH + quote(CACHED_SEARCH + " ")),
                **runs,
            ),
            wrk(
                SEARCH_AS_ASKED,
                gateway,
                bearer,
                script=UNIQUE_GET.format(path=SEARCH + quote(CACHED_QUESTION + " ")),
                **runs,
            ),
            wrk(
                "Q&A, search cached, gateway",
                gateway + QUERY,
                bearer,
                script=CACHED_POST.format(question=CACHED_QUESTION),
                **runs,
            ),
        ]
        loaded_started = time.monotonic()
        script = UNIQUE_POST.format(path=QUERY, question=CACHED_QUESTION)
        results.append(wrk(ASKED, gateway + QUERY, bearer, script=script, **runs))
        loaded_rss = rss_bytes(stack.process.pid)
        print(f"(the last run took {time.monotonic() - loaded_started:.0f} s)", file=sys.stderr)
    print(table(results))
    rates = {r.name: r.rps for r in results}
    print(f"raw encoder: {encoder:.1f} texts/s batched ({reference.BATCH}), in the benchmark's process")
    print(f"uncached search / raw encoder: {rates[UNCACHED] / encoder:.2f}")
    print(f"uncached Q&A / uncached search of the same questions: {rates[ASKED] / rates[SEARCH_AS_ASKED]:.2f}")
    print(f"stack RSS: {idle_rss / 2**20:.0f} MiB idle, {loaded_rss / 2**20:.0f} MiB after the uncached Q&A run")
    if args.json:
        figures = {
            "machine": machine(),
            "runs": runs,
            "results": [r.__dict__ for r in results],
            "rss_bytes": {"idle": idle_rss, "loaded": loaded_rss},
            "raw_encoder_per_s": encoder,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
