"""Validation of search and Q&A requests.

The query is trimmed and must be 1-1000 characters of text: control characters (a NUL
from `%00`, say) and lone surrogates, which the tokenizer and PostgreSQL cannot take, are
refused with 422 whichever way the query came. `max_results` is clamped to 1..50
(default 5) rather than refused, and the clamped value is echoed back so clients see
what they got. A value that is not an integer at all is refused with 422.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ragplane.kit.errors import ValidationFailed
from ragplane.kit.naming import COLLECTION_NAME, COLLECTION_NAME_RULE

MAX_QUERY_CHARS = 1000
MIN_RESULTS, MAX_RESULTS, DEFAULT_RESULTS = 1, 50, 5
# C0 and C1 controls except tab, newline and carriage return; UTF-16 surrogates.
NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True)
class SearchRequest:
    query: str
    collection: str
    max_results: int


def clamp_max_results(raw: Any) -> int:
    """`raw` as an integer within 1..50; None means the default. Raises ValueError if not an integer."""
    if raw is None or raw == "":
        return DEFAULT_RESULTS
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise ValueError("must be an integer")
    value = int(raw.strip()) if isinstance(raw, str) else int(raw)
    return max(MIN_RESULTS, min(MAX_RESULTS, value))


def validate(query: Any, collection: Any, max_results: Any, *, default_collection: str) -> SearchRequest:
    errors: list[tuple[str, str]] = []
    text = ""
    if not isinstance(query, str):
        errors.append(("query", "is required and must be a string"))
    else:
        text = query.strip()
        if not text:
            errors.append(("query", "must not be empty or only whitespace"))
        elif len(text) > MAX_QUERY_CHARS:
            errors.append(("query", f"must be at most {MAX_QUERY_CHARS} characters (got {len(text)})"))
        elif NOT_TEXT.search(text):
            errors.append(("query", "must be text: no control characters or lone surrogates"))
    name = default_collection if collection is None or collection == "" else collection
    if not isinstance(name, str) or not COLLECTION_NAME.fullmatch(name):
        errors.append(("collection", COLLECTION_NAME_RULE))
    try:
        limit = clamp_max_results(max_results)
    except (TypeError, ValueError):
        errors.append(("max_results", f"must be an integer (it is clamped to {MIN_RESULTS}..{MAX_RESULTS})"))
        limit = DEFAULT_RESULTS
    if errors:
        raise ValidationFailed(errors)
    return SearchRequest(text, str(name), limit)


def from_query_params(params: Mapping[str, str], *, default_collection: str) -> SearchRequest:
    return validate(
        params.get("query"), params.get("collection"), params.get("max_results"), default_collection=default_collection
    )


def from_body(body: Mapping[str, Any], *, default_collection: str) -> SearchRequest:
    return validate(
        body.get("query"), body.get("collection"), body.get("max_results"), default_collection=default_collection
    )
