"""The `ragplane` command in-process: ingest, delete, seed and error paths."""

import asyncio
import re
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ragplane import cli
from ragplane.ops.ingest import IngestClient, Source, Summary
from ragplane.ops.ingest import run as run_ingest
from ragplane.services.gateway.auth import issue_token
from tests.integration.conftest import stack_settings
from tests.running import RunningStack, ingest, long_text

API = "/api/v1/rag"


def ids(stack: RunningStack, collection: str) -> list[str]:
    with stack.client() as client:
        return [d["id"] for d in client.get(f"{API}/collections/{collection}/documents").json()["documents"]]


def test_ingest_a_directory_with_progress(env_file: Path, tmp_path: Path, stack, unique, capsys, monkeypatch) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(3):
        (notes / f"n{i}.md").write_text(f"# Note {i}\n\nThe note number {i}.")
    monkeypatch.chdir(tmp_path)
    name = unique("cli")
    assert cli.main(["--env-file", str(env_file), "ingest", "notes", "--collection", name]) == 0
    err = capsys.readouterr().err
    assert "3 ingested, 0 unchanged, 0 failed, 0 refused" in err
    assert "3/3" in err and "chunks 3/3" in err  # the progress bar finished, documents and chunks
    assert cli.main(["--env-file", str(env_file), "ingest", "notes", "--collection", name]) == 0
    assert "0 ingested, 3 unchanged" in capsys.readouterr().err
    assert ids(stack, name) == ["n0.md", "n1.md", "n2.md"]


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


def cooking(root: Path) -> Path:
    folder = root / "x" / "cooking"
    (folder / "mains").mkdir(parents=True)
    (folder / "risotto.md").write_text("# Risotto\n\nStir the rice with hot stock until creamy.")
    (folder / "mains" / "stew.md").write_text("# Stew\n\nBrown the beef, then simmer it for two hours.")
    return folder


def test_ingest_ids_do_not_depend_on_the_working_directory(
    env_file: Path, tmp_path: Path, stack: RunningStack, unique, capsys, monkeypatch
) -> None:
    """Issue 18.1: the same folder from two directories is the same documents, not duplicates."""
    folder = cooking(tmp_path)
    name = unique("cooking")
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    assert cli.main(["--env-file", str(env_file), "ingest", "../x/cooking", "--collection", name]) == 0
    assert "2 ingested, 0 unchanged" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path / "x")
    assert cli.main(["--env-file", str(env_file), "ingest", "cooking", "--collection", name]) == 0
    assert "0 ingested, 2 unchanged" in capsys.readouterr().err
    assert ids(stack, name) == ["mains/stew.md", "risotto.md"]
    single = ["--env-file", str(env_file), "ingest", str(folder / "mains" / "stew.md"), "--collection", name]
    assert cli.main([*single, "--prefix", "mains"]) == 0  # a file is its name, as an upload is: mains/stew.md
    assert "0 ingested, 1 unchanged" in capsys.readouterr().err


def test_a_collection_with_stale_ids_is_fixed_without_dropping_it(
    env_file: Path, tmp_path: Path, stack: RunningStack, unique, capsys
) -> None:
    """Issue 18.1: ids an older CLI stored (`../cooking/risotto.md`) go with --delete-missing or `ragplane delete`."""
    folder = cooking(tmp_path)
    name = unique("cooking")
    with stack.client() as client:
        old = [
            {"id": f"../cooking/{p.relative_to(folder).as_posix()}", "text": p.read_text()}
            for p in folder.rglob("*.md")
        ]
        ingest(client, name, [*old, {"id": "other/keep.md", "text": "Not from this folder."}])
    args = ["--env-file", str(env_file), "ingest", str(folder), "--collection", name]
    assert cli.main([*args, "--prefix", "cooking", "--delete-missing"]) == 0
    assert "0 deleted" in capsys.readouterr().err  # under the prefix: the others are not this folder's
    assert cli.main([*args, "--delete-missing"]) == 0
    err = capsys.readouterr().err
    assert "deleted ../cooking/risotto.md" in err and "deleted cooking/risotto.md" in err
    assert "2 ingested, 0 unchanged, 0 failed, 0 refused, 5 deleted" in err
    assert ids(stack, name) == ["mains/stew.md", "risotto.md"]
    with stack.client() as client:
        hits = client.get(f"{API}/search", params={"query": "risotto rice stock", "collection": name}).json()
    assert [h["document_id"] for h in hits["results"]].count("risotto.md") == 1 and len(hits["results"]) == 2
    delete = ["--env-file", str(env_file), "delete", "--collection", name]
    assert cli.main([*delete, "mains/stew.md"]) == 0
    assert cli.main([*delete, "mains/stew.md"]) == 1
    assert f"{name} has no document 'mains/stew.md'" in capsys.readouterr().err
    assert ids(stack, name) == ["risotto.md"]


def test_bad_files_are_named_and_the_good_ones_ingested(
    env_file: Path, tmp_path: Path, stack: RunningStack, unique, capsys
) -> None:
    """Issue 18.3: the CLI refuses what the API refuses, for the same reason, and ingests the rest."""
    folder = tmp_path / "desserts"
    folder.mkdir()
    (folder / "good.md").write_text("# Crème brûlée\n\nCaramelise the sugar.")
    (folder / "latin1.md").write_bytes("# Crème brûlée".encode("latin-1"))
    (folder / "nul.md").write_bytes(b"# Oops\x00")
    name = unique("desserts")
    assert cli.main(["--env-file", str(env_file), "ingest", str(folder), "--collection", name]) == 1
    err = capsys.readouterr().err
    assert "1 ingested, 0 unchanged, 0 failed, 2 refused" in err
    with stack.client() as client:
        assert client.get(f"{API}/collections/{name}/documents").json()["documents"][0]["title"] == "Crème brûlée"
        for bad in ("latin1.md", "nul.md"):
            upload = client.post(f"{API}/collections/{name}/documents", files={"f": (bad, (folder / bad).read_bytes())})
            [error] = upload.json()["errors"]
            assert upload.status_code == 422 and f"refused {folder / bad}: {error['message']}" in err
    assert "PostgreSQL" not in err


def test_an_empty_folder_is_an_error_and_creates_nothing(env_file: Path, tmp_path: Path, stack, unique, capsys) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "only-bad").mkdir()
    (tmp_path / "only-bad" / "a.md").write_bytes(b"\x00")
    name = unique("empty")
    for folder in ("empty", "only-bad"):
        assert cli.main(["--env-file", str(env_file), "ingest", str(tmp_path / folder), "--collection", name]) == 1
    err = capsys.readouterr().err
    assert "no text or Markdown files" in err and "nothing to ingest: every file was refused" in err
    with stack.client() as client:
        assert client.get(f"{API}/collections/{name}").status_code == 404


def test_ingest_works_from_any_directory_without_a_secret(
    stack: RunningStack, tmp_path: Path, unique, capsys, monkeypatch
) -> None:
    """Issue 18.2: no .env here, no INTER_SERVICE_SECRET: the default goes through the gateway, anonymously."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INTER_SERVICE_SECRET", raising=False)
    monkeypatch.setenv("GATEWAY_PORT", str(urlsplit(stack.urls["gateway"]).port))
    (tmp_path / "note.md").write_text("# Note\n\nWritten anywhere.")
    assert cli.main(["ingest", "note.md", "--collection", unique("anywhere")]) == 0, capsys.readouterr().err
    assert "1 ingested" in capsys.readouterr().err


def test_ingest_help_explains_path_and_every_option(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(["ingest", "--help"])
    out = capsys.readouterr().out
    for words in ("PATH", "folder", "file name", "--collection", "--prefix", "--delete-missing", "--url", "--token"):
        assert words in out, words
    assert "RAGPLANE_TOKEN" in out and "INTER_SERVICE_SECRET" in out and "--description" in out


@pytest.fixture(scope="module")
def small_plan(tmp_path_factory: pytest.TempPathFactory, embedding_model: object) -> Iterator[RunningStack]:
    """A stack whose anonymous plan allows 12 requests a minute, and pro tokens 1000."""
    settings = stack_settings(
        tmp_path_factory.mktemp("small-plan"), RATE_LIMIT_PLANS="free:12,pro:1000", JWT_SECRET=secrets.token_urlsafe(40)
    )
    running = RunningStack(settings).start()
    yield running
    running.stop()


def test_ingest_polls_gently_enough_for_the_free_plan(small_plan: RunningStack, tmp_path: Path, unique, capsys) -> None:
    """Issue 18.2: polling 5 times a second used the anonymous plan up and died with 429 while the job ran on."""
    (tmp_path / "long.md").write_text(long_text(200))
    name = unique("gentle")
    code = cli.main(
        [
            "--env-file",
            str(tmp_path / "none"),
            "ingest",
            str(tmp_path),
            "--collection",
            name,
            "--url",
            small_plan.urls["gateway"],
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert "1 ingested" in err and "1/1" in err and re.search(r"chunks (\d+)/\1", err)


def test_ingest_waits_out_a_retry_after(small_plan: RunningStack, tmp_path: Path, unique) -> None:
    """A 503 with Retry-After (maintenance; a 429 likewise) is waited out, not the end of the run."""
    (tmp_path / "a.md").write_text("# A\n\nAfter the maintenance.")
    token = issue_token(small_plan.settings.gateway, sub="tester", plan="pro", ttl_s=300)
    heard: list[str] = []
    waiting = threading.Event()

    def say(message: str) -> None:
        heard.append(message)
        waiting.set()

    async def run() -> Summary:
        async with IngestClient(small_plan.urls["gateway"], token=token, say=say) as client:
            return await run_ingest(client, [Source(tmp_path)], unique("later"), progress=False)

    with small_plan.client(token=True) as admin:
        assert admin.put("/internal/maintenance", json={"retry_after": 1}).status_code == 200
        try:
            with ThreadPoolExecutor(1) as pool:
                result = pool.submit(asyncio.run, run())
                assert waiting.wait(60)
                assert admin.delete("/internal/maintenance").status_code == 200
                summary = result.result(120)
        finally:
            admin.delete("/internal/maintenance")
    assert summary.ingested == 1 and not summary.errors
    assert "HTTP 503" in heard[0] and "retrying in 1 s" in heard[0]


def test_a_file_over_the_upload_limit_is_refused_and_the_others_ingested(
    make_settings, tmp_path: Path, unique, capsys
) -> None:
    """With --url at the collections service (and its secret): a file the service will not take is named."""
    settings = make_settings(MAX_UPLOAD_BYTES="3000")
    backend = RunningStack(settings, services=("collections",)).start()
    try:
        env = tmp_path / "backend.env"
        url = backend.urls["collections"]
        env.write_text(f"INTER_SERVICE_SECRET={settings.service_token}\nCOLLECTIONS_URL={url}\n")
        (tmp_path / "docs").mkdir()
        (tmp_path / "docs" / "big.md").write_text("# Big\n\n" + "word " * 1000)
        (tmp_path / "docs" / "small.md").write_text("# Small\n\nFits.")
        code = cli.main(
            ["--env-file", str(env), "ingest", str(tmp_path / "docs"), "--collection", unique("l"), "--url", url]
        )
        err = capsys.readouterr().err
        assert code == 1
        assert f"refused {tmp_path / 'docs' / 'big.md'}: is larger than the service accepts (HTTP 413:" in err
        assert "1 ingested, 0 unchanged, 0 failed, 1 refused" in err and "2/2" in err
    finally:
        backend.stop()


def test_the_token_comes_from_ragplane_token_and_refusals_say_what_to_do(
    small_plan: RunningStack, tmp_path: Path, unique, capsys, monkeypatch
) -> None:
    (tmp_path / "a.md").write_text("# A")
    nothing = str(tmp_path / "none.env")
    gateway = ["--env-file", nothing, "ingest", str(tmp_path / "a.md"), "--url", small_plan.urls["gateway"]]
    monkeypatch.setenv("RAGPLANE_TOKEN", "not-a-token")
    assert cli.main([*gateway, "--collection", unique("t")]) == 1
    assert "HTTP 401" in (err := capsys.readouterr().err) and "--token or RAGPLANE_TOKEN" in err
    monkeypatch.setenv("RAGPLANE_TOKEN", issue_token(small_plan.settings.gateway, sub="cli", plan="pro", ttl_s=60))
    assert cli.main([*gateway, "--collection", unique("t")]) == 0, capsys.readouterr().err
    monkeypatch.delenv("INTER_SERVICE_SECRET", raising=False)
    backend = ["--env-file", nothing, "ingest", str(tmp_path), "--url", small_plan.urls["collections"]]
    assert cli.main([*backend, "--collection", unique("t")]) == 1
    assert "HTTP 403" in (err := capsys.readouterr().err) and "leave out --url to go through the gateway" in err


def test_the_service_secret_goes_only_to_the_configured_collections_service(
    env_file: Path, tmp_path: Path, stack: RunningStack, capsys
) -> None:
    """A --url elsewhere (here a listener that records what it hears) never receives INTER_SERVICE_SECRET."""
    heard: list[dict[str, str]] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            heard.append(dict(self.headers))
            self.send_response(403)
            self.send_header("Content-Type", "application/problem+json")
            self.end_headers()
            self.wfile.write(b'{"status": 403, "detail": "no"}')

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (tmp_path / "a.md").write_text("# A")
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert (
            cli.main(["--env-file", str(env_file), "ingest", str(tmp_path / "a.md"), "--collection", "x", "--url", url])
            == 1
        )
    finally:
        server.shutdown()
        server.server_close()
    assert heard and all(k.lower() != "x-service-token" for h in heard for k in h)
    assert stack.settings.service_token not in repr(heard)
    assert "HTTP 403" in capsys.readouterr().err
