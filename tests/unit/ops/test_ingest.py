from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

from ragplane.errors import IngestError, NotText
from ragplane.ops.ingest import BATCH_DOCUMENTS, Source, batches, find_files, plan, read_documents
from ragplane.ops.ingest_client import MAX_WAIT_S, problem_text, retry_after_s
from ragplane.services.collections.documents import file_text


def tree(root: Path) -> None:
    (root / "docs" / "sub").mkdir(parents=True)
    (root / "docs" / ".hidden").mkdir()
    (root / "docs" / "a.md").write_text("# A")
    (root / "docs" / "sub" / "b.txt").write_text("b")
    (root / "docs" / "c.py").write_text("print()")
    (root / "docs" / ".hidden" / "x.md").write_text("x")
    (root / "docs" / ".dot.md").write_text("x")


def test_find_files_takes_text_and_markdown_only_and_skips_hidden_ones_inside(tmp_path: Path) -> None:
    tree(tmp_path)
    assert find_files(Source(tmp_path / "docs")) == [tmp_path / "docs/a.md", tmp_path / "docs/sub/b.txt"]
    assert find_files(Source(tmp_path / "docs" / ".hidden")) == [tmp_path / "docs/.hidden/x.md"]  # named: taken
    assert find_files(Source(tmp_path / "docs" / "c.py")) == [tmp_path / "docs/c.py"]
    with pytest.raises(IngestError, match="does not exist"):
        find_files(Source(tmp_path / "missing"))


def test_ids_do_not_depend_on_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 18.1: from the repo `../cooking/risotto.md`, from its parent `cooking/risotto.md`."""
    cooking = tmp_path / "x" / "cooking"
    (cooking / "mains").mkdir(parents=True)
    (cooking / "risotto.md").write_text("# Risotto")
    (cooking / "mains" / "pasta.md").write_text("# Pasta")
    (tmp_path / "repo").mkdir()
    expected = ["mains/pasta.md", "risotto.md"]
    for cwd, argument in [(tmp_path / "repo", Path("../x/cooking")), (tmp_path / "x", Path("cooking"))]:
        monkeypatch.chdir(cwd)
        assert [doc_id for doc_id, _ in plan([Source(argument)])] == expected
        assert [doc_id for doc_id, _ in plan([Source(cooking)])] == expected
    assert [i for i, _ in plan([Source(cooking / "mains" / "pasta.md")])] == ["pasta.md"]  # a file: its name
    assert [i for i, _ in plan([Source(cooking, "cooking/")])] == ["cooking/mains/pasta.md", "cooking/risotto.md"]


def test_paths_whose_ids_collide_are_an_error_naming_both(tmp_path: Path) -> None:
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "notes.md").write_text("notes")
    with pytest.raises(IngestError, match=r"would both be the document 'notes\.md'.*--prefix"):
        plan([Source(tmp_path / "one"), Source(tmp_path / "two")])
    same = plan([Source(tmp_path / "one"), Source(tmp_path / "one" / "notes.md")])  # one file, twice
    assert [i for i, _ in same] == ["notes.md"]


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "image.png").write_bytes(b"\x89PNG")
    with pytest.raises(IngestError, match=r"no text or Markdown files.*nothing was sent"):
        plan([Source(tmp_path / "empty")])


def test_bad_files_are_refused_for_the_reasons_uploads_are(tmp_path: Path) -> None:
    """Issue 18.3: one rule for the CLI and the API, each refused file named with its reason."""
    files = {
        "good.md": "# Crème brûlée\n\nCaramelised sugar.".encode(),
        "latin1.md": "# Crème brûlée".encode("latin-1"),
        "nul.md": b"# Binary\x00\x01",
        "blank.txt": b" \n\t",
        "bom.md": "\ufeff# With a BOM".encode(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    documents, refused = read_documents(plan([Source(tmp_path)]))
    assert [(d["id"], d["title"]) for d in documents] == [("bom.md", "With a BOM"), ("good.md", "Crème brûlée")]
    assert documents[1]["text"] == files["good.md"].decode()
    reasons = {Path(name).name: reason for name, reason in refused}
    assert set(reasons) == {"latin1.md", "nul.md", "blank.txt"}
    for name, reason in reasons.items():
        with pytest.raises(NotText) as upload:
            file_text(files[name])
        assert reason == str(upload.value)
    assert "not UTF-8" in reasons["latin1.md"] and "byte 0xe8 at offset 4" in reasons["latin1.md"]
    assert "NUL" in reasons["nul.md"] and "PostgreSQL" not in reasons["nul.md"]


def test_batches_respect_the_count_and_size(tmp_path: Path) -> None:
    for i in range(BATCH_DOCUMENTS + 3):
        (tmp_path / f"{i:02d}.md").write_text(f"doc {i}")
    documents, refused = read_documents(plan([Source(tmp_path)]))
    assert not refused
    groups = list(batches(documents))
    assert [len(g) for g in groups] == [BATCH_DOCUMENTS, 3]
    assert groups[0][0] == {"id": "00.md", "title": "00", "text": "doc 0", "source": "00.md"}


def answer(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers)


def test_retry_after_is_read_from_429_and_503_only() -> None:
    assert retry_after_s(answer(429, **{"Retry-After": "7"})) == 7
    assert retry_after_s(answer(503, **{"Retry-After": "100000"})) == MAX_WAIT_S
    assert retry_after_s(answer(503)) is None
    assert retry_after_s(answer(500, **{"Retry-After": "7"})) is None
    assert retry_after_s(answer(429, **{"Retry-After": "soon"})) is None
    in_a_while = retry_after_s(answer(429, **{"Retry-After": formatdate(usegmt=True)}))
    assert in_a_while is not None and 0 <= in_a_while <= 1


def test_problem_text_names_the_fields_of_a_422() -> None:
    problem = {"detail": "2 invalid fields", "errors": [{"field": "a.md", "message": "is empty"}]}
    assert problem_text(httpx.Response(422, json=problem)) == "HTTP 422: 2 invalid fields (a.md: is empty)"
    assert problem_text(httpx.Response(502, text="<html>")) == "HTTP 502: <html>"
