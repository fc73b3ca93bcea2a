"""Values fit for messages and logs: a URL's user and password, or what may be one, replaced by `***`.

Settings show their values when they are wrong and when they are listed (`Settings.redacted`);
a URL's credentials never appear in either, nor in a message about a database or cache that
cannot be reached.
"""

from __future__ import annotations

from urllib.parse import urlsplit

REDACTED = "***"


def redacted_url(value: str) -> str:
    """A URL fit for messages and logs: any user:password replaced by `***`; other strings unchanged."""
    parts = urlsplit(value)
    if "@" not in parts.netloc:
        return value
    return parts._replace(netloc=f"{REDACTED}@{parts.netloc.rsplit('@', 1)[1]}").geturl()


def shown_in_error(value: str) -> str:
    """A value fit for a startup error: what precedes an `@` may be a password even when the
    URL is malformed (`app:s3cret@db/rag` has no scheme, so no netloc to find it in)."""
    if "@" not in value:
        return value
    cleaned = redacted_url(value)
    return cleaned if cleaned != value else f"{REDACTED}@{value.rsplit('@', 1)[1]}"
