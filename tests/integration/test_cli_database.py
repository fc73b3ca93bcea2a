"""Issue 5's acceptance, through the `ragplane` command: migrate an empty database, move a
3-collection JSON registry into it, and serve those collections from PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from ragplane import cli
from ragplane.adapters.migrations import load_migrations
from ragplane.ops.migrate import SCHEMAS
from tests.integration.conftest import stack_settings
from tests.pg import drop_database, fetch, temporary_database
from tests.running import RunningStack, ingest

SHIPPED = sum(len(load_migrations(schema)) for schema in SCHEMAS)

COLLECTIONS = {
    "physics": [{"id": "alpha.md", "text": "# Alpha\n\nAlpha particles are helium nuclei."}],
    "cooking": [
        {"id": "pasta.md", "text": "# Pasta\n\nBoil pasta in salted water."},
        {"id": "bread.md", "text": "# Bread\n\nBread needs flour, water, salt and yeast."},
    ],
    "music": [{"id": "scales.md", "text": "# Scales\n\nA major scale has seven notes."}],
}


def run_cli(env_file: Path, *args: str) -> int:
    return cli.main(["--env-file", str(env_file), *args])


def test_migrate_on_an_empty_database_creates_the_schema(tmp_path: Path) -> None:
    with temporary_database(migrated=False) as url:
        env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
        command = [sys.executable, "-m", "ragplane.cli", "--env-file", str(tmp_path / "none"), "migrate"]

        behind = subprocess.run([*command, "--check"], env=env, capture_output=True, text=True, timeout=60)
        applied = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        current = subprocess.run([*command, "--check"], env=env, capture_output=True, text=True, timeout=60)

        assert behind.returncode == 1 and f"schema is behind: {SHIPPED} pending" in behind.stderr
        assert applied.returncode == 0 and f"schema is current ({SHIPPED} applied now)" in applied.stderr
        assert current.returncode == 0 and "schema is current" in current.stderr
        tables = asyncio.run(fetch(url, "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'"))
        assert tables[0]["n"] >= 6


def test_migrate_creates_a_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with temporary_database(migrated=False) as existing:
        missing = existing + "_new"
        env_file = tmp_path / ".env"
        env_file.write_text(f"DATABASE_URL={missing}\n")
        try:
            assert run_cli(env_file, "migrate", "--check") == 1  # checking creates nothing
            assert run_cli(env_file, "migrate") == 0
            assert f"created  database {missing.rsplit('/', 1)[1]}" in capsys.readouterr().err
            assert run_cli(env_file, "migrate", "--check") == 0
        finally:
            drop_database(missing.rsplit("/", 1)[1])


def test_migrate_without_a_database_url_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(tmp_path / "none", "migrate") == 2
    assert "DATABASE_URL is not set" in capsys.readouterr().err
    assert run_cli(tmp_path / "none", "migrate-json") == 2


def test_a_json_registry_moves_into_postgres_and_is_served_from_it(
    tmp_path: Path, embedding_model: object, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    embedded = RunningStack(stack_settings(data), services=("collections",)).start()
    try:
        with embedded.client("collections", token=True) as client:
            for name, documents in COLLECTIONS.items():
                assert ingest(client, name, documents)["state"] == "completed"
    finally:
        embedded.stop()

    with temporary_database(migrated=False) as url:
        env_file = tmp_path / ".env"
        env_file.write_text(f"DATABASE_URL={url}\nRAGPLANE_DATA_DIR={data}\n")
        assert run_cli(env_file, "migrate") == 0
        assert run_cli(env_file, "migrate-json", "--dry-run") == 0
        assert asyncio.run(fetch(url, "SELECT name FROM collections")) == []  # the dry run wrote nothing
        capsys.readouterr()

        assert run_cli(env_file, "migrate-json") == 0
        first = capsys.readouterr().err
        assert run_cli(env_file, "migrate-json", "--registry", str(data / "collections.json")) == 0
        second = capsys.readouterr().err

        counts = asyncio.run(fetch(url, "SELECT collection, count(*) AS n FROM documents GROUP BY 1 ORDER BY 1"))
        assert [(r["collection"], r["n"]) for r in counts] == [("cooking", 2), ("music", 1), ("physics", 1)]
        # The chunk rows come from the Qdrant points the ingestion left: one per chunk of every document.
        chunks = asyncio.run(
            fetch(url, "SELECT (SELECT count(*) FROM chunks) AS rows, (SELECT sum(chunks) FROM documents) AS expected")
        )[0]
        assert chunks["rows"] == chunks["expected"] > 0
        assert (
            f"3 collections, 4 documents: 3 created, 4 inserted, 0 already there; {chunks['rows']} chunk rows" in first
        )
        assert f"JSON and PostgreSQL agree (3 collections, 4 documents, {chunks['rows']} chunk rows" in first
        assert "0 created, 0 inserted, 4 already there; 0 chunk rows from Qdrant" in second
        assert "JSON and PostgreSQL agree" in second
        bread = asyncio.run(
            fetch(url, "SELECT text FROM chunks WHERE collection = 'cooking' AND document_id = 'bread.md'")
        )
        assert any("yeast" in r["text"] for r in bread)

        served = RunningStack(stack_settings(data, DATABASE_URL=url)).start()
        try:
            with served.client() as gateway:
                listed = gateway.get("/api/v1/rag/collections").json()["collections"]
                hit = gateway.get("/api/v1/rag/search", params={"query": "yeast", "collection": "cooking"}).json()
        finally:
            served.stop()
        assert {c["name"]: c["documents"] for c in listed} == {"cooking": 2, "music": 1, "physics": 1}
        assert hit["results"][0]["document_id"] == "bread.md"
