"""The embedding model in a child process: its protocol, a real child, and what happens when it dies."""

import asyncio
import io
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ragplane.adapters.embedders import LocalEmbedder
from ragplane.adapters.model_process import ModelProcess, serve
from ragplane.errors import DependencyUnavailable, ModelProcessExited

TEXTS = ["when does the circuit breaker open", "how are backups restored"]


def replies_to(*requests: tuple[str, tuple[object, ...]]) -> list[tuple[bool, object]]:
    """What `serve` answers to `requests`, run in this process over in-memory streams."""
    inbound = io.BytesIO(b"".join(pickle.dumps(r) for r in requests))
    outbound = io.BytesIO()
    serve(inbound, outbound, threads=1, batch_size=8)  # returns at the end of the requests
    outbound.seek(0)
    answers = []
    while outbound.tell() < len(outbound.getvalue()):
        answers.append(pickle.load(outbound))
    return answers


def test_the_child_answers_each_request_and_a_failed_one_is_answered_not_fatal(embedding_model) -> None:
    loaded, failed, encoded = replies_to(
        ("load", ()), ("encode", ("not a list of texts", "extra")), ("encode", (TEXTS,))
    )
    assert loaded == (True, 384)
    assert failed[0] is False and "TypeError" in str(failed[1])
    assert encoded[0] is True and encoded[1].shape == (2, 384)


def test_vectors_from_the_child_are_the_ones_made_in_process(embedding_model) -> None:
    async def go() -> None:
        here, there = LocalEmbedder(threads=1), LocalEmbedder(threads=1, process=True)
        try:
            assert await there.dimension() == 384
            assert (await there.check())["process"] is True
            for a, b in zip(await here.embed(TEXTS), await there.embed(TEXTS), strict=True):
                assert a == pytest.approx(b, abs=1e-5)
        finally:
            await here.close()
            await there.close()

    asyncio.run(go())


def test_a_killed_child_fails_one_call_and_a_new_one_takes_over() -> None:
    async def go() -> None:
        embedder = LocalEmbedder(threads=1, process=True)
        try:
            await embedder.embed(TEXTS)
            assert embedder._child is not None
            first = embedder._child.pid
            os.kill(first, signal.SIGKILL)
            with pytest.raises(DependencyUnavailable, match=r"embedder process exited .*killed by signal 9"):
                await embedder.embed(TEXTS)
            assert len(await embedder.embed(TEXTS)) == 2  # waits for the new process's model
            assert embedder._child is not None and embedder._child.pid != first
        finally:
            await embedder.close()

    asyncio.run(go())


def test_a_failed_call_after_close_names_the_exit() -> None:
    child = ModelProcess(threads=1, batch_size=8)
    child.close()
    with pytest.raises(ModelProcessExited, match="exit status 0"):
        child.call("load")


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"  # exited; whoever adopted it has not reaped it yet


def test_the_child_exits_with_its_parent_even_a_killed_one() -> None:
    parent_code = (
        "import sys, time\n"
        "from ragplane.adapters.model_process import ModelProcess\n"
        "child = ModelProcess(threads=1, batch_size=8)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    with subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True) as parent:
        try:
            assert parent.stdout is not None
            child = int(parent.stdout.readline())
            assert not _gone(child)
        finally:
            parent.kill()
    deadline = time.monotonic() + 30
    while not _gone(child):
        assert time.monotonic() < deadline, "the orphaned model process is still running"
        time.sleep(0.05)
