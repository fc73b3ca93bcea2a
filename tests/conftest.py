"""Fixtures shared by every test layer: settings, the embedding model, free names."""

from __future__ import annotations

import io
import json
import logging
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ragplane.adapters.embedders import load_local_model
from ragplane.kit.logs import configure_logging
from ragplane.settings import Settings, load_settings, prepare_offline_model_environment
from tests.pg import temporary_database

SettingsFactory = Callable[..., Settings]

# The suite loads the embedding model in its own process (and in model processes, which inherit
# this): model hubs are forbidden first, as the composition root does for the services.
prepare_offline_model_environment()


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
            "RATE_LIMIT_PLANS": "free:1000000,pro:1000000",  # one anonymous caller (127.0.0.1) for the suite
            "EMBEDDER_PROCESS": "false",  # stacks share the session's model instead of loading one each
            "BACKUP_SCHEDULE": "off",  # no backup run because a test happened to span 02:00
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
        self.stream = io.StringIO()

    def records(self, **match: object) -> list[dict[str, object]]:
        lines = [json.loads(x) for x in self.stream.getvalue().splitlines() if x.startswith("{")]
        return [x for x in lines if all(x.get(k) == v for k, v in match.items())]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Tests that configure logging (the CLI does) must not leave handlers on closed streams."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


@pytest.fixture
def json_logs() -> LogCapture:
    """Route all logging through ragplane's JSON formatter into a buffer for the test."""
    capture = LogCapture()
    configure_logging("INFO", stream=capture.stream)
    return capture


@pytest.fixture
def database_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    with temporary_database() as url:
        yield url


MEASURED = pytest.StashKey[list[str]]()


@pytest.fixture
def measured(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Report a measured figure (the alert drill's fault → page time) at the end of the run."""
    return request.config.stash.setdefault(MEASURED, []).append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(MEASURED, [])
    if lines:
        terminalreporter.section("measured")
        for line in lines:
            terminalreporter.write_line(line)
