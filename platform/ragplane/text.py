"""Markdown as the chunker and the extractive answerer read it: blocks, plain text, sentences.

Markdown is parsed by markdown-it-py (CommonMark and GitHub's tables), not by patterns of
lines: a `#` in a code block is not a heading, `Title` over `=====` is one, a link keeps its
text whatever its target holds, and `_` inside snake_case names is not emphasis. Its tokens
say where each block starts and ends in the source, so the chunker can quote blocks as they
were written.

Sentences are split with a rule good enough for technical English: a sentence ends at `.`,
`!` or `?` followed by space and an upper-case letter, digit, quote or bracket; a sentence
never spans two paragraphs, list items, headings, table rows or code lines.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from markdown_it import MarkdownIt
from markdown_it.token import Token

# Parsers are built once per process (building one compiles its rules). `_BLOCKS` reads only the
# block structure: a document's inline markup is read where it is needed (headings), which halves
# the cost of reading a whole document.
_MARKDOWN = MarkdownIt("commonmark").enable("table")
_BLOCKS = MarkdownIt("commonmark").enable("table").disable("inline")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9`])")
_SPACES = re.compile(r"\s+")
# Rows cut off from their table's header are a paragraph to CommonMark, so their cells are split
# here: at pipes that are not escaped (`a \| b` is one cell).
_CELL_BORDER = re.compile(r"(?<!\\)\|")
PASSAGES_PARSED = 64  # the answerer reads each passage with several helpers in a row

Kind = Literal["heading", "paragraph", "list", "code", "table", "quote", "html"]
_KINDS: dict[str, Kind] = {
    "paragraph_open": "paragraph",
    "bullet_list_open": "list",
    "ordered_list_open": "list",
    "fence": "code",
    "code_block": "code",
    "table_open": "table",
    "blockquote_open": "quote",
    "html_block": "html",
}
# Blocks a list or quote holds whose lines keep their form: never cut at sentence ends.
_VERBATIM = frozenset({"fence", "code_block", "table_open", "html_block"})


class Unit(NamedTuple):
    """A part of a block that a chunk may begin or end with, with the blank lines after it, so
    units joined by line breaks read as the source did. A prose unit too long for a chunk is cut
    at sentence ends; code, table rows and HTML at line ends, where their form survives."""

    text: str
    prose: bool = True


@dataclass(frozen=True)
class Block:
    """A top-level block of a Markdown document, as written in its source.

    `units` are its parts a chunk may begin or end with: a list's items (with their wrapped
    lines) and the paragraphs and code blocks inside them, a table's rows, a code block's
    lines, else the whole block. `head` and `foot` frame the units and are repeated around
    every piece of a cut block, so a piece stays what the block was: a table's header and
    rule line, a fence's marks.
    """

    kind: Kind
    source: str
    units: tuple[Unit, ...] = ()
    head: str = ""
    foot: str = ""
    level: int = 0  # a heading's
    title: str = ""  # a heading's text, as plain text


def _lines(text: str) -> list[str]:
    """Source lines numbered as markdown-it numbers them (it reads `\\r\\n` and `\\r` as `\\n`)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _joined(lines: Sequence[str]) -> str:
    """Lines as a block of text, without the blank lines around it."""
    return "\n".join(lines).strip("\n").rstrip()


def _pipe_rows(content: str) -> list[str] | None:
    """The lines of a paragraph that is table rows without their header and rule line (a table
    cut by a chunk boundary, which CommonMark reads as a paragraph)."""
    lines = content.split("\n")
    return lines if all(line.lstrip().startswith("|") for line in lines) else None


def _cells(row: str) -> list[str]:
    return [inline_plain(cell) for cell in _CELL_BORDER.split(row.strip().strip("|"))]


def _nested_units(tokens: Sequence[Token], start: int, lines: list[str]) -> tuple[Unit, ...]:
    """The units of a list or quote: each block inside it (a list item's first paragraph, a
    paragraph after it, a nested item) from its first line to the next one's; code, tables and
    HTML inside it whole."""
    first, last = tokens[start].map or (0, 0)
    starts: dict[int, bool] = {}  # first line -> prose
    verbatim_until = first
    for token in _inside(tokens, start):
        if token.map is None or token.type == "inline" or token.map[0] < verbatim_until:
            continue
        verbatim = token.type in _VERBATIM
        starts[token.map[0]] = starts.get(token.map[0], True) and not verbatim
        verbatim_until = token.map[1] if verbatim else verbatim_until
    ends = [*sorted(starts)[1:], last]
    return tuple(Unit("\n".join(lines[a:b]), starts[a]) for a, b in zip(sorted(starts), ends, strict=True))


def _block(kind: Kind, tokens: Sequence[Token], start: int, lines: list[str]) -> Block:
    """The block opened by `tokens[start]`, cut into units along its tokens' line maps."""
    token = tokens[start]
    first, last = token.map or (0, 0)
    source = lines[first:last]
    text = _joined(source)
    if kind == "code" and token.type == "fence":
        body = token.content.count("\n")
        units = tuple(Unit(line, prose=False) for line in source[1 : 1 + body])
        # An unclosed fence runs to the document's end; its pieces are closed all the same.
        return Block(kind, text, units, source[0], _joined(source[1 + body :]) or token.markup)
    if kind == "code":
        return Block(kind, text, tuple(Unit(line, prose=False) for line in source))
    if kind == "table":
        return Block(kind, text, tuple(Unit(row, prose=False) for row in source[2:]), _joined(source[:2]))
    if kind == "paragraph" and _pipe_rows(tokens[start + 1].content) is not None:
        return Block("table", text, tuple(Unit(row, prose=False) for row in source))
    if kind in ("list", "quote"):
        return Block(kind, text, _nested_units(tokens, start, lines))
    return Block(kind, text, (Unit(text, prose=kind != "html"),))


def _inside(tokens: Sequence[Token], start: int) -> Iterator[Token]:
    """The tokens from an opening token to its closing one."""
    depth = 0
    for token in tokens[start:]:
        yield token
        depth += token.nesting
        if depth <= 0:
            return


def blocks(text: str) -> list[Block]:
    """A Markdown document's top-level blocks in order: headings, paragraphs, lists, code,
    tables, quotes and HTML. Thematic breaks and link reference definitions hold no text to
    find and are left out."""
    lines = _lines(text)
    tokens = _BLOCKS.parse(text)
    found: list[Block] = []
    for i, token in enumerate(tokens):
        if token.level != 0 or token.nesting == -1:
            continue
        if token.type == "heading_open":
            title = inline_plain(tokens[i + 1].content)
            first, last = token.map or (0, 0)
            found.append(Block("heading", _joined(lines[first:last]), level=int(token.tag[1:]), title=title))
        elif (kind := _KINDS.get(token.type)) is not None:
            block = _block(kind, tokens, i, lines)
            if block.source.strip():
                found.append(block)
    return found


@functools.lru_cache(maxsize=PASSAGES_PARSED)
def _parse(text: str) -> tuple[Token, ...]:
    return tuple(_MARKDOWN.parse(text))


def _plain(token: Token) -> str:
    """An inline token as plain text: link and image text without targets, emphasis and code
    spans without their marks, line breaks as spaces."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":  # its alt text, whose tokens are the image's children
            parts.append(_plain(child))
    return _SPACES.sub(" ", "".join(parts)).strip()


def inline_plain(text: str) -> str:
    """Inline Markdown (links, emphasis, code spans) as plain text."""
    return _plain(_MARKDOWN.parseInline(text)[0])


def markdown_title(text: str) -> str | None:
    """The first heading of a Markdown document, if it has one."""
    tokens = _BLOCKS.parse(text)
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.level == 0:
            return inline_plain(tokens[i + 1].content) or None
    return None


def inline_code_spans(text: str) -> list[str]:
    """The contents of a Markdown text's inline code spans, longest first (as `inline_plain` leaves them)."""
    spans = {
        child.content
        for token in _parse(text)
        if token.type == "inline"
        for child in token.children or []
        if child.type == "code_inline" and child.content.strip()
    }
    return sorted(spans, key=len, reverse=True)


def _code_lines(content: str) -> list[str]:
    return [line for line in (_SPACES.sub(" ", raw).strip() for raw in content.split("\n")) if line]


def _units(text: str, *, prose_only: bool = False) -> list[str]:
    """Plain text of the places no sentence crosses: paragraphs, list items (a paragraph each),
    headings, table rows and code lines.

    `prose_only` drops headings, table rows, code and HTML, which make poor answer sentences.
    """
    tokens = _parse(text)
    units: list[str] = []
    row: list[str] | None = None
    for i, token in enumerate(tokens):
        if token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            units += [] if prose_only else [" ".join(cell for cell in row if cell)]
            row = None
        elif token.type == "inline" and row is not None:
            row.append(_plain(token))
        elif token.type == "inline" and tokens[i - 1].type == "heading_open":
            units += [] if prose_only else [_plain(token)]
        elif token.type == "inline" and (rows := _pipe_rows(token.content)) is not None:
            units += [] if prose_only else [" ".join(c for c in _cells(r) if c) for r in rows]
        elif token.type == "inline":
            units.append(_plain(token))
        elif token.type in ("fence", "code_block") and not prose_only:
            units += _code_lines(token.content)
        elif token.type == "html_block" and not prose_only:
            units.append(_SPACES.sub(" ", token.content).strip())
    return [unit for unit in units if unit]


def split_sentences(text: str, *, prose_only: bool = False) -> list[str]:
    """Sentences of a Markdown block; a sentence never spans two list items, headings or rows."""
    return [sentence for unit in _units(text, prose_only=prose_only) for sentence in _split(unit)]


def _split(block: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(block) if part.strip()]


def _labelled(cells: list[str], header: list[str]) -> str:
    """A row as a sentence, each cell labelled with its column's header when there is one."""
    labelled = len(header) == len(cells)
    parts = [f"{h}: {c}" if labelled and h else c for h, c in zip(header if labelled else cells, cells, strict=True)]
    return "; ".join(p for p, c in zip(parts, cells, strict=True) if c)


def table_rows(text: str) -> list[str]:
    """The data rows of a Markdown block's tables as sentences, each cell labelled with its column's
    header when the header is in the block ("variable: CACHE_TTL_S; default: 300; meaning: ...")."""
    rows: list[str] = []
    header: list[str] = []
    cells: list[str] | None = None  # of the row being read
    in_head = False
    for token in _parse(text):
        if token.type in ("thead_open", "thead_close"):
            in_head = token.type == "thead_open"
        elif token.type == "tr_open":
            cells = []
        elif token.type == "tr_close" and cells is not None:
            if in_head:
                header = cells
            else:
                rows.append(_labelled(cells, header))
            cells = None
        elif token.type == "inline" and cells is not None:
            cells.append(_plain(token))
        elif token.type == "inline" and (pipes := _pipe_rows(token.content)) is not None:
            rows += [_labelled(_cells(row), []) for row in pipes]
    return [row for row in rows if row]


def commands(text: str) -> list[str]:
    """Sentences that lead into a code block ("Switch it on before work…:") joined with the block's
    first line: the command a how-to sentence introduces. The lead is the last sentence of the
    paragraph right before the block, in the same container (the document or one list item)."""
    found: list[str] = []
    lead: tuple[int, str] | None = None  # (level, last sentence) of the paragraph just read
    tokens = _parse(text)
    for i, token in enumerate(tokens):
        if token.type == "inline" and tokens[i - 1].type == "paragraph_open":
            last = _split(_plain(token))[-1:]
            lead = (tokens[i - 1].level, last[0]) if last else None
        elif token.type == "fence":
            body = [line.strip() for line in token.content.split("\n")]
            first = next((line.removeprefix("$ ") for line in body if line and not line.startswith(("#", "--"))), "")
            if lead is not None and lead[0] == token.level and lead[1].endswith(":") and first:
                found.append(f"{lead[1]} {first}")
            lead = None
        elif token.nesting != -1 and token.type not in ("inline", "paragraph_open"):
            lead = None
    return found
