"""What the query service accepts and answers, as pydantic models, and its OpenAPI operations.

A search (query parameters) and a question (a JSON body) take the same `QueryRequest`. The
query is trimmed and must be 1-1000 characters of text: control characters (a NUL from
`%00`, say) and lone surrogates, which the tokenizer and PostgreSQL cannot take, are refused
with 422 whichever way the query came. `max_results` is clamped to 1..50 (default 5) rather
than refused, and the clamped value is echoed back so clients see what they got; a value
that is not an integer at all is refused with 422. A missing or empty `collection` is the
service's default collection, passed in as the validation context.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, ValidationInfo, model_validator

from ragplane.kit.openapi import components, json_body, json_response, query_parameters
from ragplane.kit.schemas import CollectionName, RequestModel, ResponseModel, Rule, Timestamp

MAX_QUERY_CHARS = 1000
MIN_RESULTS, MAX_RESULTS, DEFAULT_RESULTS = 1, 50, 5
WINDOW_MINUTES = 60
# C0 and C1 controls except tab, newline and carriage return; UTF-16 surrogates.
NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
NOT_TEXT_RULE = "must be text: no control characters or lone surrogates"


def _plain_text(text: str) -> str:
    if NOT_TEXT.search(text):
        raise ValueError(NOT_TEXT_RULE)
    return text


QueryText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY_CHARS),
    AfterValidator(_plain_text),
    Rule(
        "is required and must be a string",
        string_too_short="must not be empty or only whitespace",
        string_too_long=lambda e: f"must be at most {MAX_QUERY_CHARS} characters (got {len(e['input'].strip())})",
        string_unicode=NOT_TEXT_RULE,
    ),
]


def clamp_max_results(raw: Any) -> int:
    """`raw` as an integer within 1..50; None or "" means the default. Raises ValueError if not an integer."""
    if raw is None or raw == "":
        return DEFAULT_RESULTS
    message = f"must be an integer (it is clamped to {MIN_RESULTS}..{MAX_RESULTS})"
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise ValueError(message)
    try:
        value = int(raw.strip()) if isinstance(raw, str) else int(raw)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    return max(MIN_RESULTS, min(MAX_RESULTS, value))


class QueryRequest(RequestModel):
    """A search or a question: what to look for, in which collection, and how many passages."""

    query: QueryText = Field(description="Trimmed; 1-1000 characters of text (no control characters).")
    collection: CollectionName = Field(
        default="docs",
        description="Absent or empty: the service's default collection (RAGPLANE_DEFAULT_COLLECTION, docs).",
    )
    max_results: Annotated[int, BeforeValidator(clamp_max_results)] = Field(
        default=DEFAULT_RESULTS,
        description=f"Clamped to {MIN_RESULTS}..{MAX_RESULTS}; default {DEFAULT_RESULTS}. Not an integer: 422.",
    )

    @staticmethod
    def defaults(collection: str) -> dict[str, Any]:
        """The validation context of a service whose default collection is `collection`."""
        return {"default_collection": collection}

    @model_validator(mode="before")
    @classmethod
    def _service_default(cls, data: Any, info: ValidationInfo) -> Any:
        """An absent, null or empty collection is the service's default (the context's), checked like any name."""
        if isinstance(data, Mapping) and info.context and data.get("collection") in (None, ""):
            return {**data, "collection": info.context["default_collection"]}
        return data


def _window(raw: Any) -> Any:
    """Minutes as the query string has them: ASCII digits only, 1..60."""
    text = str(raw)
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= WINDOW_MINUTES:
        raise ValueError(f"must be a whole number from 1 to {WINDOW_MINUTES}, not {text[:20]!r}")
    return int(text)


class ActivityQuery(RequestModel):
    minutes: Annotated[int, Field(ge=1, le=WINDOW_MINUTES), BeforeValidator(_window)] = Field(
        default=WINDOW_MINUTES, description="How many minutes back, the current one included."
    )


# --- responses -------------------------------------------------------------------------------------


class SearchResult(ResponseModel):
    score: float = Field(
        description="Relevance, higher is better: the score-fusion score (about 0..2) of a hybrid collection, "
        "the cosine similarity (-1..1) of a dense-only one. Compare within one response only."
    )
    document_id: str
    title: str
    text: str = Field(description="The matching chunk.")
    section: str = Field(default="", description="Heading path of the chunk inside its document.")
    chunk_index: int | None = None
    source: str | None = None


class SearchResponse(ResponseModel):
    query: str
    collection: str
    max_results: int = Field(description="The clamped value actually used.")
    results: list[SearchResult]
    cached: bool = Field(description="Answered from the search-result cache.")
    took_ms: float


class Citation(ResponseModel):
    text: str
    sources: list[int] = Field(description="The `id`s of the sources the sentence comes from.")


class Source(SearchResult):
    id: int = Field(description="The number citations use, from 1.")


class QueryResponse(ResponseModel):
    query: str
    collection: str
    answer: str = Field(description="Sentences, each followed by [n] markers citing sources.")
    grounded: bool = Field(description="False when no passage answered the question.")
    citations: list[Citation]
    sources: list[Source]
    answerer: str
    degraded: bool = Field(description="True when the LLM was unavailable and the extractive answer was given instead.")
    degraded_reason: str | None = Field(
        default=None, exclude_if=lambda reason: reason is None, description="Why, when degraded."
    )
    max_results: int
    took_ms: float


class ActivityBucket(ResponseModel):
    minute: Timestamp
    searches: int
    questions: int
    errors: int = Field(description="Requests answered with a 5xx.")
    latency_avg_ms: float | None
    latency_max_ms: float | None


class ActivityResponse(ResponseModel):
    source: Literal["query_log", "replica"] = Field(
        description="query_log: the query log's per-minute rollup, every replica's requests, refreshed "
        "every DATABASE_MAINTENANCE_S; replica: the answering replica's own counts since it started."
    )
    minutes: int
    buckets: list[ActivityBucket] = Field(
        description="Every minute of the window, oldest first; minutes without requests are zeros."
    )


# --- OpenAPI ---------------------------------------------------------------------------------------

SCHEMAS: dict[str, Any] = components(
    requests=[QueryRequest], responses=[SearchResponse, QueryResponse, ActivityResponse]
)

SEARCH: dict[str, Any] = {
    "parameters": query_parameters(QueryRequest),
    "responses": {"200": json_response(SearchResponse, "Matching chunks, best first.")},
}

QUERY: dict[str, Any] = {
    "requestBody": json_body(QueryRequest),
    "responses": {"200": json_response(QueryResponse, "An answer whose sentences cite the returned sources.")},
}

ACTIVITY: dict[str, Any] = {
    "parameters": query_parameters(ActivityQuery),
    "responses": {"200": json_response(ActivityResponse, "Searches, questions, errors and latency per minute.")},
}
