"""The edge's settings: tokens, plans, CORS, maintenance, upstream replicas, body and header limits.

A section of `Settings` (`settings.gateway`), declared here to keep `settings.py` small;
the environment is still read only through the reader `settings.load_settings` hands to
`read_gateway`. The names follow Kong's
plugins where one exists (`jwt`, `rate-limiting`, `cors`, `request-termination`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from ragplane import parsing
from ragplane.parsing import URLS, Read, SettingsError

FailurePolicy = Literal["fail_open", "fail_closed"]

DEFAULT_PLANS: Mapping[str, int] = MappingProxyType({"free": 100, "pro": 1000})


def _secret() -> Any:
    return field(default=None, metadata={"secret": True})


@dataclass(frozen=True)
class GatewaySettings:
    # Authentication (Kong `jwt`): HS256 with the secret and/or RS256/ES256 with public keys (PEM).
    jwt_secret: str | None = _secret()
    jwt_public_keys: tuple[str, ...] = ()
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_s: float = 30.0
    jwt_max_bytes: int = 4096
    require_auth: bool = False
    # Rate limiting (Kong `rate-limiting`): requests per minute per consumer, by plan.
    plans: Mapping[str, int] = field(default_factory=lambda: DEFAULT_PLANS)
    default_plan: str = "free"
    rate_limit_enabled: bool = True
    rate_limit_failure_policy: FailurePolicy = "fail_open"
    # CORS (Kong `cors`).
    cors_allowed_origins: tuple[str, ...] = ()
    cors_allow_credentials: bool = False
    cors_max_age_s: int = 600
    # Maintenance (Kong `request-termination`), as set at start; switchable at run time.
    maintenance: bool = False
    maintenance_message: str = "ragplane is down for maintenance; please retry later."
    maintenance_retry_after_s: int = 300
    # Upstream replicas (empty: the one URL `Settings.upstream_url` gives) and the request limits.
    query_upstreams: tuple[str, ...] = ()
    collections_upstreams: tuple[str, ...] = ()
    max_body_bytes: int = 25 * 1024 * 1024
    max_header_bytes: int = 32 * 1024  # all header lines together; nginx (Kong) allows 4 buffers of 8 KiB

    def replicas(self, service: str) -> tuple[str, ...]:
        return {"query": self.query_upstreams, "collections": self.collections_upstreams}[service]


def parse_plans(raw: str) -> Mapping[str, int]:
    """`free:100,pro:1000` → {"free": 100, "pro": 1000} (requests per minute)."""
    plans: dict[str, int] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        name, sep, limit = part.partition(":")
        name = name.strip().lower()
        if not sep or not name.isidentifier() or not limit.strip().isdigit() or int(limit) < 1:
            raise ValueError("expected plan:requests_per_minute pairs such as free:100,pro:1000")
        plans[name] = int(limit)
    if not plans:
        raise ValueError("at least one plan is needed")
    return MappingProxyType(plans)


def parse_origins(raw: str) -> tuple[str, ...]:
    """Comma-separated origins (`https://app.example.com`), or `*` alone."""
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    if "*" in origins and len(origins) > 1:
        raise ValueError("`*` allows every origin; list origins or give `*` alone")
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ValueError(f"{origin!r} is not an origin such as https://app.example.com")
    return origins


def read_gateway(read: Read) -> GatewaySettings:
    """The gateway's section, as `settings.load_settings` reads it."""
    g = GatewaySettings()
    plans = read("RATE_LIMIT_PLANS", parse_plans, g.plans)
    default_plan = read("RATE_LIMIT_DEFAULT_PLAN", parsing.non_empty, g.default_plan)
    if default_plan not in plans:
        raise SettingsError(
            f"RATE_LIMIT_DEFAULT_PLAN={default_plan} is not one of RATE_LIMIT_PLANS ({', '.join(plans)})"
        )
    credentials = read("CORS_ALLOW_CREDENTIALS", parsing.boolean, g.cors_allow_credentials)
    origins = read("CORS_ALLOWED_ORIGINS", parse_origins, g.cors_allowed_origins)
    if credentials and "*" in origins:
        raise SettingsError("CORS_ALLOWED_ORIGINS=* cannot go with CORS_ALLOW_CREDENTIALS=true: list the origins")
    return GatewaySettings(
        jwt_secret=read("JWT_SECRET", parsing.service_secret, None, secret=True),
        jwt_public_keys=read("JWT_PUBLIC_KEYS", parsing.pem_keys, ()) or read("JWT_PUBLIC_KEY", parsing.pem_keys, ()),
        jwt_issuer=read("JWT_ISSUER", parsing.non_empty, None),
        jwt_audience=read("JWT_AUDIENCE", parsing.non_empty, None),
        jwt_leeway_s=read("JWT_LEEWAY_S", parsing.non_negative_float, g.jwt_leeway_s),
        jwt_max_bytes=read("JWT_MAX_BYTES", parsing.positive_int, g.jwt_max_bytes),
        require_auth=read("GATEWAY_REQUIRE_AUTH", parsing.boolean, g.require_auth),
        plans=plans,
        default_plan=default_plan,
        rate_limit_enabled=read("RATE_LIMIT_ENABLED", parsing.boolean, g.rate_limit_enabled),
        rate_limit_failure_policy=read(
            "RATE_LIMIT_FAILURE_POLICY", parsing.choice("fail_open", "fail_closed"), g.rate_limit_failure_policy
        ),
        cors_allowed_origins=origins,
        cors_allow_credentials=credentials,
        cors_max_age_s=read("CORS_MAX_AGE_S", parsing.non_negative_int, g.cors_max_age_s),
        maintenance=read("GATEWAY_MAINTENANCE", parsing.boolean, g.maintenance),
        maintenance_message=read("GATEWAY_MAINTENANCE_MESSAGE", parsing.non_empty, g.maintenance_message),
        maintenance_retry_after_s=read(
            "GATEWAY_MAINTENANCE_RETRY_AFTER_S", parsing.positive_int, g.maintenance_retry_after_s
        ),
        query_upstreams=read("QUERY_UPSTREAMS", URLS, ()),
        collections_upstreams=read("COLLECTIONS_UPSTREAMS", URLS, ()),
        max_body_bytes=read("GATEWAY_MAX_BODY_BYTES", parsing.positive_int, g.max_body_bytes),
        max_header_bytes=read("GATEWAY_MAX_HEADER_BYTES", parsing.positive_int, g.max_header_bytes),
    )
