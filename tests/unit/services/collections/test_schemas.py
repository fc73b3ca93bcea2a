"""What the collections service accepts: new collections, JSON documents, job filters; the 422 names each field."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.datastructures import QueryParams

from ragplane.errors import ValidationFailed
from ragplane.kit.naming import COLLECTION_NAME_RULE as NAME_RULE
from ragplane.kit.schemas import RequestModel
from ragplane.services.collections.documents import MAX_DOCUMENTS
from ragplane.services.collections.models import JobState
from ragplane.services.collections.schemas import (
    ChunkDefaults,
    CollectionCreate,
    DocumentQuery,
    DocumentsBody,
    Job,
    JobsQuery,
)

SERVICE = ChunkDefaults(size=800, overlap=120)


def errors(model: type[RequestModel], data: Any, context: Any = None) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as caught:
        model.parse(data, context=context)
    return [(e["field"], e["message"]) for e in caught.value.extra["errors"]]


# --- new collections -------------------------------------------------------------------------------


def test_absent_sizes_are_the_services_and_the_overlap_at_most_half() -> None:
    new = CollectionCreate.parse({"name": "notes"}, context=SERVICE)
    assert (new.name, new.description, new.chunk_size, new.chunk_overlap) == ("notes", "", 800, 120)
    small = CollectionCreate.parse({"name": "notes", "chunk_size": 200}, context=SERVICE)
    assert (small.chunk_size, small.chunk_overlap) == (200, 100)
    own = CollectionCreate.parse({"name": "n", "chunk_size": 400, "chunk_overlap": 0}, context=ChunkDefaults(1000, 300))
    assert (own.chunk_size, own.chunk_overlap) == (400, 0)
    assert CollectionCreate.parse({"name": "n"}, context=ChunkDefaults(1000, 300)).chunk_size == 1000


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"name": "Upper"}, [("name", NAME_RULE)]),
        ({"name": "-dash"}, [("name", NAME_RULE)]),
        ({"name": "x" * 64}, [("name", NAME_RULE)]),
        ({"name": "ok\n"}, [("name", NAME_RULE)]),
        ({}, [("name", NAME_RULE)]),
        ({"name": "ok", "description": 5}, [("description", "must be a string of at most 1000 characters")]),
        ({"name": "ok", "description": "d" * 1001}, [("description", "must be a string of at most 1000 characters")]),
        ({"name": "ok", "chunk_size": 10}, [("chunk_size", "must be an integer in 200..4000")]),
        ({"name": "ok", "chunk_size": 400.0}, [("chunk_size", "must be an integer in 200..4000")]),
        ({"name": "ok", "chunk_size": "400"}, [("chunk_size", "must be an integer in 200..4000")]),
        ({"name": "ok", "chunk_size": True}, [("chunk_size", "must be an integer in 200..4000")]),
        ({"name": "ok", "chunk_size": None}, [("chunk_size", "must be an integer in 200..4000")]),
        ({"name": "ok", "chunk_size": 400, "chunk_overlap": 300}, [("chunk_overlap", "must be an integer in 0..200")]),
        ({"name": "ok", "chunk_overlap": -1}, [("chunk_overlap", "must be an integer in 0..400")]),
        ({"name": "ok", "chunk_overlap": "5"}, [("chunk_overlap", "must be an integer in 0..400")]),
        # An invalid size leaves the service's to bound the overlap, as if it had not been sent.
        (
            {"name": "ok", "chunk_size": 5, "chunk_overlap": 500},
            [
                ("chunk_size", "must be an integer in 200..4000"),
                ("chunk_overlap", "must be an integer in 0..400"),
            ],
        ),
        (
            {"name": "ok", "zeta": 1, "colour": "red"},
            [("colour", "is not a known field"), ("zeta", "is not a known field")],
        ),
        (
            {"zeta": 1, "name": "X", "chunk_size": 1},
            [
                ("zeta", "is not a known field"),
                ("name", NAME_RULE),
                ("chunk_size", "must be an integer in 200..4000"),
            ],
        ),
    ],
)
def test_invalid_collections_are_refused_naming_each_field(body: dict, expected: list[tuple[str, str]]) -> None:
    assert errors(CollectionCreate, body, SERVICE) == expected


# --- documents as JSON -----------------------------------------------------------------------------


def test_json_documents_get_ids_and_titles() -> None:
    docs = DocumentsBody.parse(
        {
            "documents": [
                {"text": "# Hello\n\nbody"},
                {"id": " b ", "title": "B", "text": "x", "source": "s", "metadata": {"k": 1}, "unknown": "ignored"},
                {"id": "c", "title": None, "text": "no heading", "source": None},
            ]
        }
    ).documents_in()
    assert docs[0].id.startswith("sha256:") and docs[0].title == "Hello"
    assert (docs[1].id, docs[1].title, docs[1].source, docs[1].metadata) == ("b", "B", "s", {"k": 1})
    assert (docs[2].id, docs[2].title, docs[2].source) == ("c", "c", None)
    assert docs[0].content_hash != docs[1].content_hash


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, ("documents", "must be a non-empty list of documents")),
        ({"documents": []}, ("documents", "must be a non-empty list of documents")),
        ({"documents": "text"}, ("documents", "must be a non-empty list of documents")),
        ({"documents": [{"text": "x"}] * (MAX_DOCUMENTS + 1)}, ("documents", "at most 1000 per request (got 1001)")),
        ({"documents": ["plain string"]}, ("documents[0]", "must be an object")),
        ({"documents": [{"text": ""}]}, ("documents[0].text", "must be a non-empty string")),
        ({"documents": [{"text": " \n"}]}, ("documents[0].text", "must be a non-empty string")),
        ({"documents": [{"title": "no text"}]}, ("documents[0].text", "must be a non-empty string")),
        ({"documents": [{"text": 3}]}, ("documents[0].text", "must be a non-empty string")),
        ({"documents": [{"text": "a\x00b"}]}, ("documents[0].text", "must not contain NUL characters (U+0000)")),
        ({"documents": [{"text": "x", "id": ""}]}, ("documents[0].id", "must be a non-empty string")),
        ({"documents": [{"text": "x", "id": None}]}, ("documents[0].id", "must be a non-empty string")),
        ({"documents": [{"text": "x", "id": 7}]}, ("documents[0].id", "must be a non-empty string")),
        ({"documents": [{"text": "x", "id": "a\nb"}]}, ("documents[0].id", "must be at most 256 printable characters")),
        (
            {"documents": [{"text": "x", "id": "i" * 257}]},
            ("documents[0].id", "must be at most 256 printable characters"),
        ),
        ({"documents": [{"text": "x", "title": 3}]}, ("documents[0].title", "must be a string")),
        (
            {"documents": [{"text": "x", "title": "a\x00"}]},
            ("documents[0].title", "must not contain NUL characters (U+0000)"),
        ),
        ({"documents": [{"text": "x", "source": []}]}, ("documents[0].source", "must be a string")),
        ({"documents": [{"text": "x", "metadata": "m"}]}, ("documents[0].metadata", "must be an object")),
        ({"documents": [{"text": "x", "metadata": None}]}, ("documents[0].metadata", "must be an object")),
        (
            {"documents": [{"text": "x", "metadata": {"k": ["\x00"]}}]},
            ("documents[0].metadata", "must not contain NUL characters (U+0000)"),
        ),
        (
            {"documents": [{"text": "x", "id": "d"}, {"text": "y", "id": "d"}]},
            ("d", "appears twice in one request; give each document its own id"),
        ),
    ],
)
def test_invalid_json_documents_are_refused_with_their_field(body: dict, expected: tuple[str, str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        DocumentsBody.parse(body).documents_in()
    assert [(e["field"], e["message"]) for e in caught.value.extra["errors"]] == [expected]


def test_every_bad_document_is_named_in_one_answer() -> None:
    body = {"documents": [{"text": "ok"}, {"text": ""}, 5, {"text": "x", "id": "a\tb"}]}
    assert [field for field, _ in errors(DocumentsBody, body)] == [
        "documents[1].text",
        "documents[2]",
        "documents[3].id",
    ]


# --- job filters and document ids ------------------------------------------------------------------


def test_job_filters_default_to_everything() -> None:
    assert JobsQuery.parse(QueryParams("")) == JobsQuery(state=None, collection=None, limit=100)
    assert JobsQuery.parse(QueryParams("state=&collection=")) == JobsQuery(state=None, collection=None, limit=100)
    found = JobsQuery.parse(QueryParams("state=running&collection=docs&limit=1000"))
    assert (found.state, found.collection, found.limit) == (JobState.RUNNING, "docs", 1000)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("state=done", [("state", "must be one of queued, running, completed, failed")]),
        ("collection=Docs", [("collection", NAME_RULE)]),
        *[
            (f"limit={v}", [("limit", "must be an integer in 1..1000")])
            for v in ("0", "1001", "+5", " 5", "²", "ten", "")
        ],
        ("sort=asc&page=2", [("page", "is not a known filter"), ("sort", "is not a known filter")]),
        (
            "limit=0&b=1&a=2",
            [
                ("a", "is not a known filter"),
                ("b", "is not a known filter"),
                ("limit", "must be an integer in 1..1000"),
            ],
        ),
    ],
)
def test_invalid_job_filters_are_refused_naming_each(query: str, expected: list[tuple[str, str]]) -> None:
    assert errors(JobsQuery, QueryParams(query)) == expected


@pytest.mark.parametrize("query", ["", "id=", "other=1"])
def test_a_document_must_be_named(query: str) -> None:
    assert errors(DocumentQuery, QueryParams(query)) == [
        ("id", "name the document: .../documents/{id} or .../documents?id={id}")
    ]
    assert DocumentQuery.parse(QueryParams("id=../a.md")).id == "../a.md"


def test_a_job_is_answered_with_its_link_and_counts() -> None:
    from ragplane.services.collections.models import JobRecord

    body = Job.of(JobRecord("j1", "docs", documents_total=2, created_at=0.5)).model_dump(mode="json")
    assert body["links"] == {"self": "/api/v1/rag/jobs/j1"} and body["state"] == "queued"
    assert body["documents"] == {"total": 2, "ingested": 0, "skipped": 0, "failed": 0}
    assert body["created_at"] == "1970-01-01T00:00:00.500000Z" and body["started_at"] is None
