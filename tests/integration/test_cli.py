"""The `ragplane` command in-process: ingest, seed and error paths."""

from pathlib import Path

import pytest

from ragplane import cli
from tests.running import RunningStack


@pytest.fixture
def env_file(tmp_path: Path, stack: RunningStack) -> Path:
    path = tmp_path / ".env"
    path.write_text(
        f"INTER_SERVICE_SECRET={stack.settings.inter_service_secret}\nCOLLECTIONS_URL={stack.urls['collections']}\n"
    )
    return path


def test_ingest_a_directory_with_progress(env_file: Path, tmp_path: Path, stack, unique, capsys, monkeypatch) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(3):
        (notes / f"n{i}.md").write_text(f"# Note {i}\n\nThe note number {i}.")
    monkeypatch.chdir(tmp_path)
    name = unique("cli")
    assert cli.main(["--env-file", str(env_file), "ingest", "notes", "--collection", name]) == 0
    err = capsys.readouterr().err
    assert "3 ingested, 0 unchanged, 0 failed" in err
    assert "3/3" in err  # the progress bar finished
    assert cli.main(["--env-file", str(env_file), "ingest", "notes", "--collection", name]) == 0
    assert "0 ingested, 3 unchanged" in capsys.readouterr().err
    with stack.client() as client:
        ids = [d["id"] for d in client.get(f"/api/v1/rag/collections/{name}/documents").json()["documents"]]
    assert ids == ["notes/n0.md", "notes/n1.md", "notes/n2.md"]


def test_ingest_through_the_gateway_needs_no_token(stack, tmp_path: Path, unique, capsys) -> None:
    doc = tmp_path / "one.txt"
    doc.write_text("one document")
    env = tmp_path / "empty.env"
    env.write_text("")
    code = cli.main(
        ["--env-file", str(env), "ingest", str(doc), "--collection", unique("gw"), "--url", stack.urls["gateway"]]
    )
    assert code == 0, capsys.readouterr().err


def test_ingest_errors_are_reported(env_file: Path, tmp_path: Path, capsys) -> None:
    assert cli.main(["--env-file", str(env_file), "ingest", str(tmp_path / "missing"), "--collection", "x"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["--env-file", str(env_file), "ingest", str(env_file), "--collection", "Bad Name"]) == 1
    assert "HTTP 422" in capsys.readouterr().err
    code = cli.main(
        ["--env-file", str(env_file), "ingest", str(env_file), "--collection", "x", "--url", "http://127.0.0.1:9"]
    )
    assert code == 1 and "cannot reach" in capsys.readouterr().err


def test_seed_outside_a_checkout_says_so(env_file: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--env-file", str(env_file), "seed"]) == 1
    assert "run from the ragplane checkout" in capsys.readouterr().err


def test_a_configuration_error_exits_2_naming_the_variable(tmp_path: Path, capsys) -> None:
    env = tmp_path / ".env"
    env.write_text("GATEWAY_PORT=eighty\n")
    assert cli.main(["--env-file", str(env), "serve", "gateway"]) == 2
    assert "GATEWAY_PORT" in capsys.readouterr().err


def test_serving_a_backend_without_a_secret_is_refused(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("INTER_SERVICE_SECRET", raising=False)
    env = tmp_path / ".env"
    env.write_text(f"RAGPLANE_DATA_DIR={tmp_path}/data\nQUERY_PORT=0\n")
    assert cli.main(["--env-file", str(env), "serve", "query"]) == 2
    assert "INTER_SERVICE_SECRET is not set" in capsys.readouterr().err


def test_help_and_version(capsys) -> None:
    with pytest.raises(SystemExit) as version:
        cli.main(["--version"])
    assert version.value.code == 0 and "ragplane 0." in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert all(command in out for command in ("up", "serve", "ingest", "seed"))
