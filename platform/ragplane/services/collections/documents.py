"""Documents as they arrive: a JSON list or multipart text/Markdown files.

Everything is validated before a job is created, so a bad item refuses the whole
request with a 422 that names it (`documents[3].text: must not be empty`), and nothing
is ingested half-way because of a typo.

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

from ragplane.kit.errors import BadRequest, UnsupportedMediaType, ValidationFailed
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


def _title(text: str, fallback: str) -> str:
    return markdown_title(text) or fallback


def file_title(text: str, name: str) -> str:
    """A file's title: its first Markdown heading, else its name without folders and suffix."""
    return _title(text, PurePosixPath(name).stem)


NUL_RULE = "must not contain NUL characters (U+0000)"


class NotText(ValueError):
    """A file's bytes are not a document's text; the message says why, to follow its name."""


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


def _has_nul(value: Any) -> bool:
    """A NUL anywhere in a string or nested JSON value (PostgreSQL text and jsonb refuse it)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
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


def parse_json(body: Mapping[str, Any]) -> list[DocumentIn]:
    """`{"documents": [{"text", "id"?, "title"?, "source"?, "metadata"?}, ...]}`."""
    items = body.get("documents")
    if not isinstance(items, list) or not items:
        raise ValidationFailed([("documents", "must be a non-empty list of documents")])
    if len(items) > MAX_DOCUMENTS:
        raise ValidationFailed([("documents", f"at most {MAX_DOCUMENTS} per request (got {len(items)})")])
    errors: list[tuple[str, str]] = []
    documents: list[DocumentIn] = []
    for i, item in enumerate(items):
        where = f"documents[{i}]"
        if not isinstance(item, dict):
            errors.append((where, "must be an object"))
            continue
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            errors.append((f"{where}.text", "must be a non-empty string"))
            continue
        errors.extend(
            (f"{where}.{field}", NUL_RULE)
            for field in ("text", "title", "source", "metadata")
            if _has_nul(item.get(field))
        )
        doc_id = (
            _check_id(item["id"], f"{where}.id", errors)
            if "id" in item
            else "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]
        )
        title = item.get("title")
        if title is not None and not isinstance(title, str):
            errors.append((f"{where}.title", "must be a string"))
        source = item.get("source")
        if source is not None and not isinstance(source, str):
            errors.append((f"{where}.source", "must be a string"))
        metadata = item.get("metadata", {})
        if not isinstance(metadata, dict):
            errors.append((f"{where}.metadata", "must be an object"))
        if doc_id is not None and not errors:
            documents.append(DocumentIn(doc_id, title or _title(text, doc_id), text, source, metadata))
    _check_unique(documents, errors)
    if errors:
        raise ValidationFailed(errors)
    return documents


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
    _check_unique(documents, errors)
    if errors:
        raise ValidationFailed(errors)
    return documents


def _check_unique(documents: Sequence[DocumentIn], errors: list[tuple[str, str]]) -> None:
    seen: set[str] = set()
    for doc in documents:
        if doc.id in seen:
            errors.append((doc.id, "appears twice in one request; give each document its own id"))
        seen.add(doc.id)
