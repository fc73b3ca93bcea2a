import asyncio
import io

import pytest
from starlette.datastructures import FormData, Headers, UploadFile

from ragplane.errors import BadRequest, UnsupportedMediaType, ValidationFailed
from ragplane.services.collections.documents import MAX_DOCUMENTS, parse_files


def fields(error: ValidationFailed) -> list[str]:
    return [e["field"] for e in error.extra["errors"]]


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


def test_a_file_named_twice_is_refused_by_its_name() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse(upload("a.md", b"one", "text/markdown"), upload("a.md", b"two", "text/markdown"))
    assert fields(caught.value) == ["a.md"]


def test_more_files_than_one_request_takes_are_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse(*[upload(f"{i}.md", b"x", "text/markdown") for i in range(MAX_DOCUMENTS + 1)])
    assert fields(caught.value) == ["files"]


def test_a_form_without_files_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        asyncio.run(parse_files(FormData([("field", "value")])))
