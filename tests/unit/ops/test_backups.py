"""`ragplane backup`'s progress bar: fed by the listing's `running` while the backup call waits."""

from __future__ import annotations

import io
import threading
from typing import Any

import httpx
import pytest

from ragplane.ops import backups


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Listing:
    """Answers the listing with a backup further along at each poll; lets the backup answer after three."""

    def __init__(self) -> None:
        self.polls = 0
        self.third = threading.Event()

    def get(self, path: str) -> httpx.Response:
        self.polls += 1
        if self.polls == 3:
            self.third.set()
        task = {"action": "backup", "collection": "docs", "total": 30, "points": 10 * min(self.polls, 3)}
        return httpx.Response(200, json={"backups": [], "running": [task]})


def test_the_bar_follows_the_running_backup_and_the_answer_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setattr(backups, "PROGRESS_EVERY_S", 0.01)
    listing = Listing()

    def call() -> httpx.Response:
        assert listing.third.wait(10)
        return httpx.Response(201, json={"backups": []})

    answer = backups._with_progress(listing, "backup", call)  # type: ignore[arg-type]
    assert answer.status_code == 201
    shown = terminal.getvalue()
    assert "backup" in shown and "30/30" in shown


def test_without_a_terminal_there_is_no_bar_and_no_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())
    listing = Listing()
    answer: Any = backups._with_progress(listing, "restore", lambda: httpx.Response(200, json={}))  # type: ignore[arg-type]
    assert answer.status_code == 200 and listing.polls == 0
