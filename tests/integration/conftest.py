"""One full stack per test session (gateway, query, collections on free ports) with the demo corpus."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from ragplane.ops.ingest import IngestClient, Source, run
from ragplane.settings import Settings, load_settings
from tests.declared import check_responses
from tests.pg import temporary_database
from tests.running import RunningStack

ROOT = Path(__file__).resolve().parents[2]
DEMO = "docs"


def stack_settings(data: Path, **env: str) -> Settings:
    return load_settings(
        environ={
            "RAGPLANE_DATA_DIR": str(data),
            "GATEWAY_PORT": "0",
            "QUERY_PORT": "0",
            "COLLECTIONS_PORT": "0",
            "INTER_SERVICE_SECRET": secrets.token_urlsafe(40),
            "INTER_SERVICE_SECRET_PREVIOUS": secrets.token_urlsafe(40),
            # Every test calls from 127.0.0.1, one anonymous consumer: plans as big as the suite.
            # The limits themselves are tested with their real values in test_gateway.py.
            "RATE_LIMIT_PLANS": "free:1000000,pro:1000000",
            # Stacks share the session's model in this process; `ragplane up` as a subprocess
            # (test_quickstart, the load tests) runs the model in its own process, the default.
            "EMBEDDER_PROCESS": "false",
            "BACKUP_SCHEDULE": "off",  # backups run when a test says so, not when the clock does
            **env,
        },
        env_file=None,
    )


def edge_for(backends: RunningStack, data: Path, **env: str) -> RunningStack:
    """A gateway alone, in front of `backends`' services."""
    settings = stack_settings(
        data,
        INTER_SERVICE_SECRET=backends.settings.service_token or "",
        QUERY_URL=backends.urls["query"],
        COLLECTIONS_URL=backends.urls["collections"],
        **env,
    )
    return RunningStack(settings, services=("gateway",)).start()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, embedding_model: object) -> Iterator[RunningStack]:
    running = RunningStack(stack_settings(tmp_path_factory.mktemp("stack"))).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def session_database() -> Iterator[str]:
    """One PostgreSQL database for the test session (unique name, dropped at the end), unmigrated:
    the collections service migrates it at start, as in production."""
    with temporary_database(migrated=False, prefix="rp_session") as url:
        yield url


@pytest.fixture(scope="session")
def pg_stack(
    tmp_path_factory: pytest.TempPathFactory, embedding_model: object, session_database: str
) -> Iterator[RunningStack]:
    """The same stack with its registry, jobs and query logs in PostgreSQL."""
    settings = stack_settings(tmp_path_factory.mktemp("pg-stack"), DATABASE_URL=session_database)
    running = RunningStack(settings).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def demo_corpus(stack: RunningStack) -> str:
    """The project's own docs/ and runbooks/ ingested into `docs`, as `make run` does."""

    async def seed() -> None:
        async with IngestClient(stack.urls["collections"], service_token=stack.settings.service_token) as client:
            sources = [Source(ROOT / "docs", "docs"), Source(ROOT / "runbooks", "runbooks")]
            summary = await run(client, sources, DEMO, progress=False)
            assert summary.failed == 0 and not summary.errors and not summary.refused, summary

    asyncio.run(seed())
    return DEMO


@pytest.fixture
def gateway(stack: RunningStack) -> Iterator[httpx.Client]:
    """The gateway; each answer from an API route must be what the merged OpenAPI document declares."""
    with stack.client("gateway") as client:
        yield check_responses(client)


@pytest.fixture
def collections(stack: RunningStack) -> Iterator[httpx.Client]:
    """The collections service directly, with the service token; answers checked against its OpenAPI document."""
    with stack.client("collections", token=True) as client:
        yield check_responses(client)


@pytest.fixture
def query(stack: RunningStack) -> Iterator[httpx.Client]:
    """The query service directly, with the service token; answers checked against its OpenAPI document."""
    with stack.client("query", token=True) as client:
        yield check_responses(client)


@pytest.fixture
def env_file(tmp_path: Path, stack: RunningStack) -> Path:
    """A settings file pointing the CLI at the test stack: the gateway by default, the collections
    service (with the service token) for what goes there."""
    path = tmp_path / ".env"
    path.write_text(
        f"INTER_SERVICE_SECRET={stack.settings.service_token}\n"
        f"COLLECTIONS_URL={stack.urls['collections']}\nGATEWAY_PORT={urlsplit(stack.urls['gateway']).port}\n"
    )
    return path
