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


def inline_plain(text: str) -> str:
    """Inline Markdown (links, emphasis, code spans) as plain text."""
    text = _LINK.sub(r"\1", text)
    text = _INLINE_CODE.sub(r"\1", text)
    text = _EMPHASIS.sub(lambda m: next(g for g in m.groups() if g is not None), text)
    return _SPACES.sub(" ", text).strip()


def plain_lines(text: str) -> list[str]:
    """Prose lines of a Markdown block: list marks, table rules and heading marks removed."""
    return [unit for unit, _ in _units(text)]


def _units(text: str, *, prose_only: bool = False) -> list[tuple[str, bool]]:
    """(plain line, stands alone) pairs; headings, list items and table rows stand alone.

    `prose_only` drops headings, table rows and code fences, which make poor answer sentences.
    """
    units: list[tuple[str, bool]] = []
    in_fence = False
    for raw in text.splitlines():
        if _FENCE.match(raw):
            in_fence = not in_fence
            continue
        if _TABLE_RULE.match(raw) or not raw.strip():
            continue
        found = _HEADING.match(raw)
        if prose_only and (in_fence or found or raw.lstrip().startswith("|")):
            continue
        alone = bool(found or _LIST_MARK.match(raw) or raw.lstrip().startswith("|"))
        line = found.group(2) if found else _LIST_MARK.sub("", raw)
        line = inline_plain(line.replace("|", " "))
        if line:
            units.append((line, alone))
    return units


def split_sentences(text: str, *, prose_only: bool = False) -> list[str]:
    """Sentences of a Markdown block; headings, list items and table rows are units of their own."""
    sentences: list[str] = []
    buffer = ""
    for line, alone in _units(text, prose_only=prose_only):
        if alone:
            sentences.extend(_split(buffer))
            sentences.extend(_split(line))
            buffer = ""
        else:
            buffer = f"{buffer} {line}" if buffer else line
    sentences.extend(_split(buffer))
    return sentences


def _split(block: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(block) if part.strip()]
