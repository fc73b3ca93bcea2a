"""Names shared across services (the API contract, not any one service's code)."""

from __future__ import annotations

import re

COLLECTION_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")  # use .fullmatch: "$" would accept a newline
COLLECTION_NAME_RULE = "1-63 characters: lower-case letters, digits, '-' or '_', starting with a letter or digit"
