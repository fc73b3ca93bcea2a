"""Who is calling: bearer JWTs with the semantics of Kong's `jwt` plugin.

A request either carries one `Authorization: Bearer <JWT>` or nothing. Nothing makes an
anonymous consumer on the default plan, keyed by client IP (unless `GATEWAY_REQUIRE_AUTH`);
a token must verify or the request ends in 401, never in a silent downgrade to anonymous.
Two or more Authorization headers are a 401 too: reading only one of them would let a
valid token vouch for a request whose other header a proxy behind us might read, or an
empty first header turn a token holder anonymous. The time claims `exp`, `nbf` and `iat`
must be JSON numbers, as Kong requires; pyjwt alone would accept `"exp": "1999999999"`.

Which algorithms are accepted follows from the configured keys, never from the token's
header: HS256 exists only with `JWT_SECRET`, RS256 only with an RSA public key, ES256 only
with a P-256 public key. So `alg: none` finds no key, and the HS/RS confusion attack (an
HS256 token whose HMAC key is the public RSA PEM) is checked against the secret alone.
Problems say why a token failed, but never echo the token or a key.

A token that verified is remembered (`VERIFIED_TOKENS` of them, for `VERIFIED_TTL_S`): a client
sends the same one with every request, and checking its signature again would cost the edge
more than anything else it does per request. What a signature proves cannot change, and the
configured keys are fixed for the process's life; only time can end a token, so a remembered one
still has its `exp` checked on every use.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cachetools import TTLCache
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import HMACAlgorithm
from jwt.exceptions import InvalidSubjectError
from jwt.types import Options

from ragplane import errors
from ragplane.settings import GatewaySettings
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash
MIN_RSA_BITS = 2048  # NIST SP 800-131A; pyjwt warns below this on every verification
NO_KEYS = "this gateway accepts no tokens: JWT_SECRET/JWT_PUBLIC_KEYS unset"
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_TTL = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
TIME_CLAIMS = ("exp", "nbf", "iat")
VERIFIED_TOKENS = 10_000
VERIFIED_TTL_S = 300.0


@dataclass(frozen=True)
class Consumer:
    """The caller as rate limiting sees it: `id` is the limit key (`sub:<sub>` or `ip:<addr>`)."""

    id: str
    plan: str
    anonymous: bool


class Unauthorized(errors.Unauthorized):
    """401 with the RFC 6750 challenge; `result` is the `ragplane_gateway_auth_total` label.

    A missing token gets a bare `Bearer realm=...` (§3.1: no error code when the client
    sent no credentials); anything else `error="invalid_token"` with a short reason.
    """

    def __init__(self, detail: str, *, result: str = "invalid") -> None:
        if result == "missing":
            challenge = 'Bearer realm="ragplane"'
        else:
            challenge = f'Bearer error="invalid_token", error_description="{_clip(detail)}"'
        super().__init__(detail, headers={"WWW-Authenticate": challenge})
        self.result = result


def _clip(text: str, limit: int = 120) -> str:
    """Make `text` safe inside a quoted RFC 6750 parameter (printable ASCII, no `"` or `\\`)."""
    safe = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in text)
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


def _load_keys(pems: tuple[str, ...]) -> tuple[list[rsa.RSAPublicKey], list[ec.EllipticCurvePublicKey]]:
    """Parse the PEMs once, at start, so a wrong key fails the deploy rather than each request."""
    rsa_keys: list[rsa.RSAPublicKey] = []
    ec_keys: list[ec.EllipticCurvePublicKey] = []
    for i, pem in enumerate(pems):
        name = f"JWT_PUBLIC_KEYS[{i}]"
        if "PRIVATE KEY" in pem:
            raise ValueError(f"{name} is a private key: give only its public half to the gateway")
        try:
            key = load_pem_public_key(pem.encode())
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} is not a PEM public key") from exc
        if isinstance(key, rsa.RSAPublicKey):
            if key.key_size < MIN_RSA_BITS:
                raise ValueError(f"{name} is a {key.key_size}-bit RSA key; RS256 needs at least {MIN_RSA_BITS}")
            rsa_keys.append(key)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if not isinstance(key.curve, ec.SECP256R1):
                raise ValueError(f"{name} is an EC key on {key.curve.name}; ES256 needs P-256")
            ec_keys.append(key)
        else:
            raise ValueError(f"{name} is a {type(key).__name__}; only RSA (RS256) and P-256 EC (ES256) keys are used")
    return rsa_keys, ec_keys


def _why(exc: jwt.InvalidTokenError) -> tuple[str, str]:
    """(result, detail) for a pyjwt error, in our words: pyjwt's may quote parts of the token."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "expired", "the token has expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        iat = "(iat)" in str(exc)
        return "invalid", "the token was issued in the future (iat)" if iat else "the token is not yet valid (nbf)"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return "invalid", f"the token has no '{exc.claim}' claim"
    known: list[tuple[type[jwt.InvalidTokenError], str]] = [
        (jwt.InvalidSignatureError, "the token's signature is invalid"),
        (jwt.InvalidIssuerError, "wrong issuer (iss)"),
        (jwt.InvalidAudienceError, "wrong audience (aud)"),
        (jwt.InvalidIssuedAtError, "the iat claim is not a number"),
        (InvalidSubjectError, "the sub claim must be a string"),
        (jwt.InvalidAlgorithmError, "the token's algorithm is not accepted here"),
    ]
    return "invalid", next((text for cls, text in known if isinstance(exc, cls)), "the token is malformed")


class Authenticator:
    """Turns an Authorization header into a `Consumer`, or raises `Unauthorized`."""

    def __init__(self, settings: GatewaySettings, metrics: ServiceMetrics) -> None:
        self.settings = settings
        secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        if secret is not None and len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes for HS256")
        if secret is not None:
            try:  # pyjwt refuses PEM-shaped HMAC keys on every request; refuse them once, here
                HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(secret)
            except jwt.InvalidKeyError:
                raise ValueError("JWT_SECRET looks like a PEM key; public keys go in JWT_PUBLIC_KEYS") from None
        rsa_keys, ec_keys = _load_keys(settings.jwt_public_keys)
        # Each algorithm maps to the keys that may verify it; nothing else is ever accepted.
        self._keys: Mapping[str, list[Any]] = {
            alg: keys
            for alg, keys in (("HS256", [secret] if secret else []), ("RS256", rsa_keys), ("ES256", ec_keys))
            if keys
        }
        self._verified: TTLCache[str, dict[str, Any]] = TTLCache(VERIFIED_TOKENS, VERIFIED_TTL_S)
        family = metrics.counter(catalog.GATEWAY_AUTH)
        self._counts = {result: family.labels(result=result) for result in catalog.AUTH_RESULTS}

    def authenticate(self, authorization: Sequence[str], client_ip: str) -> Consumer:
        """The consumer behind the request's Authorization headers (all of them); every outcome is counted once."""
        try:
            if len(authorization) > 1:
                raise Unauthorized(f"send one Authorization header, not {len(authorization)}")
            consumer = self._authenticate(authorization[0] if authorization else None, client_ip)
        except Unauthorized as exc:
            self._counts[exc.result].inc()
            raise
        self._counts["anonymous" if consumer.anonymous else "ok"].inc()
        return consumer

    def _authenticate(self, authorization: str | None, client_ip: str) -> Consumer:
        s = self.settings
        if authorization is None or not authorization.strip():
            if s.require_auth:
                raise Unauthorized("this API needs a bearer token (Authorization: Bearer <JWT>)", result="missing")
            return Consumer(id=f"ip:{client_ip or 'unknown'}", plan=s.default_plan, anonymous=True)
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer":
            raise Unauthorized("the Authorization header must use the Bearer scheme")
        if not token:
            raise Unauthorized("the bearer token is empty")
        if len(token.encode()) > s.jwt_max_bytes:
            raise Unauthorized(f"the token is larger than {s.jwt_max_bytes} bytes")
        if not self._keys:
            raise Unauthorized(NO_KEYS)
        claims = self._verify(token)
        plan = claims.get("plan", s.default_plan)
        if not isinstance(plan, str) or plan not in s.plans:
            raise Unauthorized(f"unknown plan '{_clip(str(plan), 40)}'")
        sub = claims["sub"]
        if not sub:
            raise Unauthorized("the sub claim is empty")
        return Consumer(id=f"sub:{sub}", plan=plan, anonymous=False)

    def _verify(self, token: str) -> dict[str, Any]:
        """The token's claims when it verifies (remembered), else Unauthorized saying why."""
        claims = self._verified.get(token)
        if claims is not None and time.time() < claims["exp"] + self.settings.jwt_leeway_s:
            return claims
        claims = self._verify_signed(token)
        self._verified[token] = claims
        return claims

    def _verify_signed(self, token: str) -> dict[str, Any]:
        s = self.settings
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError:
            raise Unauthorized("the token is malformed") from None
        keys = self._keys.get(alg) if isinstance(alg, str) else None
        if not isinstance(alg, str) or not keys:
            accepted = ", ".join(self._keys)
            raise Unauthorized(f"algorithm '{_clip(str(alg), 20)}' is not accepted here (accepted: {accepted})")
        options: Options = {"require": ["exp", "sub"], "verify_aud": s.jwt_audience is not None}
        failure: jwt.InvalidTokenError = jwt.InvalidSignatureError()
        for key in keys:  # several keys: rotation; only a bad signature moves on to the next
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key,
                    algorithms=[alg],
                    options=options,
                    leeway=s.jwt_leeway_s,
                    issuer=s.jwt_issuer,
                    audience=s.jwt_audience,
                )
                _check_time_claims(claims)
                return claims
            except jwt.InvalidSignatureError as exc:
                failure = exc
            except jwt.InvalidTokenError as exc:
                failure = exc
                break
        result, detail = _why(failure)
        raise Unauthorized(detail, result=result)


def _check_time_claims(claims: Mapping[str, Any]) -> None:
    for name in TIME_CLAIMS:
        value = claims.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise Unauthorized(f"the {name} claim must be a number (seconds since the epoch)")


def issue_token(settings: GatewaySettings, *, sub: str, plan: str, ttl_s: float, now: float | None = None) -> str:
    """An HS256 token this gateway accepts, for local use and tests (no private keys here)."""
    if not settings.jwt_secret:
        raise ValueError("JWT_SECRET is not set: there is no key to sign tokens with")
    if plan not in settings.plans:
        raise ValueError(f"unknown plan '{plan}' (plans: {', '.join(settings.plans)})")
    if not sub:
        raise ValueError("sub must not be empty")
    if ttl_s <= 0:
        raise ValueError("the TTL must be positive")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": sub, "plan": plan, "iat": issued, "nbf": issued, "exp": int(issued + ttl_s)}
    if settings.jwt_issuer is not None:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience is not None:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def parse_ttl(text: str) -> float:
    """`90`, `90s`, `15m`, `1h`, `7d` → seconds."""
    match = _TTL.fullmatch(text.strip().lower())
    if match is None or float(match[1]) <= 0:
        raise ValueError(f"{text!r} is not a TTL such as 90s, 15m, 1h or 7d")
    return float(match[1]) * _UNITS[match[2]]
