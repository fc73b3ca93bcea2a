from ragplane.text import commands, inline_plain, markdown_title, split_sentences, table_rows

DOC = """Intro line without heading.

# Circuit breakers

The breaker opens after **five** failures. It then waits 10 s.
It probes [again](x.md)!

```python
# not a heading
x = 1
```

- first item
- second item with `code`

| a | b |
|---|---|
| 1 | 2 |
"""


def test_title_is_the_first_heading_outside_code() -> None:
    assert markdown_title(DOC) == "Circuit breakers"
    assert markdown_title("```\n# comment\n```\n## Real") == "Real"
    assert markdown_title("no heading") is None


def test_inline_markdown_becomes_plain_text() -> None:
    assert inline_plain("**bold** *it* `code` [link](u) ![img](i.png)") == "bold it code link img"
    assert inline_plain("ragplane_<subsystem>_<name> and snake_case") == "ragplane_<subsystem>_<name> and snake_case"
    assert inline_plain("_emph_ and __strong__") == "emph and strong"


def test_sentences_split_at_ends_and_structure() -> None:
    sentences = split_sentences(DOC)
    assert "The breaker opens after five failures." in sentences
    assert "It then waits 10 s." in sentences
    assert "It probes again!" in sentences
    assert "first item" in sentences and "second item with code" in sentences


def test_prose_only_drops_headings_tables_and_code() -> None:
    sentences = split_sentences(DOC, prose_only=True)
    assert "Circuit breakers" not in sentences
    assert not any("x = 1" in s or "not a heading" in s or s == "1 2" for s in sentences)
    assert "Intro line without heading." in sentences


def test_headings_list_items_and_rows_are_units() -> None:
    assert split_sentences("# T\n- a\n|x|y|\n|---|---|\n") == ["T", "a", "x y"]


def test_wrapped_list_items_stay_one_sentence() -> None:
    text = "- Every problem carries a trace id; grep it to find every\n  line of that request.\n- Next item"
    assert split_sentences(text) == [
        "Every problem carries a trace id; grep it to find every line of that request.",
        "Next item",
    ]


def test_code_lines_are_never_joined_into_prose() -> None:
    assert split_sentences("```\na = 1\nb = 2\n```") == ["a = 1", "b = 2"]


def test_table_rows_become_sentences_labelled_by_their_header() -> None:
    table = (
        "| setting | default | meaning |\n|---|---|---|\n"
        "| `CACHE_TTL_S` | `300` | lifetime of an entry |\n| `X` |  | unset |"
    )
    assert table_rows(table) == [
        "setting: CACHE_TTL_S; default: 300; meaning: lifetime of an entry",
        "setting: X; meaning: unset",
    ]
    assert table_rows(DOC) == ["a: 1; b: 2"]
    # a table cut by a chunk boundary has no header: its cells are joined plainly
    assert table_rows("| `QUERY_PORT` | `8001` | query port |") == ["QUERY_PORT; 8001; query port"]
    assert table_rows("```\n| not | a table |\n```") == []


def test_a_lead_in_sentence_comes_with_the_command_it_introduces() -> None:
    text = (
        "Intro. Switch it on before work:\n\n```sh\n# a comment\n$ ragplane maintenance on\nmore\n```\n\n"
        "Done:\n\n- item\n"
    )
    assert commands(text) == ["Switch it on before work: ragplane maintenance on"]
    assert commands("No colon here.\n\n```\nx\n```") == []
    assert commands("# Title:\n\n```\nx\n```") == []
