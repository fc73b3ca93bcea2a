"""Request and response schemas, declared once as pydantic models.

A service declares what it accepts (`RequestModel`) and what it answers (`ResponseModel`)
as models: the same declaration validates requests, serialises responses and becomes the
OpenAPI document's `components/schemas` (`ragplane.kit.openapi`), so the three cannot drift.

Clients never see pydantic's wording. `RequestModel.parse` turns a `ValidationError` into
`ragplane.errors.ValidationFailed` with one `(field, message)` pair per problem: fields are
named as clients wrote them (`documents[3].text`), unknown fields come first, by name, and
each message is the API's own: a `Rule` in the field's annotation says how the field is
refused (for every failure, or per pydantic error type), a validator's `ValueError` says it
in its own words, and anything else gets `MESSAGES`' wording for its error type.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, ClassVar, Self, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError
from starlette.background import BackgroundTask
from starlette.responses import Response

from ragplane.errors import ValidationFailed
from ragplane.kit.naming import COLLECTION_NAME, COLLECTION_NAME_RULE

Message = str | Callable[[ErrorDetails], str]
"""A field's message: a template filled from the error's context (`{max_length}`), or built from the error."""

MESSAGES: Mapping[str, str] = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "string_type": "must be a string",
    "string_unicode": "must be Unicode text",
    "string_too_short": "must be at least {min_length} characters",
    "string_too_long": "must be at most {max_length} characters",
    "string_pattern_mismatch": "must match {pattern}",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "float_type": "must be a number",
    "list_type": "must be a list",
    "too_short": "must have at least {min_length} items",
    "too_long": "must have at most {max_length} items (got {actual_length})",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "enum": "must be one of {expected}",
    "literal_error": "must be one of {expected}",
}


class Rule:
    """How a field is refused, in the API's words: `message` for any failure, or `by_type[type]`.

    It rides in the field's `Annotated[...]` metadata, which pydantic keeps but ignores, so
    the rule sits beside the constraints it explains.
    """

    __slots__ = ("by_type", "message")

    def __init__(self, message: Message, **by_type: Message) -> None:
        self.message = message
        self.by_type = by_type

    def __repr__(self) -> str:
        return f"Rule({self.message!r})"

    def explain(self, error: ErrorDetails) -> str:
        return _render(self.by_type.get(error["type"], self.message), error)


def invalid() -> PydanticCustomError:
    """An error a validator raises to have its field refused with the field's `Rule`."""
    return PydanticCustomError("invalid", "is invalid")


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def optional(description: str | None = None) -> Any:
    """The default of a field typed `X | SkipJsonSchema[None]`: it may be left out, but is never sent as
    null, so its schema shows neither `null` nor a `default`. (pydantic's `Field`, typed as its `Any`.)"""
    return Field(default=None, description=description, json_schema_extra=_no_default)


CollectionName = Annotated[str, Field(pattern=f"^{COLLECTION_NAME.pattern}$"), Rule(COLLECTION_NAME_RULE)]
"""A collection's name, as every API takes it (`pattern` is anchored: pydantic searches)."""

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
"""A moment as the API writes it: ISO 8601 in UTC, ending in `Z`."""


class RequestModel(BaseModel):
    """What a client sends: parsed once per request, refused as `ValidationFailed`."""

    model_config = ConfigDict(frozen=True)
    unknown_field: ClassVar[str] = MESSAGES["extra_forbidden"]
    """What an unknown field is told when the model forbids extra fields."""

    @classmethod
    def parse(cls, data: Any, *, context: Any = None) -> Self:
        """`data` (a parsed JSON object, query parameters) as this model, or `ValidationFailed` naming each field."""
        try:
            return cls.model_validate(data, context=context)
        except ValidationError as exc:
            raise validation_failed(cls, exc) from None


class ResponseModel(BaseModel):
    """What a service answers. Every field is always present (so the schema requires it) unless it says
    `exclude_if`, and a field the model does not declare cannot be sent (`additionalProperties: false`).

    A handler builds the model from its data directly; pydantic-core checks the types as it
    builds and `ModelResponse` writes the JSON in the same native code, which together cost
    no more than `json.dumps` of the equivalent dict.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_serialization_defaults_required=True,
        serialize_by_alias=True,
        validate_by_name=True,
        validate_by_alias=True,
    )


class ModelResponse(Response):
    """A `ResponseModel` as `application/json`, serialised by pydantic-core in one pass."""

    media_type = "application/json"

    def __init__(
        self,
        content: ResponseModel,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(content, status_code, headers, background=background)

    def render(self, content: Any) -> bytes:
        assert isinstance(content, ResponseModel)
        return content.model_dump_json().encode()


# --- pydantic's errors in the API's words -----------------------------------------------------------

FieldPath = tuple[str, ...]
"""Where a field sits in a model: its names, list items as `*`."""


def validation_failed(model: type[BaseModel], exc: ValidationError) -> ValidationFailed:
    """`exc` as the 422 a client gets: one `(field, message)` per error, unknown fields first."""
    rules, owners = _layout(model)
    unknown: list[tuple[str, str]] = []
    known: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        path = tuple("*" if isinstance(part, int) else part for part in loc)
        field = _field_name(loc)
        if error["type"] == "extra_forbidden":
            owner = owners.get(path[:-1])
            unknown.append((field, owner.unknown_field if owner else MESSAGES["extra_forbidden"]))
        else:
            known.append((field, _message(error, rules.get(path))))
    return ValidationFailed(sorted(unknown) + known)


def _message(error: ErrorDetails, rule: Rule | None) -> str:
    if rule is not None and error["type"] in rule.by_type:
        return rule.explain(error)
    if error["type"] == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    if rule is not None:
        return rule.explain(error)
    template = MESSAGES.get(error["type"])
    return _render(template, error) if template else error["msg"][:1].lower() + error["msg"][1:]


class _Context(dict[str, Any]):
    """An error's context for `str.format_map`: a brace it does not fill stays as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _render(message: Message, error: ErrorDetails) -> str:
    if callable(message):
        return message(error)
    return message.format_map(_Context(error.get("ctx") or {})) if "{" in message else message


def _field_name(loc: Sequence[int | str]) -> str:
    """`("documents", 3, "text")` as a client writes it: `documents[3].text`."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else part)
    return name


@functools.cache
def _layout(model: type[BaseModel]) -> tuple[dict[FieldPath, Rule], dict[FieldPath, type[RequestModel]]]:
    """Each field's `Rule` by path (list items as `*`), and which request model owns each path."""
    rules: dict[FieldPath, Rule] = {}
    owners: dict[FieldPath, type[RequestModel]] = {}
    pending: list[tuple[FieldPath, type[BaseModel]]] = [((), model)]
    while pending:
        prefix, current = pending.pop()
        if issubclass(current, RequestModel):
            owners[prefix] = current
        for name, info in current.model_fields.items():
            path = (*prefix, info.alias or name)
            rule = _rule(info.metadata, info.annotation)
            if rule is not None:
                rules[path] = rule
            if (nested := _nested_model(info.annotation)) is not None:
                pending.append(((*path, *nested[0]), nested[1]))
    return rules, owners


def _rule(metadata: Sequence[Any], annotation: Any) -> Rule | None:
    """The field's `Rule`: in its own metadata, or in an optional type's (`CollectionName | None`)."""
    found = next((m for m in metadata if isinstance(m, Rule)), None)
    if found is None and get_origin(annotation) in (Union, types.UnionType):
        for arg in get_args(annotation):
            if get_origin(arg) is Annotated and (found := _rule(arg.__metadata__, None)) is not None:
                break
    return found


def _nested_model(annotation: Any) -> tuple[FieldPath, type[BaseModel]] | None:
    """The model inside a field's type (`X`, `X | None`, `list[X]`), and the path steps to it."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return (), annotation
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _nested_model(args[0])
    if origin in (Union, types.UnionType):
        return next((found for arg in args if (found := _nested_model(arg)) is not None), None)
    if origin in (list, tuple, Sequence) and args:
        found = _nested_model(args[0])
        return None if found is None else (("*", *found[0]), found[1])
    return None
