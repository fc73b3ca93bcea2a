"""Splitting documents into chunks that embed well and read well.

Markdown is cut along its structure: a chunk never spans two sections, paragraphs
stay whole when they fit, long paragraphs split at sentence ends, and a chunk that
continues a section repeats the tail of the previous one (`overlap` characters) so an
idea cut at a boundary is still found. Each chunk remembers its heading path; the text
given to the embedder is prefixed with the title and that path, which helps a short
chunk ("It opens after 5 failures.") match the question it answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ragplane.text import heading, is_fence, split_sentences, starts_unit, table_header


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    section: str

    def embedding_text(self, title: str) -> str:
        context = " > ".join(part for part in (title, self.section) if part)
        return f"{context}\n{self.text}" if context else self.text


def _blocks(text: str) -> Iterator[tuple[str, str]]:
    """(section path, block) pairs: paragraphs, lists and code fences under their headings."""
    path: list[tuple[int, str]] = []
    lines: list[str] = []
    in_fence = False

    def section() -> str:
        return " > ".join(title for _, title in path)

    for line in text.splitlines():
        if is_fence(line):
            in_fence = not in_fence
            lines.append(line)
            continue
        found = None if in_fence else heading(line)
        if found or (not in_fence and not line.strip()):
            if lines:
                yield section(), "\n".join(lines).strip()
                lines = []
            if found:
                level, title = found
                path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, title)]
            continue
        lines.append(line)
    if lines:
        yield section(), "\n".join(lines).strip()


def _units(block: str) -> list[str]:
    """A block's raw Markdown units: list items with their wrapped lines, table rows, code
    lines, and paragraph text, so cutting between units never cuts a sentence."""
    units: list[list[str]] = []
    in_fence = False
    for line in block.splitlines():
        fence = is_fence(line)
        if fence or in_fence or starts_unit(line) or not units:
            units.append([line])
        else:
            units[-1].append(line)
        in_fence = in_fence != fence
    return ["\n".join(u) for u in units]


def _pieces(block: str, size: int) -> list[str]:
    """A block as pieces of at most `size` characters: whole units where they fit, else
    sentences, else words. A table's pieces each repeat its header, so a row read in any
    chunk still says which column each cell is ("default: 300", not a bare "300")."""
    if len(block) <= size:
        return [block]
    header = table_header(block)
    if header is not None and len(header) < size // 2:
        rows = block[len(header) :].strip("\n")
        return [f"{header}\n{piece}" for piece in _pieces(rows, size - len(header) - 1)]
    pieces: list[str] = []
    group: list[str] = []
    for unit in _units(block):
        if group and sum(len(u) + 1 for u in group) + len(unit) > size:
            pieces.append("\n".join(group))
            group = []
        if len(unit) <= size:
            group.append(unit)
            continue
        for sentence in split_sentences(unit):
            while len(sentence) > size:
                cut = sentence.rfind(" ", 0, size)
                cut = cut if cut > size // 2 else size
                pieces.append(sentence[:cut].strip())
                sentence = sentence[cut:].strip()
            if sentence:
                pieces.append(sentence)
    if group:
        pieces.append("\n".join(group))
    return pieces


def _tail(text: str, overlap: int) -> str:
    """The last whole sentences of `text` that fit in `overlap` characters; nothing when `text` ends
    in a table or code, whose lines would lose their form (a row read as a sentence)."""
    last = text.rstrip().rsplit("\n", 1)[-1]
    if overlap <= 0 or last.lstrip().startswith("|") or is_fence(last):
        return ""
    kept: list[str] = []
    for sentence in reversed(split_sentences(text)):
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
    current_section: str | None = None

    def flush(carry: bool) -> None:
        nonlocal current
        if not current:
            return
        body = "\n\n".join(current)
        chunks.append(Chunk(len(chunks), body, current_section or ""))
        tail = _tail(body, overlap) if carry else ""
        current = [tail] if tail else []

    for section, block in _blocks(text):
        if section != current_section:
            flush(carry=False)
            current = []
            current_section = section
        for piece in _pieces(block, size):
            if current and sum(len(p) + 2 for p in current) + len(piece) > size:
                flush(carry=True)
            current.append(piece)
    flush(carry=False)
    return [c for c in chunks if c.text.strip()]
