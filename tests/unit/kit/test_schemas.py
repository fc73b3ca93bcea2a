"""pydantic's validation errors in the API's words: fields as clients name them, one message per problem."""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar

import pytest
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from ragplane.errors import ValidationFailed
from ragplane.kit.naming import COLLECTION_NAME_RULE
from ragplane.kit.schemas import (
    CollectionName,
    ModelResponse,
    RequestModel,
    ResponseModel,
    Rule,
    invalid,
)


def _even(value: int) -> int:
    if value % 2:
        raise ValueError("must be even, not odd")
    return value


def _not_seven(value: Any) -> Any:
    if value == 7:
        raise invalid()
    return value


class Item(RequestModel):
    label: Annotated[str, Field(min_length=1), Rule("must be a non-empty label")]
    weight: int = 1


class Order(RequestModel):
    model_config = ConfigDict(extra="forbid")
    unknown_field: ClassVar[str] = "is not a known part of an order"

    collection: CollectionName
    count: Annotated[
        int, Field(ge=1, le=9), AfterValidator(_even), Rule("must be a count", less_than_equal="at most {le}")
    ] = 2
    luck: Annotated[int, BeforeValidator(_not_seven), Rule("must not be seven")] = 0
    items: Annotated[list[Item], Field(max_length=2)] = []
    parent: Item | None = None


def errors(data: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as caught:
        Order.parse(data)
    return [(e["field"], e["message"]) for e in caught.value.extra["errors"]]


def test_a_valid_request_is_the_model() -> None:
    order = Order.parse({"collection": "docs", "count": 4, "items": [{"label": "a"}]})
    assert (order.collection, order.count, order.items[0].label, order.items[0].weight) == ("docs", 4, "a", 1)


def test_a_rule_says_why_for_every_failure_unless_it_names_the_type() -> None:
    assert errors({}) == [("collection", COLLECTION_NAME_RULE)]
    assert errors({"collection": "docs", "count": "x"}) == [("count", "must be a count")]
    assert errors({"collection": "docs", "count": 0}) == [("count", "must be a count")]
    assert errors({"collection": "docs", "count": 10}) == [("count", "at most 9")]
    assert errors({"collection": "docs", "luck": 7}) == [("luck", "must not be seven")]


def test_a_validators_value_error_speaks_for_itself() -> None:
    assert errors({"collection": "docs", "count": 3}) == [("count", "must be even, not odd")]


def test_nested_fields_are_named_as_clients_write_them() -> None:
    assert errors({"collection": "docs", "items": [{"label": "a"}, {"label": "", "weight": "w"}]}) == [
        ("items[1].label", "must be a non-empty label"),
        ("items[1].weight", "must be an integer"),
    ]
    assert errors({"collection": "docs", "items": ["a"]}) == [("items[0]", "must be an object")]
    assert errors({"collection": "docs", "items": [{}] * 3}) == [("items", "must have at most 2 items (got 3)")]
    assert errors({"collection": "docs", "parent": {}}) == [("parent.label", "must be a non-empty label")]


def test_unknown_fields_come_first_in_order_of_name_in_the_models_words() -> None:
    assert errors({"zeta": 1, "collection": "Docs", "alpha": 2}) == [
        ("alpha", "is not a known part of an order"),
        ("zeta", "is not a known part of an order"),
        ("collection", COLLECTION_NAME_RULE),
    ]


def test_the_summary_lists_every_error() -> None:
    with pytest.raises(ValidationFailed) as caught:
        Order.parse({"collection": "docs", "count": 3, "luck": 7})
    assert caught.value.detail == "count: must be even, not odd; luck: must not be seven"
    assert caught.value.status == 422


def test_a_collection_name_is_matched_whole() -> None:
    for name in ("docs\n", "-x", "x" * 64, "", "Docs"):
        assert errors({"collection": name})[0][0] == "collection"


class Answer(ResponseModel):
    text: str
    note: str | None = Field(default=None, exclude_if=lambda note: note is None)


def test_a_response_is_serialised_once_by_its_model() -> None:
    response = ModelResponse(Answer(text="zürich"), status_code=201, headers={"Location": "/x"})
    assert response.status_code == 201 and response.headers["location"] == "/x"
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.body) == {"text": "zürich"}
    assert "zürich".encode() in response.body  # UTF-8, as Starlette's JSONResponse writes it
    assert json.loads(ModelResponse(Answer(text="t", note="n")).body) == {"text": "t", "note": "n"}


def test_a_response_model_takes_no_field_it_does_not_declare() -> None:
    with pytest.raises(ValueError, match="extra"):
        Answer(text="t", other=1)  # type: ignore[call-arg]
