from pathlib import Path

import pytest

from ragplane.ops.ingest import BATCH_DOCUMENTS, IngestError, batches, document_id, find_files, read_documents


def tree(root: Path) -> None:
    (root / "docs" / "sub").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "docs" / "a.md").write_text("# A")
    (root / "docs" / "sub" / "b.txt").write_text("b")
    (root / "docs" / "c.py").write_text("print()")
    (root / "docs" / "empty.md").write_text("  ")
    (root / ".hidden" / "x.md").write_text("x")


def test_find_files_takes_text_and_markdown_only(tmp_path: Path) -> None:
    tree(tmp_path)
    found = find_files([tmp_path / "docs", tmp_path / ".hidden" / "x.md"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        ".hidden/x.md",
        "docs/a.md",
        "docs/empty.md",
        "docs/sub/b.txt",
    ]
    assert find_files([tmp_path]) == [tmp_path / "docs/a.md", tmp_path / "docs/empty.md", tmp_path / "docs/sub/b.txt"]
    with pytest.raises(IngestError, match="does not exist"):
        find_files([tmp_path / "missing"])


def test_document_ids_are_relative_paths(tmp_path: Path) -> None:
    assert document_id(tmp_path / "docs" / "a.md", tmp_path) == "docs/a.md"
    assert document_id(tmp_path / "a.md", tmp_path / "elsewhere") == "../a.md"


def test_batches_skip_empty_files_and_respect_the_size(tmp_path: Path) -> None:
    for i in range(BATCH_DOCUMENTS + 3):
        (tmp_path / f"{i:02d}.md").write_text(f"doc {i}")
    (tmp_path / "zz.md").write_text("")
    documents = read_documents(find_files([tmp_path]), tmp_path)
    assert len(documents) == BATCH_DOCUMENTS + 3
    groups = list(batches(documents))
    assert [len(g) for g in groups] == [BATCH_DOCUMENTS, 3]
    assert groups[0][0] == {"id": "00.md", "text": "doc 0", "source": "00.md"}
