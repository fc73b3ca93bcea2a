"""OpenAPI operations and schemas of the collections service."""

from __future__ import annotations

from typing import Any

from ragplane.kit.naming import COLLECTION_NAME

NAME_PATTERN = f"^{COLLECTION_NAME.pattern}$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "collection", "state", "documents", "chunks"],
    "properties": {
        "id": {"type": "string"},
        "collection": {"type": "string"},
        "state": {"type": "string", "enum": ["queued", "running", "completed", "failed"]},
        "documents": {
            "type": "object",
            "properties": {k: {"type": "integer"} for k in ("total", "ingested", "skipped", "failed")},
        },
        "chunks": {"type": "integer", "description": "Chunks stored so far."},
        "chunks_total": {"type": "integer", "description": "Chunks of the documents to ingest, once chunked."},
        "error": {"type": ["string", "null"]},
        "created_at": {"type": ["string", "null"], "format": "date-time"},
        "started_at": {"type": ["string", "null"], "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
        "links": {"type": "object", "properties": {"self": {"type": "string"}}},
    },
}

SCHEMAS: dict[str, Any] = {
    "Collection": {
        "type": "object",
        "required": ["name", "embedder", "dimension", "documents", "chunks"],
        "properties": {
            "name": {"type": "string", "pattern": NAME_PATTERN},
            "description": {"type": "string"},
            "embedder": {"type": "string"},
            "dimension": {"type": "integer"},
            "chunk_size": {"type": "integer"},
            "chunk_overlap": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "documents": {"type": "integer"},
            "chunks": {"type": "integer"},
        },
    },
    "CollectionCreate": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": NAME_PATTERN},
            "description": {"type": "string", "maxLength": 1000},
            "chunk_size": {"type": "integer", "minimum": 200, "maximum": 4000},
            "chunk_overlap": {"type": "integer", "minimum": 0},
        },
    },
    "CollectionStats": {
        "type": "object",
        "properties": {
            "collection": {"type": "string"},
            "documents": {"type": "integer"},
            "chunks": {"type": "integer"},
            "vectors": {"type": "integer"},
            "disk_bytes": {"type": ["integer", "null"], "description": "Null when Qdrant runs as a server."},
            "text_bytes": {"type": "integer"},
            "last_ingested_at": {"type": ["string", "null"], "format": "date-time"},
            "embedder": {"type": "string"},
            "dimension": {"type": "integer"},
        },
    },
    "DocumentInput": {
        "type": "object",
        "required": ["text"],
        "properties": {
            "id": {"type": "string", "maxLength": 256, "description": "Defaults to a hash of the text."},
            "title": {"type": "string", "description": "Defaults to the first Markdown heading."},
            "text": {"type": "string", "minLength": 1},
            "source": {"type": "string"},
            "metadata": {"type": "object"},
        },
    },
    "Job": JOB_SCHEMA,
}

LIST = {
    "responses": {
        "200": _json(
            {"type": "object", "properties": {"collections": {"type": "array", "items": _ref("Collection")}}},
            "All collections.",
        )
    }
}
CREATE = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("CollectionCreate")}}},
    "responses": {"201": _json(_ref("Collection"), "Created.")},
}
GET = {"responses": {"200": _json(_ref("Collection"), "The collection.")}}
DELETE = {"responses": {"204": {"description": "Deleted, with its vectors."}}}
DELETE_DOCUMENT = {
    "description": "Ids may contain slashes (`notes/a.md`), as such or encoded (`notes%2Fa.md`).",
    "responses": {"204": {"description": "Deleted, with its vectors."}},
}
DELETE_DOCUMENT_BY_QUERY = {
    "parameters": [{"name": "id", "in": "query", "required": True, "schema": {"type": "string", "maxLength": 256}}],
    "responses": {"204": {"description": "Deleted, with its vectors."}},
}
STATS = {"responses": {"200": _json(_ref("CollectionStats"), "Counts and sizes.")}}
DOCUMENTS = {"responses": {"200": _json({"type": "object"}, "The collection's documents.")}}
ADD_DOCUMENTS = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["documents"],
                    "properties": {"documents": {"type": "array", "items": _ref("DocumentInput"), "maxItems": 1000}},
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "contentMediaType": "text/markdown"}}
                    },
                }
            },
        },
    },
    "responses": {"202": _json(_ref("Job"), "Accepted; poll the job for progress.")},
}
JOB = {"responses": {"200": _json(_ref("Job"), "The job.")}}
JOBS = {
    "parameters": [
        {
            "name": "state",
            "in": "query",
            "schema": {"type": "string", "enum": ["queued", "running", "completed", "failed"]},
        },
        {"name": "collection", "in": "query", "schema": {"type": "string", "pattern": NAME_PATTERN}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
    ],
    "responses": {
        "200": _json(
            {"type": "object", "properties": {"jobs": {"type": "array", "items": _ref("Job")}}},
            "Jobs, newest first.",
        )
    },
}
