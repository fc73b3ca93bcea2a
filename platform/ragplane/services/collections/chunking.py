"""Splitting documents into chunks that embed well and read well.

Markdown is cut along its structure: a chunk never spans two sections, paragraphs
stay whole when they fit, long paragraphs split at sentence ends, and a chunk that
continues a section repeats the tail of the previous one (`overlap` characters) so an
idea cut at a boundary is still found. The structure is the document's blocks as markdown-it-py
reads them (`ragplane.text.blocks`), and a chunk quotes them as written: a long list is cut
between items, a long table or code block between lines, each piece of a table repeating its
header and each piece of a code block its fences. Each chunk remembers its heading path; the text
given to the embedder is prefixed with the title and that path, which helps a short
chunk ("It opens after 5 failures.") match the question it answers.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass

from ragplane.text import Block, Kind, Unit, blocks, split_sentences

# Blocks that a chunk's tail never repeats (see `_tail`).
_NO_TAIL: frozenset[Kind] = frozenset({"table", "code"})


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    section: str

    def embedding_text(self, title: str) -> str:
        context = " > ".join(part for part in (title, self.section) if part)
        return f"{context}\n{self.text}" if context else self.text


def _sections(text: str) -> Iterator[tuple[str, Block]]:
    """(section path, block) pairs: the document's blocks under their headings."""
    path: list[tuple[int, str]] = []
    for block in blocks(text):
        if block.kind == "heading":
            path = [(level, title) for level, title in path if level < block.level] + [(block.level, block.title)]
        else:
            yield " > ".join(title for _, title in path), block


def _cut(unit: Unit, size: int) -> list[str]:
    """A unit longer than `size` in pieces: prose at sentence ends, verbatim text (code, rows) at
    line ends, and anything still too long between words."""
    lines = unit.text.strip("\n").split("\n")
    if not unit.prose and len(lines) > 1:
        return _group(tuple(Unit(line, prose=False) for line in lines), size)
    pieces: list[str] = []
    for sentence in split_sentences(unit.text) if unit.prose else [unit.text.strip()]:
        while len(sentence) > size:
            cut = sentence.rfind(" ", 0, size)
            cut = cut if cut > size // 2 else size
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            pieces.append(sentence)
    return pieces


def _group(units: tuple[Unit, ...], size: int) -> list[str]:
    """Units gathered into pieces of at most `size` characters, joined by line breaks as in their
    source; a unit too long alone is cut."""
    pieces: list[str] = []
    group: list[str] = []

    def close() -> None:
        if piece := "\n".join(group).strip("\n").rstrip():
            pieces.append(piece)
        group.clear()

    for unit in units:
        text = unit.text.rstrip()
        if group and sum(len(u) + 1 for u in group) + len(text) > size:
            close()
        if len(text) <= size:
            group.append(unit.text)
        else:
            close()
            pieces += _cut(unit, size)
    close()
    return pieces


def _pieces(block: Block, size: int) -> list[str]:
    """A block as pieces of at most `size` characters: whole when it fits, else whole units (list
    items, table rows, code lines) where they fit, else sentences, else words. Each piece of a
    table repeats its header, so a row read in any chunk still says which column each cell is
    ("default: 300", not a bare "300"), and each piece of a fenced code block its fences, so the
    next piece's prose is not read as code."""
    if len(block.source) <= size:
        return [block.source]
    if block.kind in ("list", "quote"):
        # A piece may begin inside an item; one indented by four spaces would read as code.
        return [textwrap.dedent(piece) for piece in _group(block.units, size)]
    framing = sum(len(part) + 1 for part in (block.head, block.foot) if part)
    if framing and framing < size // 2:
        pieces = _group(block.units, size - framing)
        return ["\n".join(part for part in (block.head, piece, block.foot) if part) for piece in pieces]
    frame = [Unit(part, prose=False) for part in (block.head, block.foot)]
    return _group((frame[0], *block.units, frame[1]), size)


def _tail(prose: list[str], overlap: int) -> str:
    """The last whole sentences of the prose pieces that end a chunk, as many as fit in `overlap`
    characters. Only prose is repeated: a table's or code block's lines would lose their form
    (a row read as a sentence). Only the last pieces that can hold those sentences are read."""
    needed = 0
    while needed < len(prose) and sum(len(p) for p in prose[len(prose) - needed :]) <= overlap:
        needed += 1
    kept: list[str] = []
    for sentence in reversed(split_sentences("\n\n".join(prose[len(prose) - needed :]), prose_only=True)):
        if sum(len(s) + 1 for s in kept) + len(sentence) > overlap:
            break
        kept.insert(0, sentence)
    return " ".join(kept)


def chunk_markdown(text: str, *, size: int = 800, overlap: int = 120) -> list[Chunk]:
    """Chunks of at most about `size` characters (plus overlap), in document order."""
    if overlap >= size:
        raise ValueError("overlap must be smaller than size")
    chunks: list[Chunk] = []
    current: list[str] = []
    prose: list[str] = []  # the pieces at the end of `current` that a tail may repeat
    current_section: str | None = None

    def flush(carry: bool) -> None:
        nonlocal current, prose
        body = "\n\n".join(current)
        if not current or (carry and prose == current and len(body) <= overlap):
            return  # nothing, or prose the next chunk would repeat whole (a lead-in line): it opens that one
        chunks.append(Chunk(len(chunks), body, current_section or ""))
        tail = _tail(prose, overlap) if carry and prose and overlap > 0 else ""
        current, prose = ([tail], [tail]) if tail else ([], [])

    for section, block in _sections(text):
        if section != current_section:
            flush(carry=False)
            current_section = section
        for piece in _pieces(block, size):
            if current and sum(len(p) + 2 for p in current) + len(piece) > size:
                flush(carry=True)
            current.append(piece)
            prose = [] if block.kind in _NO_TAIL else [*prose, piece]
    flush(carry=False)
    return [c for c in chunks if c.text.strip()]
