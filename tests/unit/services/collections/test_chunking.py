import pytest

from ragplane.services.collections.chunking import Chunk, chunk_markdown


def test_short_document_is_one_chunk_per_section() -> None:
    chunks = chunk_markdown("# Title\n\nIntro.\n\n## Part\n\nBody text here.")
    assert [(c.section, c.text) for c in chunks] == [("Title", "Intro."), ("Title > Part", "Body text here.")]
    assert [c.index for c in chunks] == [0, 1]


def test_chunks_respect_the_size_and_overlap() -> None:
    paragraph = " ".join(f"Sentence number {i} is here." for i in range(200))
    chunks = chunk_markdown(f"# T\n\n{paragraph}", size=300, overlap=60)
    assert len(chunks) > 5
    assert all(len(c.text) <= 300 + 60 + 2 for c in chunks)
    # consecutive chunks of one section share their boundary sentence
    first_tail = chunks[0].text.split(". ")[-1]
    assert chunks[1].text.startswith(first_tail.rstrip(".")[:10])


def test_sections_never_share_a_chunk() -> None:
    chunks = chunk_markdown("# A\n\none\n\n# B\n\ntwo", size=1000, overlap=0)
    assert [c.text for c in chunks] == ["one", "two"]


def test_code_fences_keep_their_lines_and_hashes() -> None:
    chunks = chunk_markdown("# T\n\n```sh\n# comment, not a heading\nmake run\n```\n")
    assert len(chunks) == 1
    assert "# comment, not a heading\nmake run" in chunks[0].text
    assert chunks[0].section == "T"


def test_long_lines_and_words_are_cut() -> None:
    chunks = chunk_markdown("x" * 2500, size=1000, overlap=0)
    assert [len(c.text) for c in chunks] == [1000, 1000, 500]


def test_embedding_text_carries_the_context() -> None:
    assert Chunk(0, "It opens.", "Breakers").embedding_text("Guide") == "Guide > Breakers\nIt opens."
    assert Chunk(0, "It opens.", "").embedding_text("") == "It opens."


def test_overlap_must_be_smaller_than_size() -> None:
    with pytest.raises(ValueError):
        chunk_markdown("x", size=100, overlap=100)


def test_empty_text_has_no_chunks() -> None:
    assert chunk_markdown("\n\n# Only a heading\n") == []


def test_a_long_wrapped_paragraph_is_cut_between_sentences() -> None:
    sentences = [f"Sentence {i} wraps over\nthe line end here." for i in range(40)]
    chunks = chunk_markdown("# T\n\n" + " ".join(sentences), size=300, overlap=0)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.text.startswith("Sentence") and chunk.text.endswith("here."), chunk.text


def test_a_long_list_is_cut_between_items() -> None:
    items = "\n".join(f"- item {i} is long enough to\n  wrap onto a second line." for i in range(30))
    chunks = chunk_markdown(items, size=200, overlap=0)
    assert len(chunks) > 3
    assert all(c.text.startswith("- item") and c.text.endswith("line.") for c in chunks)


def test_every_chunk_of_a_long_table_repeats_its_header() -> None:
    header = "| variable | default | meaning |\n|---|---|---|"
    rows = "\n".join(f"| `SETTING_{i}` | `{i}` | what setting {i} does, in a few words |" for i in range(40))
    chunks = chunk_markdown(f"# Settings\n\n{header}\n{rows}\n", size=400, overlap=100)
    assert len(chunks) > 3
    assert all(c.text.startswith(header + "\n| `SETTING_") for c in chunks), [c.text[:80] for c in chunks]
    assert all(len(c.text) <= 400 for c in chunks)
    # every row once, in order: nothing lost or repeated but the header
    found = [line for c in chunks for line in c.text.splitlines()[2:]]
    assert found == rows.splitlines()
