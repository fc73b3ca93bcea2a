"""The value types the sections declare their fields with: constraints, how a string becomes the
value, and how the value is shown by `Settings.redacted()` (a secret as `***`, a URL without its
password). Where pydantic has a type (`PositiveInt`, `PositiveFloat`, `Literal[...]`) the sections
use it directly; these are the ones it lacks, mostly built on `ragplane.parsing`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, SecretStr, StringConstraints

from ragplane import parsing
from ragplane.redaction import REDACTED, redacted_url

MIN_SECRET_LENGTH = 32


def from_text(parse: Callable[[str], Any]) -> BeforeValidator:
    """Read a variable's text with `parse`; a value given in code is taken as it is (then validated)."""
    return BeforeValidator(lambda value: parse(value) if isinstance(value, str) else value)


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _comma_separated(raw: str) -> tuple[str, ...]:
    """`a, b,` → ("a", "b"): how every list setting is written."""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _long_enough(secret: SecretStr) -> SecretStr:
    length = len(secret.get_secret_value())
    if length < MIN_SECRET_LENGTH:
        raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters (got {length})")
    return secret


def _not_blank(secret: SecretStr) -> SecretStr:
    if not secret.get_secret_value():
        raise ValueError("must not be blank")
    return secret


_HIDDEN = PlainSerializer(lambda _: REDACTED, return_type=str)
_WITHOUT_PASSWORD = PlainSerializer(redacted_url, return_type=str)

Lower = BeforeValidator(_lower)
"""For a `Literal` of lower-case choices: `Ollama ` is read as `ollama`."""
Upper = BeforeValidator(_upper)

Port = Annotated[int, Field(ge=0, le=65535)]
"""A TCP port; 0 lets the kernel pick a free one."""
Fraction = Annotated[float, Field(ge=0, le=1)]
Flag = Annotated[bool, BeforeValidator(_strip)]
"""true/false, yes/no, on/off, 1/0 (pydantic's reading of a boolean)."""
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
"""Any text but blank, surrounding spaces removed."""
Secret = Annotated[SecretStr, AfterValidator(_long_enough), _HIDDEN]
"""A shared secret (HS256 key, inter-service token): at least 32 characters, shown as `***`."""
Credential = Annotated[SecretStr, BeforeValidator(_strip), AfterValidator(_not_blank), _HIDDEN]
"""A key or token someone else issued, of any length, shown as `***`."""
Url = Annotated[str, AfterValidator(parsing.http_url), _WITHOUT_PASSWORD]
"""An http(s) URL, without a trailing slash."""
Urls = Annotated[tuple[Url, ...], from_text(_comma_separated)]
"""Comma-separated http(s) URLs."""
RedisUrl = Annotated[str, AfterValidator(parsing.redis_url), _WITHOUT_PASSWORD]
PostgresUrl = Annotated[str, AfterValidator(parsing.postgres_url), _WITHOUT_PASSWORD]
Cron = Annotated[str | None, from_text(parsing.cron)]
"""A cron expression (five fields, UTC), or None for `off`."""
