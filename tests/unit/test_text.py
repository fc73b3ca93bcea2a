from ragplane.text import (
    blocks,
    commands,
    inline_code_spans,
    inline_plain,
    markdown_title,
    split_sentences,
    table_rows,
)

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
    assert split_sentences("# T\n- a\n\n|x|y|\n|---|---|\n") == ["T", "a", "x y"]
    # CommonMark: a line right after a list item continues it (a table needs a blank line first)
    assert split_sentences("- a\n| x | y |") == ["a | x | y |"]


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


def test_hashes_in_code_are_not_headings_and_setext_headings_are() -> None:
    assert markdown_title("~~~\n# comment\n~~~\n\n    # indented code\n\nTitle *one*\n=====\n\n# Later") == "Title one"
    assert markdown_title("Intro\n\nPart two\n---\n") == "Part two"
    assert markdown_title("#hashtag is not a heading") is None
    assert split_sentences("```\n# not a heading\n```", prose_only=True) == []


def test_inline_markup_markdown_it_reads_and_patterns_did_not() -> None:
    assert inline_plain("see [the docs](https://x.org/a_(b)) now") == "see the docs now"
    assert inline_plain("***bold and italic*** and **bold with *nested* italic**") == (
        "bold and italic and bold with nested italic"
    )
    assert inline_plain("`a*b*c` stays and 2 * 3 * 4 too") == "a*b*c stays and 2 * 3 * 4 too"
    # marks inside code spans are code, not emphasis
    assert inline_plain("(or `*`, never both) and `Access-Control-*` headers") == (
        "(or *, never both) and Access-Control-* headers"
    )
    assert inline_plain("`` a `tick` `` and \\*escaped\\* and &amp;") == "a `tick` and *escaped* and &"
    assert inline_plain("![a *diagram*](d.png) and <https://x.org>") == "a diagram and https://x.org"
    assert inline_plain("max_retry_count and `__init__` and CHUNK_SIZE_CHARS") == (
        "max_retry_count and __init__ and CHUNK_SIZE_CHARS"
    )


def test_star_lists_are_items_not_emphasis() -> None:
    assert split_sentences("* first *item*\n* second item\n\n+ third") == ["first item", "second item", "third"]


def test_code_spans_are_read_by_the_parser() -> None:
    text = "Use `a|b` and ``x`yz`` here.\n\n```\n`not a span`\n```"
    assert inline_code_spans(text) == ["x`yz", "a|b"]


def test_table_cells_may_hold_escaped_pipes_and_code() -> None:
    table = "| kind | values |\n|---|---|\n| `state` | `open \\| closed` |\n"
    assert table_rows(table) == ["kind: state; values: open | closed"]


def test_commands_follow_the_parser_blocks() -> None:
    # a lead-in inside a list item introduces the item's code block; a list before a fence does not
    text = "1. Silence it first:\n\n   ```sh\n   amtool silence add x\n   ```\n"
    assert commands(text) == ["Silence it first: amtool silence add x"]
    assert commands("- Steps:\n\n```\nx\n```") == []
    assert commands("Run it:\n```\nmake run\n```") == ["Run it: make run"]


def test_blocks_keep_their_source_and_units() -> None:
    text = "# T\n\nPara *one*\nwrapped.\n\n- a\n  more\n- b\n\n  ```\n  code\n  ```\n\n---\n\n| h |\n|---|\n| 1 |\n"
    found = blocks(text)
    assert [b.kind for b in found] == ["heading", "paragraph", "list", "table"]
    assert (found[0].level, found[0].title) == (1, "T")
    assert found[1].source == "Para *one*\nwrapped."
    assert [u.text.rstrip() for u in found[2].units] == ["- a\n  more", "- b", "  ```\n  code\n  ```"]
    assert [u.prose for u in found[2].units] == [True, True, False]
    assert (found[3].head, [u.text for u in found[3].units]) == ("| h |\n|---|", ["| 1 |"])
