import asyncio
import io

import pytest
from starlette.datastructures import FormData, Headers, UploadFile

from ragplane.kit.errors import BadRequest, UnsupportedMediaType, ValidationFailed
from ragplane.services.collections.documents import MAX_DOCUMENTS, parse_files, parse_json


def fields(error: ValidationFailed) -> list[str]:
    return [e["field"] for e in error.extra["errors"]]


def test_json_documents_get_ids_and_titles() -> None:
    docs = parse_json(
        {
            "documents": [
                {"text": "# Hello\n\nbody"},
                {"id": "b", "title": "B", "text": "x", "source": "s", "metadata": {"k": 1}},
            ]
        }
    )
    assert docs[0].id.startswith("sha256:") and docs[0].title == "Hello"
    assert (docs[1].id, docs[1].title, docs[1].source, docs[1].metadata) == ("b", "B", "s", {"k": 1})
    assert docs[0].content_hash != docs[1].content_hash


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "documents"),
        ({"documents": []}, "documents"),
        ({"documents": "text"}, "documents"),
        ({"documents": [{"text": ""}]}, "documents[0].text"),
        ({"documents": ["plain string"]}, "documents[0]"),
        ({"documents": [{"text": "x", "id": ""}]}, "documents[0].id"),
        ({"documents": [{"text": "x", "id": "a\nb"}]}, "documents[0].id"),
        ({"documents": [{"text": "x", "title": 3}]}, "documents[0].title"),
        ({"documents": [{"text": "x", "source": []}]}, "documents[0].source"),
        ({"documents": [{"text": "x", "metadata": "m"}]}, "documents[0].metadata"),
        ({"documents": [{"text": "x", "id": "d"}, {"text": "y", "id": "d"}]}, "d"),
        ({"documents": [{"text": "x"}] * (MAX_DOCUMENTS + 1)}, "documents"),
    ],
)
def test_invalid_json_documents_are_refused_with_their_field(body: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_json(body)
    assert field in fields(caught.value)


def upload(name: str, data: bytes, kind: str) -> UploadFile:
    return UploadFile(io.BytesIO(data), filename=name, headers=Headers({"content-type": kind}))


def parse(*uploads: UploadFile):
    return asyncio.run(parse_files(FormData([(f"f{i}", u) for i, u in enumerate(uploads)])))


def test_files_become_documents_named_after_the_file() -> None:
    docs = parse(
        upload("guide.md", b"# Guide\n\ntext", "text/markdown"),
        upload("notes.txt", b"just text", "application/octet-stream"),
    )
    assert [(d.id, d.title, d.source) for d in docs] == [
        ("guide.md", "Guide", "guide.md"),
        ("notes.txt", "notes", "notes.txt"),
    ]


def test_non_text_files_are_refused() -> None:
    with pytest.raises(UnsupportedMediaType, match="image/png"):
        parse(upload("a.png", b"\x89PNG", "image/png"))
    with pytest.raises(UnsupportedMediaType, match="cannot tell"):
        parse(upload("blob.bin", b"data", "application/octet-stream"))


def test_undecodable_and_empty_files_are_named() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse(upload("bad.txt", b"\xff\xfe\x00", "text/plain"), upload("empty.md", b"  \n", "text/markdown"))
    assert fields(caught.value) == ["bad.txt", "empty.md"]


def test_a_form_without_files_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        asyncio.run(parse_files(FormData([("field", "value")])))
