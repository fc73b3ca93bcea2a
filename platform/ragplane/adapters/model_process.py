"""The embedding model in a child process of its own, and the child's serving loop.

A process that answers requests and runs the model on a thread is bound near one core under
a load of questions: the model's Python layers and the event loop take turns holding the
GIL. With the model in a child the two run side by side (docs/performance.md). The parent
starts `python -m ragplane.adapters.model_process THREADS BATCH_SIZE` and talks to it over
the child's stdin and stdout, one call at a time: a pickled `(operation, arguments)` request,
a pickled `(ok, result or message)` reply. Pickle is safe here because both ends are this
code. A plain subprocess rather than `multiprocessing`: spawning through multiprocessing
re-imports the parent's main script in the child, which breaks any caller whose script is not
guarded by `if __name__ == "__main__"`.

The child ends when its stdin closes, which the kernel does when the parent exits however it
exits, so a killed parent leaves no orphan holding the model's memory. Ctrl-C reaches the
whole process group; the child ignores it and leaves stopping to the parent.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import threading
from typing import IO, Any

from ragplane.errors import ModelProcessExited

STOP_S = 5.0
EXIT_STATUS_S = 1.0


class ModelProcess:
    """The parent's handle. `call` blocks, so the embedder runs it on its own thread; calls from
    several threads are serialised, since the child answers one at a time anyway."""

    def __init__(self, threads: int, batch_size: int) -> None:
        command = [sys.executable, "-m", __name__, str(threads), str(batch_size)]
        self._child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # noqa: S603
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self._child.pid

    def call(self, operation: str, *arguments: Any) -> Any:
        """The child's result; `RuntimeError` with its message when the operation failed there."""
        assert self._child.stdin is not None and self._child.stdout is not None
        with self._lock:
            try:
                pickle.dump((operation, arguments), self._child.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                self._child.stdin.flush()
                ok, result = pickle.load(self._child.stdout)  # noqa: S301 - our own child's reply
            except (OSError, ValueError, EOFError, pickle.UnpicklingError) as exc:  # ValueError: closed
                raise ModelProcessExited(f"the embedder process exited ({self._exit_status()})") from exc
        if not ok:
            raise RuntimeError(result)
        return result

    def _exit_status(self) -> str:
        try:
            code = self._child.wait(EXIT_STATUS_S)  # its pipe broke: it is exiting, if not gone
        except subprocess.TimeoutExpired:
            return "its pipe broke"
        return f"killed by signal {-code}" if code < 0 else f"exit status {code}"

    def close(self) -> None:
        """Close the child's stdin (it exits after its current call); kill it if it lingers."""
        if self._child.stdin is not None:
            with contextlib.suppress(OSError):  # a broken pipe: the child is gone already
                self._child.stdin.close()
        try:
            self._child.wait(STOP_S)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()
        if self._child.stdout is not None:
            self._child.stdout.close()


def serve(requests: IO[bytes], replies: IO[bytes], threads: int, batch_size: int) -> None:
    """Answer requests until `requests` ends. A failed operation is answered, not fatal."""
    from ragplane.adapters.embedders import operations

    here = operations(threads, batch_size)
    while True:
        try:
            operation, arguments = pickle.load(requests)  # noqa: S301 - our own parent's request
        except EOFError:
            return
        try:
            reply = (True, here[operation](*arguments))
        except Exception as exc:  # reported to the parent, which raises it there
            reply = (False, f"{type(exc).__name__}: {exc}")
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The replies get a private copy of stdout; fd 1 becomes stderr, so a library that prints
    # cannot corrupt the stream of replies.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    serve(sys.stdin.buffer, replies, threads=int(argv[0]), batch_size=int(argv[1]))


if __name__ == "__main__":
    main(sys.argv[1:])
