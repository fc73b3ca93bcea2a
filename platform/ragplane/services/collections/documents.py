"""Documents as they arrive, and the rules every document meets.

Everything is validated before a job is created, so a bad item refuses the whole
request with a 422 that names it (`documents[3].text: must not be empty`), and nothing
is ingested half-way because of a typo. A JSON body is validated by its model
(`schemas.DocumentsBody`, which applies `check_id` and `has_nul` from here); multipart
text/Markdown files are read here, each becoming one document named after its file.

`file_text` and `check_id` are the one rule for files, whether uploaded or read from disk
by `ragplane ingest` (which imports them), so both accept and refuse the same files for
the same reasons.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from starlette.datastructures import FormData, UploadFile

from ragplane.errors import BadRequest, NotText, UnsupportedMediaType, ValidationFailed
from ragplane.text import markdown_title

MAX_DOCUMENTS = 1000
MAX_ID_CHARS = 256
TEXT_TYPES = frozenset({"text/plain", "text/markdown", "text/x-markdown", "application/octet-stream", ""})
TEXT_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".text", ".rst"})


@dataclass(frozen=True)
class DocumentIn:
    id: str
    title: str
    text: str
    source: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def title_of(text: str, fallback: str) -> str:
    """A document's title when none is given: its first Markdown heading, else `fallback`."""
    return markdown_title(text) or fallback


def file_title(text: str, name: str) -> str:
    """A file's title: its first Markdown heading, else its name without folders and suffix."""
    return title_of(text, PurePosixPath(name).stem)


def hash_id(text: str) -> str:
    """The id of a document sent without one: a hash of its text."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


NUL_RULE = "must not contain NUL characters (U+0000)"


def file_text(raw: bytes) -> str:
    """The text of a text or Markdown file, or `NotText` saying why it is not one.

    UTF-8 only (a byte-order mark is dropped): guessing another encoding would store some
    files mangled. A NUL byte means a binary or UTF-16 file, and blank files have nothing
    to find.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotText(
            f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8 (a Latin-1 file: iconv -f latin1 -t utf-8)"
        ) from None
    if "\x00" in text:
        raise NotText("contains NUL bytes (U+0000): it is not a text file")
    if not text.strip():
        raise NotText("is empty")
    return text


def has_nul(value: Any) -> bool:
    """A NUL anywhere in a string or nested JSON value (PostgreSQL text and jsonb refuse it)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


def check_id(value: Any) -> str | None:
    """Why `value` cannot be a document id, or None when it can."""
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if len(value) > MAX_ID_CHARS or any(ord(ch) < 32 for ch in value):
        return f"must be at most {MAX_ID_CHARS} printable characters"
    return None


def _check_id(value: Any, where: str, errors: list[tuple[str, str]]) -> str | None:
    problem = check_id(value)
    if problem is not None:
        errors.append((where, problem))
        return None
    return str(value).strip()


async def parse_files(form: FormData) -> list[DocumentIn]:
    """Every uploaded file in a multipart form becomes one document, identified by its file name."""
    uploads = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
    if not uploads:
        raise BadRequest("The multipart form has no files; send text or Markdown files in any field.")
    if len(uploads) > MAX_DOCUMENTS:
        raise ValidationFailed([("files", f"at most {MAX_DOCUMENTS} per request (got {len(uploads)})")])
    errors: list[tuple[str, str]] = []
    documents: list[DocumentIn] = []
    for upload in uploads:
        name = upload.filename or "upload"
        kind = (upload.content_type or "").split(";")[0].strip().lower()
        suffix = PurePosixPath(name).suffix.lower()
        if kind not in TEXT_TYPES and not kind.startswith("text/"):
            raise UnsupportedMediaType(f"{name}: {kind} is not text; upload text or Markdown files.")
        if kind in ("", "application/octet-stream") and suffix not in TEXT_SUFFIXES:
            raise UnsupportedMediaType(f"{name}: cannot tell it is text; use a .md or .txt name or a text/* type.")
        try:
            text = file_text(await upload.read())
        except NotText as exc:
            errors.append((name, str(exc)))
            continue
        doc_id = _check_id(name, name, errors)
        if doc_id is not None:
            documents.append(DocumentIn(doc_id, file_title(text, name), text, name))
    errors += duplicates(documents)
    if errors:
        raise ValidationFailed(errors)
    return documents


def duplicates(documents: Sequence[DocumentIn]) -> list[tuple[str, str]]:
    """An error for each document whose id an earlier one of the same request has."""
    seen: set[str] = set()
    errors = []
    for doc in documents:
        if doc.id in seen:
            errors.append((doc.id, "appears twice in one request; give each document its own id"))
        seen.add(doc.id)
    return errors
