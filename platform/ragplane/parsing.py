"""How a raw environment value becomes a typed setting.

Each parser takes the string and returns the value or raises `ValueError` saying what
was expected; `settings.load_settings` adds the variable's name to the message.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from croniter import croniter

T = TypeVar("T")
MIN_SECRET_LENGTH = 32


class SettingsError(ValueError):
    """A setting has a value ragplane cannot run with; the message names the variable."""


class Read(Protocol):
    """Reads one variable (`settings.load_settings` gives it): its value cast, or `default` when
    unset; a value `cast` refuses raises SettingsError naming the variable."""

    def __call__(self, key: str, cast: Callable[[str], T], default: T, *, secret: bool = False) -> T: ...


def port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("expected a TCP port 0..65535 (0 picks a free port)")
    return value


def int_at_least(minimum: int) -> Callable[[str], int]:
    def cast(raw: str) -> int:
        value = int(raw)
        if value < minimum:
            raise ValueError(f"expected an integer >= {minimum}")
        return value

    return cast


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("expected a number > 0")
    return value


def non_negative_float(raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise ValueError("expected a number >= 0")
    return value


def fraction(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 1:
        raise ValueError("expected a number from 0 to 1")
    return value


def boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def redis_url(raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.netloc or parts.path):
        raise ValueError("expected a Redis URL such as redis://127.0.0.1:6379/0")
    return raw.strip()


def postgres_url(raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("postgres", "postgresql") or not (parts.netloc or parts.query):
        raise ValueError("expected a PostgreSQL URL such as postgresql://postgres@127.0.0.1:5432/ragplane")
    return raw.strip()


def non_empty(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be blank")
    return raw.strip()


def service_secret(raw: str) -> str:
    if len(raw) < MIN_SECRET_LENGTH:
        raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters (got {len(raw)})")
    return raw


def http_url(raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http(s) URL such as http://127.0.0.1:11434")
    return raw.strip().rstrip("/")


def log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("expected one of DEBUG, INFO, WARNING, ERROR")
    return level


def choice(*allowed: str) -> Callable[[str], Any]:
    def cast(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return value

    return cast


def url_list(item: Callable[[str], str]) -> Callable[[str], tuple[str, ...]]:
    """Comma-separated values, each parsed by `item`."""

    def cast(raw: str) -> tuple[str, ...]:
        return tuple(item(part) for part in raw.split(",") if part.strip())

    return cast


URLS = url_list(http_url)
PEM_BEGIN = "-----BEGIN "


def pem_keys(raw: str) -> tuple[str, ...]:
    """Public keys in PEM: inline (one or more `-----BEGIN ...` blocks), or comma-separated file paths."""
    text = raw.strip()
    if text.startswith(PEM_BEGIN):
        blocks = [PEM_BEGIN + b for b in text.split(PEM_BEGIN) if b.strip()]
        return tuple(b.strip() + "\n" for b in blocks)
    keys: list[str] = []
    for path in (p.strip() for p in text.split(",") if p.strip()):
        try:
            content = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
        if PEM_BEGIN not in content:
            raise ValueError(f"{path} holds no PEM key")
        keys.extend(pem_keys(content))
    return tuple(keys)


def cron(raw: str) -> str | None:
    """A cron expression (five fields, as croniter reads them), or `off`/empty for none."""
    value = raw.strip()
    if value.lower() in ("", "off", "none"):
        return None
    if not croniter.is_valid(value):
        raise ValueError("expected a cron expression such as '0 2 * * *' (daily at 02:00), or off")
    return value
