"""Credentials in URLs, and what may be credentials in a malformed one, never reach a message."""

import pytest

from ragplane.redaction import redacted_url, shown_in_error


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/rag", "postgresql://***@db:5432/rag"),
        ("redis://:s3cret@cache:6379/0", "redis://***@cache:6379/0"),
        ("http://127.0.0.1:6333", "http://127.0.0.1:6333"),
        ("not a url", "not a url"),
    ],
)
def test_a_urls_user_and_password_are_replaced(value: str, shown: str) -> None:
    assert redacted_url(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("app:s3cret@db/rag", "***@db/rag"),  # no scheme: urlsplit finds no netloc
        ("//:s3cret@cache@6379", "//***@6379"),
        ("postgresql://app:s3cret@db/rag", "postgresql://***@db/rag"),
        ("abc", "abc"),
    ],
)
def test_an_error_hides_whatever_precedes_an_at_sign(value: str, shown: str) -> None:
    assert shown_in_error(value) == shown
    assert "s3cret" not in shown_in_error(value)
