"""`ragplane backup` and `ragplane restore` against a running stack: a collection backed up,
deleted and restored answers searches as before; a tampered archive is refused and nothing
changes; a restore under a new name leaves the original alone."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ragplane import cli
from ragplane.ops import backups
from tests.running import RunningStack, ingest

API = "/api/v1/rag"
DOCS = [
    {"id": "breakers.md", "text": "# Breakers\n\nA circuit breaker opens after five consecutive failures."},
    {"id": "backups.md", "text": "# Backups\n\nCollections are backed up every night at two o'clock."},
    {"id": "plans.md", "text": "# Plans\n\nThe free plan allows one hundred requests per minute."},
]
QUERIES = ("when does a breaker open", "how often are backups made", "rate limits of plans")


def answers(stack: RunningStack, name: str) -> list[list[tuple[str, float]]]:
    with stack.client() as client:
        return [
            [
                (r["document_id"], round(r["score"], 4))
                for r in client.get(f"{API}/search", params={"query": q, "collection": name}).json()["results"]
            ]
            for q in QUERIES
        ]


def run(env_file: Path, *args: str) -> int:
    return cli.main(["--env-file", str(env_file), *args])


def test_a_deleted_collection_is_restored_and_answers_as_before(env_file, stack, unique, capsys) -> None:
    name = unique("backup")
    with stack.client() as client:
        ingest(client, name, DOCS)
    before = answers(stack, name)
    assert run(env_file, "backup", "--collection", name) == 0
    assert f"{name}: {name}-" in capsys.readouterr().err
    assert run(env_file, "backup", "list") == 0
    assert name in capsys.readouterr().err
    with stack.client() as client:
        assert client.delete(f"{API}/collections/{name}").status_code == 204

    assert run(env_file, "restore", name) == 0
    assert "verified, as a new collection" in capsys.readouterr().err
    assert answers(stack, name) == before
    with stack.client() as client:
        documents = client.get(f"{API}/collections/{name}/documents").json()["documents"]
    assert sorted(d["id"] for d in documents) == sorted(d["id"] for d in DOCS)


def test_a_tampered_archive_is_refused_and_the_collection_stays(env_file, stack, unique, capsys) -> None:
    name = unique("tamper")
    with stack.client() as client:
        ingest(client, name, DOCS)
    before = answers(stack, name)
    assert run(env_file, "backup", "--collection", name) == 0
    [archive] = (stack.settings.backups / name).glob("*.tar.gz")
    data = bytearray(archive.read_bytes())
    data[len(data) // 3] ^= 0x01
    archive.write_bytes(data)
    capsys.readouterr()

    assert run(env_file, "restore", name) == 1
    err = capsys.readouterr().err
    assert "HTTP 422: The archive was refused" in err and "does not match its SHA-256" in err
    assert answers(stack, name) == before


def test_a_restore_under_a_new_name_leaves_the_original(env_file, stack, unique, capsys) -> None:
    name, copy = unique("orig"), unique("copy")
    with stack.client() as client:
        ingest(client, name, DOCS)
    assert run(env_file, "backup", "--collection", name) == 0
    assert run(env_file, "restore", name, "--as", copy) == 0
    assert answers(stack, copy) == answers(stack, name)
    assert run(env_file, "restore", name, "--as", copy) == 1  # it exists now
    assert "HTTP 409" in capsys.readouterr().err


def test_backing_up_a_missing_collection_says_so(env_file, unique, capsys) -> None:
    assert run(env_file, "backup", "--collection", unique("none")) == 1
    assert "HTTP 404" in capsys.readouterr().err
    assert run(env_file, "backup") == 2


def test_names_that_are_not_collection_names_never_reach_the_disk(stack) -> None:
    with stack.client("collections", token=True) as client:
        for body in ({"collection": "../../etc"}, {"collection": "docs", "as": "../x"}, {"collection": ""}):
            refused = client.post("/internal/restores", json=body)
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
        assert client.post("/internal/backups", json={"collection": "A/B"}).status_code == 422
        assert client.post("/internal/backups", json={}).status_code == 422


class Stop(Exception):
    """Ends the scheduler's loop in the test, as a signal ends it in its container."""


def test_the_backup_service_backs_every_collection_up_when_its_time_comes(
    stack, unique, capsys, monkeypatch, tmp_path
) -> None:
    """`ragplane backup --schedule`, on a clock that runs as fast as the loop sleeps."""
    monkeypatch.setattr(backups, "HEARTBEAT", tmp_path / "alive")
    name = unique("nightly")
    with stack.client() as client:
        ingest(client, name, DOCS[:1])
    now = [datetime(2026, 12, 7, 1, 59, 10, tzinfo=UTC)]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        if list((stack.settings.backups / name).glob("*.tar.gz")):
            raise Stop  # the 02:00 run happened: the loop is waiting for tomorrow's
        slept.append(seconds)
        now[0] += timedelta(seconds=seconds)

    with stack.client("collections", token=True) as client, pytest.raises(Stop):
        backups.scheduled(client, "0 2 * * *", print, clock=lambda: now[0], sleep=sleep)
    assert slept == [30.0, 20.0]  # in heartbeat-sized steps until 02:00
    assert f"{name}: {name}-" in capsys.readouterr().out
    assert time.time() - backups.HEARTBEAT.stat().st_mtime < 60


def test_the_schedule_must_be_a_cron_expression(env_file, capsys) -> None:
    assert run(env_file, "backup", "--schedule", "every night") == 2
    assert "needs a cron expression" in capsys.readouterr().err
