"""Values pydantic has no type for: URLs of the three schemes ragplane speaks, PEM keys, cron.

Each parser takes the raw string and returns the value, or raises `ValueError` saying what was
expected. `ragplane.settings` declares its fields with them (the variable's name is added to the
message there); the operator tools and the load harness use them for their own arguments.
pydantic's own URL types are not used: they rewrite the URL (a trailing slash, a default port),
and a Unix-socket PostgreSQL URL has no host for them.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from croniter import croniter

PEM_BEGIN = "-----BEGIN "


def http_url(raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http(s) URL such as http://127.0.0.1:11434")
    return raw.strip().rstrip("/")


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
