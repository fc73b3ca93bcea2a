"""OpenAPI operations and schemas of the query service."""

from __future__ import annotations

from typing import Any

from ragplane.services.query.validation import DEFAULT_RESULTS, MAX_QUERY_CHARS, MAX_RESULTS, MIN_RESULTS


def _json(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


RESULT: dict[str, Any] = {
    "type": "object",
    "required": ["score", "document_id", "title", "text"],
    "properties": {
        "score": {
            "type": "number",
            "description": "Relevance, higher is better: the score-fusion score (about 0..2) of a hybrid collection, "
            "the cosine similarity (-1..1) of a dense-only one. Compare within one response only.",
        },
        "document_id": {"type": "string"},
        "title": {"type": "string"},
        "text": {"type": "string", "description": "The matching chunk."},
        "section": {"type": "string", "description": "Heading path of the chunk inside its document."},
        "chunk_index": {"type": "integer"},
        "source": {"type": ["string", "null"]},
    },
}

SCHEMAS: dict[str, Any] = {
    "SearchResult": RESULT,
    "SearchResponse": {
        "type": "object",
        "required": ["query", "collection", "max_results", "results", "took_ms"],
        "properties": {
            "query": {"type": "string"},
            "collection": {"type": "string"},
            "max_results": {"type": "integer", "description": "The clamped value actually used."},
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/SearchResult"}},
            "cached": {"type": "boolean", "description": "Answered from the search-result cache."},
            "took_ms": {"type": "number"},
        },
    },
    "QueryRequest": {
        "type": "object",
        "required": ["query"],
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS},
            "collection": {"type": "string"},
            "max_results": {"type": "integer", "default": DEFAULT_RESULTS},
        },
    },
    "QueryResponse": {
        "type": "object",
        "required": ["query", "collection", "answer", "citations", "sources", "max_results", "took_ms"],
        "properties": {
            "query": {"type": "string"},
            "collection": {"type": "string"},
            "answer": {"type": "string", "description": "Sentences, each followed by [n] markers citing sources."},
            "grounded": {"type": "boolean", "description": "False when no passage answered the question."},
            "citations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string"},
                        "sources": {"type": "array", "items": {"type": "integer"}},
                    },
                },
            },
            "sources": {
                "type": "array",
                "items": {
                    "allOf": [
                        {"$ref": "#/components/schemas/SearchResult"},
                        {"type": "object", "properties": {"id": {"type": "integer"}}},
                    ]
                },
            },
            "answerer": {"type": "string"},
            "degraded": {
                "type": "boolean",
                "description": "True when the LLM was unavailable and the extractive answer was given instead.",
            },
            "degraded_reason": {"type": "string"},
            "max_results": {"type": "integer"},
            "took_ms": {"type": "number"},
        },
    },
    "ActivityResponse": {
        "type": "object",
        "required": ["source", "minutes", "buckets"],
        "properties": {
            "source": {
                "type": "string",
                "enum": ["query_log", "replica"],
                "description": "query_log: the query log's per-minute rollup, every replica's requests, refreshed "
                "every DATABASE_MAINTENANCE_S; replica: the answering replica's own counts since it started.",
            },
            "minutes": {"type": "integer"},
            "buckets": {
                "type": "array",
                "description": "Every minute of the window, oldest first; minutes without requests are zeros.",
                "items": {
                    "type": "object",
                    "required": ["minute", "searches", "questions", "errors"],
                    "properties": {
                        "minute": {"type": "string", "format": "date-time"},
                        "searches": {"type": "integer"},
                        "questions": {"type": "integer"},
                        "errors": {"type": "integer", "description": "Requests answered with a 5xx."},
                        "latency_avg_ms": {"type": ["number", "null"]},
                        "latency_max_ms": {"type": ["number", "null"]},
                    },
                },
            },
        },
    },
}

_MAX_RESULTS_DOC = f"Clamped to {MIN_RESULTS}..{MAX_RESULTS}; default {DEFAULT_RESULTS}."

SEARCH: dict[str, Any] = {
    "parameters": [
        {
            "name": "query",
            "in": "query",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS},
        },
        {
            "name": "collection",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "Defaults to the configured default collection (docs).",
        },
        {
            "name": "max_results",
            "in": "query",
            "required": False,
            "schema": {"type": "integer"},
            "description": _MAX_RESULTS_DOC,
        },
    ],
    "responses": {"200": _json("SearchResponse", "Matching chunks, best first.")},
}

QUERY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueryRequest"}}},
    },
    "responses": {"200": _json("QueryResponse", "An answer whose sentences cite the returned sources.")},
}

ACTIVITY: dict[str, Any] = {
    "parameters": [
        {
            "name": "minutes",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 60, "default": 60},
            "description": "How many minutes back, the current one included.",
        }
    ],
    "responses": {"200": _json("ActivityResponse", "Searches, questions, errors and latency per minute.")},
}
