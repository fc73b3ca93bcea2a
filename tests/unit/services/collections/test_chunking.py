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


def test_setext_headings_open_sections_and_hashes_in_code_do_not() -> None:
    text = "Guide\n=====\n\nIntro.\n\nPart *two*\n---\n\n~~~\n# not a section\n~~~\n\n    # indented code\n"
    chunks = chunk_markdown(text)
    assert [(c.section, c.text) for c in chunks] == [
        ("Guide", "Intro."),
        ("Guide > Part two", "~~~\n# not a section\n~~~\n\n    # indented code"),
    ]


def test_thematic_breaks_are_not_chunks() -> None:
    assert [c.text for c in chunk_markdown("# T\n\nOne.\n\n---\n\n***\n")] == ["One."]


def test_every_piece_of_a_long_code_block_is_a_closed_fence() -> None:
    lines = "\n".join(f"echo step {i} of a long script" for i in range(40))
    chunks = chunk_markdown(f"# T\n\n```sh\n{lines}\n```\n\nAfter the script.", size=300, overlap=100)
    code = [c.text for c in chunks if "echo" in c.text]
    assert len(code) > 3
    assert all(t.startswith("```sh\necho step") and t.endswith("\n```") for t in code[:-1]), code
    assert code[-1].startswith("```sh\n") and "```\n\nAfter the script." in code[-1]
    # no chunk repeats code lines as an overlap, and every line is there once
    assert [line for t in code for line in t.splitlines() if line.startswith("echo")] == lines.splitlines()


def test_a_table_after_a_lead_in_line_keeps_its_header() -> None:
    header = "| variable | default |\n|---|---|"
    rows = "\n".join(f"| `SETTING_{i}` | `{i}` |" for i in range(40))
    chunks = chunk_markdown(f"# Settings\n\nThe settings:\n\n{header}\n{rows}\n", size=300, overlap=60)
    # the lead-in opens the first chunk rather than making a chunk of its own
    assert chunks[0].text.startswith(f"The settings:\n\n{header}\n| `SETTING_0`")
    assert all(c.text.startswith(header) for c in chunks[1:]), [c.text[:60] for c in chunks]
    assert all(len(c.text) <= 300 + 60 for c in chunks)


def test_a_list_is_cut_between_its_items_and_their_code_blocks() -> None:
    item = (
        "1. Silence the alert before the work starts, with an end and a comment:\n\n"
        "   ```sh\n   amtool silence add x\n   ```\n"
    )
    chunks = chunk_markdown("# T\n\n" + item * 8, size=200, overlap=60)
    assert len(chunks) > 3
    for chunk in chunks:
        # fences stay balanced and no chunk opens with a code line carried over as overlap
        assert chunk.text.count("```") % 2 == 0, chunk.text
        assert not chunk.text.startswith("amtool"), chunk.text
