"""Fixtures shared by every test layer: settings, the embedding model, free names."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from ragplane.adapters.embedders import load_local_model
from ragplane.settings import Settings, load_settings

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Settings from a dict of environment variables, with a private data dir and free ports."""

    def make(**env: str) -> Settings:
        base = {
            "RAGPLANE_DATA_DIR": str(tmp_path / "data"),
            "GATEWAY_PORT": "0",
            "QUERY_PORT": "0",
            "COLLECTIONS_PORT": "0",
            "INTER_SERVICE_SECRET": secrets.token_urlsafe(40),
        }
        return load_settings(environ={**base, **env}, env_file=None)

    return make


@pytest.fixture(scope="session")
def embedding_model() -> object:
    """The real all-MiniLM-L6-v2 model, loaded once per test session."""
    return load_local_model(threads=2)


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Unique, valid collection names so tests never collide."""
    return lambda prefix="t": f"{prefix}-{uuid.uuid4().hex[:10]}"


class LogCapture:
    """JSON log lines written while a test runs, parsed."""

    def __init__(self) -> None:
        import io

        self.stream = io.StringIO()

    def records(self, **match: object) -> list[dict[str, object]]:
        import json

        lines = [json.loads(x) for x in self.stream.getvalue().splitlines() if x.startswith("{")]
        return [x for x in lines if all(x.get(k) == v for k, v in match.items())]


@pytest.fixture
def json_logs() -> object:
    """Route all logging through ragplane's JSON formatter into a buffer for the test."""
    import logging

    from ragplane.kit.logs import configure_logging

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    capture = LogCapture()
    configure_logging("INFO", stream=capture.stream)
    yield capture
    root.handlers[:], level = saved
    root.setLevel(level)
