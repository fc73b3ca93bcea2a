"""The edge's settings: tokens, plans, CORS, maintenance, upstream replicas, body and header limits.

The names follow Kong's plugins where one exists (`jwt`, `rate-limiting`, `cors`,
`request-termination`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    AliasChoices,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PlainSerializer,
    PositiveInt,
    model_validator,
)

from ragplane import parsing
from ragplane.settings._reading import Section
from ragplane.settings.types import Flag, Lower, Secret, Text, Urls, from_text

FailurePolicy = Literal["fail_open", "fail_closed"]

DEFAULT_PLANS: Mapping[str, int] = MappingProxyType({"free": 100, "pro": 1000})


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


Plans = Annotated[
    Mapping[str, PositiveInt],
    from_text(parse_plans),
    AfterValidator(MappingProxyType),
    PlainSerializer(dict, return_type=dict[str, int]),
]
Origins = Annotated[tuple[str, ...], from_text(parse_origins)]
PemKeys = Annotated[tuple[str, ...], from_text(parsing.pem_keys)]


class GatewaySettings(Section):
    # Authentication (Kong `jwt`): HS256 with the secret and/or RS256/ES256 with public keys (PEM).
    jwt_secret: Secret | None = Field(None, validation_alias="JWT_SECRET")
    jwt_public_keys: PemKeys = Field((), validation_alias=AliasChoices("JWT_PUBLIC_KEYS", "JWT_PUBLIC_KEY"))
    jwt_issuer: Text | None = Field(None, validation_alias="JWT_ISSUER")
    jwt_audience: Text | None = Field(None, validation_alias="JWT_AUDIENCE")
    jwt_leeway_s: NonNegativeFloat = Field(30.0, validation_alias="JWT_LEEWAY_S")
    jwt_max_bytes: PositiveInt = Field(4096, validation_alias="JWT_MAX_BYTES")
    require_auth: Flag = Field(False, validation_alias="GATEWAY_REQUIRE_AUTH")
    # Rate limiting (Kong `rate-limiting`): requests per minute per consumer, by plan.
    plans: Plans = Field(default_factory=lambda: DEFAULT_PLANS, validation_alias="RATE_LIMIT_PLANS")
    default_plan: Text = Field("free", validation_alias="RATE_LIMIT_DEFAULT_PLAN")
    rate_limit_enabled: Flag = Field(True, validation_alias="RATE_LIMIT_ENABLED")
    rate_limit_failure_policy: Annotated[FailurePolicy, Lower] = Field(
        "fail_open", validation_alias="RATE_LIMIT_FAILURE_POLICY"
    )
    # CORS (Kong `cors`).
    cors_allowed_origins: Origins = Field((), validation_alias="CORS_ALLOWED_ORIGINS")
    cors_allow_credentials: Flag = Field(False, validation_alias="CORS_ALLOW_CREDENTIALS")
    cors_max_age_s: NonNegativeInt = Field(600, validation_alias="CORS_MAX_AGE_S")
    # Maintenance (Kong `request-termination`), as set at start; switchable at run time.
    maintenance: Flag = Field(False, validation_alias="GATEWAY_MAINTENANCE")
    maintenance_message: Text = Field(
        "ragplane is down for maintenance; please retry later.", validation_alias="GATEWAY_MAINTENANCE_MESSAGE"
    )
    maintenance_retry_after_s: PositiveInt = Field(300, validation_alias="GATEWAY_MAINTENANCE_RETRY_AFTER_S")
    # Upstream replicas (empty: the one URL `Settings.upstream_url` gives) and the request limits.
    query_upstreams: Urls = Field((), validation_alias="QUERY_UPSTREAMS")
    collections_upstreams: Urls = Field((), validation_alias="COLLECTIONS_UPSTREAMS")
    max_body_bytes: PositiveInt = Field(25 * 1024 * 1024, validation_alias="GATEWAY_MAX_BODY_BYTES")
    # All header lines together; nginx (Kong) allows 4 buffers of 8 KiB.
    max_header_bytes: PositiveInt = Field(32 * 1024, validation_alias="GATEWAY_MAX_HEADER_BYTES")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.default_plan not in self.plans:
            raise ValueError(
                f"RATE_LIMIT_DEFAULT_PLAN={self.default_plan} is not one of RATE_LIMIT_PLANS ({', '.join(self.plans)})"
            )
        if self.cors_allow_credentials and "*" in self.cors_allowed_origins:
            raise ValueError("CORS_ALLOWED_ORIGINS=* cannot go with CORS_ALLOW_CREDENTIALS=true: list the origins")
        return self

    def replicas(self, service: str) -> tuple[str, ...]:
        return {"query": self.query_upstreams, "collections": self.collections_upstreams}[service]
