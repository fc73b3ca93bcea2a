"""Plain-text helpers shared by the chunker and the extractive answerer.

Markdown is reduced to readable prose (no heading marks, emphasis, link targets or
table pipes) and split into sentences with a rule good enough for technical English:
a sentence ends at `.`, `!` or `?` followed by space and an upper-case letter, digit,
quote or bracket, or at a line break between list items.
"""

from __future__ import annotations

import re

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
# `_` only emphasises at word edges, so snake_case names survive.
_EMPHASIS = re.compile(r"\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|(?<!\w)__?([^_\s][^_]*)__?(?!\w)")
_INLINE_CODE = re.compile(r"`([^`]*)`")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9`])")
_SPACES = re.compile(r"\s+")


def markdown_title(text: str) -> str | None:
    """The first heading of a Markdown document, if it has one."""
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else _HEADING.match(line)
        if match:
            return inline_plain(match.group(2)) or None
    return None


def heading(line: str) -> tuple[int, str] | None:
    """(level, text) when `line` is a Markdown ATX heading."""
    match = _HEADING.match(line)
    return (len(match.group(1)), inline_plain(match.group(2))) if match else None


def is_fence(line: str) -> bool:
    return bool(_FENCE.match(line))


def table_header(block: str) -> str | None:
    """A Markdown table's header row and rule line when `block` opens with them."""
    lines = block.splitlines()
    if len(lines) >= 2 and lines[0].lstrip().startswith("|") and _TABLE_RULE.match(lines[1]):
        return f"{lines[0]}\n{lines[1]}"
    return None


def starts_unit(line: str) -> bool:
    """Whether a Markdown line begins a unit of its own: a list item or a table row."""
    return bool(_LIST_MARK.match(line)) or line.lstrip().startswith("|")


def inline_code_spans(text: str) -> list[str]:
    """The contents of a Markdown text's inline code spans, longest first (as `inline_plain` leaves them)."""
    return sorted({span for span in _INLINE_CODE.findall(text) if span.strip()}, key=len, reverse=True)


def inline_plain(text: str) -> str:
    """Inline Markdown (links, emphasis, code spans) as plain text."""
    text = _LINK.sub(r"\1", text)
    text = _INLINE_CODE.sub(r"\1", text)
    text = _EMPHASIS.sub(lambda m: next(g for g in m.groups() if g is not None), text)
    return _SPACES.sub(" ", text).strip()


def _units(text: str, *, prose_only: bool = False) -> list[str]:
    """Logical lines: paragraphs and list items (with their wrapped lines) joined into one
    line each, headings, table rows and code lines on their own.

    `prose_only` drops headings, table rows and code, which make poor answer sentences.
    """
    units: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            units.append(inline_plain(" ".join(current)))
            current.clear()

    def alone(line: str) -> None:
        flush()
        plain = inline_plain(line)
        if plain and not prose_only:
            units.append(plain)

    in_fence = False
    for raw in text.splitlines():
        if _FENCE.match(raw):
            flush()
            in_fence = not in_fence
        elif in_fence:
            alone(raw)
        elif not raw.strip() or _TABLE_RULE.match(raw):
            flush()
        elif found := _HEADING.match(raw):
            alone(found.group(2))
        elif raw.lstrip().startswith("|"):
            alone(raw.replace("|", " "))
        elif _LIST_MARK.match(raw):
            flush()
            current.append(_LIST_MARK.sub("", raw))
        else:
            current.append(raw.strip())
    flush()
    return [u for u in units if u]


def split_sentences(text: str, *, prose_only: bool = False) -> list[str]:
    """Sentences of a Markdown block; a sentence never spans two list items, headings or rows."""
    return [sentence for unit in _units(text, prose_only=prose_only) for sentence in _split(unit)]


def _split(block: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(block) if part.strip()]


def _cells(row: str) -> list[str]:
    return [inline_plain(cell) for cell in row.strip().strip("|").split("|")]


def table_rows(text: str) -> list[str]:
    """The data rows of a Markdown block's tables as sentences, each cell labelled with its column's
    header when the header is in the block ("variable: CACHE_TTL_S; default: 300; meaning: ...")."""
    rows: list[str] = []
    header: list[str] = []
    pending: str | None = None  # a row that is the header if a rule line follows it
    in_fence = False

    def emit(row: str) -> None:
        cells = _cells(row)
        labelled = len(header) == len(cells)
        parts = [
            f"{h}: {c}" if labelled and h else c for h, c in zip(header if labelled else cells, cells, strict=True)
        ]
        line = "; ".join(p for p, c in zip(parts, cells, strict=True) if c)
        if line:
            rows.append(line)

    for raw in text.splitlines():
        if _FENCE.match(raw):
            in_fence = not in_fence
        is_row = not in_fence and raw.lstrip().startswith("|")
        if is_row and _TABLE_RULE.match(raw):
            header, pending = (_cells(pending) if pending is not None else header), None
            continue
        if pending is not None:
            emit(pending)
            pending = None
        if is_row:
            pending = raw
        else:
            header = [] if raw.strip() else header
    if pending is not None:
        emit(pending)
    return rows


def commands(text: str) -> list[str]:
    """Sentences that lead into a code block ("Switch it on before work…:") joined with the block's
    first line: the command a how-to sentence introduces."""
    found: list[str] = []
    paragraph: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if _FENCE.match(lines[i]):
            lead = _split(inline_plain(" ".join(paragraph)))[-1:] if paragraph else []
            paragraph = []
            body = []
            i += 1
            while i < len(lines) and not _FENCE.match(lines[i]):
                body.append(lines[i].strip())
                i += 1
            first = next((line.removeprefix("$ ") for line in body if line and not line.startswith(("#", "--"))), "")
            if lead and lead[0].endswith(":") and first:
                found.append(f"{lead[0]} {first}")
        elif not lines[i].strip() or heading(lines[i]) or starts_unit(lines[i]):
            paragraph = [] if lines[i].strip() else paragraph
        else:
            paragraph.append(lines[i].strip())
        i += 1
    return found
