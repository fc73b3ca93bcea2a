"""Names shared across services (the API contract, not any one service's code)."""

from __future__ import annotations

import re

from starlette.convertors import Convertor, register_url_convertor

COLLECTION_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")  # use .fullmatch: "$" would accept a newline
COLLECTION_NAME_RULE = "1-63 characters: lower-case letters, digits, '-' or '_', starting with a letter or digit"


class DocumentIdConvertor(Convertor[str]):
    """A document id in a path: like Starlette's `path` (slashes allowed), but never empty, so
    `.../documents/` is no route (a 404 naming `.../documents`), not a document with no id."""

    regex = ".+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


def register_convertors() -> None:
    """Make `{name:document_id}` usable in route paths (Starlette keeps convertors in one global table)."""
    register_url_convertor("document_id", DocumentIdConvertor())
