"""How a section reads its variables: by name, from the environment and then the `.env` file.

Every section is a pydantic-settings model whose fields name their variable (`validation_alias`).
The source here asks for exactly those variables, nothing else: pydantic-settings' own
environment source copies the whole environment (and, with `validate_by_name`, would also take
a field's Python name as a variable), whereas `load_settings(environ=...)` may be handed any
mapping, and a variable nothing asks for must stay visible as such (the compose test records
which ones are read). A blank value counts as unset; a variable in the environment, even
blank, wins over the file.

Sections read only inside `reading` (that is, in `load_settings`). Anywhere else a section is
plain data: built in code or in a test, it takes the values given and the defaults, and never
looks at the environment.

A value pydantic refuses becomes one line naming the variable and what was expected, with the
value shown (a URL's password replaced) unless the field is a secret; `reading` raises all the
lines of every section together as one `SettingsError`.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Self, cast

from dotenv import dotenv_values
from pydantic import AliasChoices, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ragplane.errors import SettingsError
from ragplane.redaction import shown_in_error


@dataclasses.dataclass(frozen=True)
class _Reading:
    environ: Mapping[str, str]
    file: Mapping[str, str | None]
    problems: list[str]
    prefix: str = ""

    def value(self, name: str) -> str | None:
        """The variable `prefix + name`: the environment's, else the file's; None when unset or blank."""
        name = self.prefix + name
        raw = self.environ[name] if name in self.environ else self.file.get(name)
        return raw or None


_READING: ContextVar[_Reading | None] = ContextVar("ragplane_settings_reading", default=None)


@contextmanager
def reading(environ: Mapping[str, str], env_file: Path | None) -> Iterator[None]:
    """Sections read `environ`, then `env_file` (if it exists), inside this block; at its end a
    `SettingsError` lists every bad variable they met."""
    file = dotenv_values(env_file, interpolate=False) if env_file is not None and env_file.is_file() else {}
    state = _Reading(environ, file, [])
    token = _READING.set(state)
    try:
        yield
    finally:
        _READING.reset(token)
    if state.problems:
        raise SettingsError("\n".join(state.problems))


class Section(BaseSettings):
    """A group of settings. Each field is declared once: its type (constraints, parsing, how it is
    shown), its default, and its variable as `validation_alias`; code and tests may also pass it
    by its Python name. Frozen: settings are read once and never change while a process runs."""

    model_config = SettingsConfigDict(frozen=True, validate_by_name=True, validate_by_alias=True, extra="forbid")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Values given in code first; then, only while `load_settings` reads, the variables."""
        state = _READING.get()
        return (init_settings,) if state is None else (init_settings, _Variables(settings_cls, state))

    @classmethod
    def read(cls, prefix: str = "", **given: Any) -> Self:
        """This section as its variables (each name after `prefix`) and `given` values give it. A bad
        value is noted for `reading` to raise, and the defaults stand in so the other sections are
        still read."""
        state = _READING.get()
        if state is None:
            raise RuntimeError(f"{cls.__name__}.read() outside load_settings")
        token = _READING.set(dataclasses.replace(state, prefix=prefix))
        try:
            return cls(**given)
        except ValidationError as exc:
            state.problems.extend(problems(exc, cls, prefix))
            return cast(Self, cls.model_construct(**given))  # pydantic's plugin types it as Section
        finally:
            _READING.reset(token)


def variable_names(field: FieldInfo) -> tuple[str, ...]:
    """The variables a field is read from, in order of preference (QDRANT_URLS, then QDRANT_URL)."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(choice for choice in alias.choices if isinstance(choice, str))
    return (alias,) if isinstance(alias, str) else ()


class _Variables(PydanticBaseSettingsSource):
    """The section's own variables, looked up one by one (see the module docstring)."""

    def __init__(self, settings_cls: type[BaseSettings], state: _Reading) -> None:
        super().__init__(settings_cls)
        self._state = state

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        for name in variable_names(field):
            value = self._state.value(name)
            if value is not None:
                return value, name, False
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, field_name)
            if value is not None:
                found[key] = value
        return found


def problems(exc: ValidationError, section: type[BaseSettings], prefix: str = "") -> list[str]:
    """One line per bad variable: `NAME='value' is not valid: what was expected` (`NAME is not valid: ...`
    for a secret). A check across fields has no single variable; its own message names them."""
    lines: list[str] = []
    named: set[str] = set()
    for error in exc.errors(include_url=False):
        message = _sentence(error["msg"])
        if not error["loc"]:
            lines.append(message)
            continue
        key = str(error["loc"][0])
        variable = prefix + key
        if variable in named:
            continue
        named.add(variable)
        if _is_secret(section, key):
            lines.append(f"{variable} is not valid: {message}")
        else:
            lines.append(f"{variable}={_shown(error['input'])!r} is not valid: {message}")
    return lines


def _sentence(message: str) -> str:
    """pydantic's message as the end of ours: `Value error, expected x` → `expected x`,
    `Input should be…` → `input should be…`."""
    message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:] if message[1:2].islower() else message


def _shown(value: object) -> str:
    """A refused value fit for the message: each comma-separated part without what may be a password."""
    return ",".join(shown_in_error(part) for part in str(value).split(","))


def _is_secret(section: type[BaseSettings], key: str) -> bool:
    for name, field in section.model_fields.items():
        if key == name or key in variable_names(field):
            return _mentions(field.annotation, SecretStr)
    return False


def _mentions(annotation: Any, kind: type) -> bool:
    return annotation is kind or any(_mentions(arg, kind) for arg in typing.get_args(annotation))
