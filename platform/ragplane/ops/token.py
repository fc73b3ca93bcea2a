"""`ragplane token --sub NAME [--plan PLAN] [--ttl 1h]`: a bearer token the gateway accepts,
signed with JWT_SECRET (`ragplane.services.gateway.auth.issue_token`)."""

from __future__ import annotations

from collections.abc import Callable

from ragplane.services.gateway.auth import issue_token, parse_ttl
from ragplane.settings import Settings


def command(settings: Settings, *, sub: str, plan: str, ttl: str, say: Callable[[str], None]) -> int:
    """The token alone on stdout (so `$(ragplane token ...)` works), errors via `say`."""
    try:
        token = issue_token(settings.gateway, sub=sub, plan=plan, ttl_s=parse_ttl(ttl))
    except ValueError as exc:
        say(f"ragplane: {exc}")
        return 2
    print(token)
    return 0
