"""The JWT suite: what the gateway accepts, what it refuses, and what it says when it refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ragplane.kit.problems import PROBLEM_JSON, problem_from_error
from ragplane.services.gateway.auth import (
    NO_KEYS,
    Authenticator,
    Consumer,
    Unauthorized,
    issue_token,
    parse_ttl,
)
from ragplane.settings import GatewaySettings
from ragplane.telemetry.metrics import ServiceMetrics

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
IP = "203.0.113.7"


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make(**settings: Any) -> tuple[Authenticator, ServiceMetrics]:
    metrics = ServiceMetrics("gateway")
    return Authenticator(GatewaySettings(**settings), metrics), metrics


def count(metrics: ServiceMetrics, result: str) -> float | None:
    return metrics.registry.get_sample_value("ragplane_gateway_auth_total", {"result": result})


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"sub": "alice", "plan": "pro", "iat": now, "exp": now + 60}
    return {k: v for k, v in {**base, **over}.items() if v is not None}


def hs256(payload: dict[str, Any], key: str | bytes = SECRET) -> str:
    return jwt.encode(payload, key, algorithm="HS256")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def by_hand(header: dict[str, Any], payload: dict[str, Any], key: bytes | None) -> str:
    """A token pyjwt would refuse to make: `alg: none`, or an HMAC keyed with a PEM."""
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(signature)


def refused(authenticator: Authenticator, header: str | None, detail: str) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        authenticator.authenticate([] if header is None else [header], IP)
    error = caught.value
    assert error.status == 401
    assert error.detail == detail
    assert error.headers == {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{detail}"'}
    return error


def test_valid_hs256_names_the_consumer_and_its_plan() -> None:
    authenticator, metrics = make(jwt_secret=SECRET)
    assert authenticator.authenticate([f"Bearer {hs256(claims())}"], IP) == Consumer("sub:alice", "pro", False)
    assert authenticator.authenticate([f"bearer  {hs256(claims(plan=None))}"], IP).plan == "free"
    assert count(metrics, "ok") == 2
    assert count(metrics, "invalid") == 0


def test_valid_rs256_with_any_of_the_configured_keys(rsa_key: rsa.RSAPrivateKey) -> None:
    old = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    authenticator, metrics = make(jwt_public_keys=(public_pem(old), public_pem(rsa_key)))
    token = jwt.encode(claims(sub="bob"), rsa_key, algorithm="RS256")
    assert authenticator.authenticate([f"Bearer {token}"], IP) == Consumer("sub:bob", "pro", False)
    assert count(metrics, "ok") == 1


def test_valid_es256(ec_key: ec.EllipticCurvePrivateKey, rsa_key: rsa.RSAPrivateKey) -> None:
    authenticator, _ = make(jwt_public_keys=(public_pem(rsa_key), public_pem(ec_key)))
    token = jwt.encode(claims(), ec_key, algorithm="ES256")
    assert authenticator.authenticate([f"Bearer {token}"], IP).id == "sub:alice"


def test_expired_token_is_counted_apart() -> None:
    authenticator, metrics = make(jwt_secret=SECRET, jwt_leeway_s=30)
    now = int(time.time())
    refused(authenticator, f"Bearer {hs256(claims(iat=now - 600, exp=now - 60))}", "the token has expired")
    assert authenticator.authenticate([f"Bearer {hs256(claims(exp=now - 10))}"], IP).anonymous is False  # leeway
    assert (count(metrics, "expired"), count(metrics, "invalid"), count(metrics, "ok")) == (1, 0, 1)


# Claims as functions of the time the test runs (a value computed at collection would be stale
# by the time a long suite reaches it).
@pytest.mark.parametrize(
    ("over", "detail"),
    [
        (lambda now: {"nbf": now + 600}, "the token is not yet valid (nbf)"),
        (lambda now: {"iat": now + 600, "exp": now + 900}, "the token was issued in the future (iat)"),
        (lambda now: {"sub": None}, "the token has no 'sub' claim"),
        (lambda now: {"exp": None}, "the token has no 'exp' claim"),
        (lambda now: {"sub": ""}, "the sub claim is empty"),
        (lambda now: {"plan": "gold"}, "unknown plan 'gold'"),
        (lambda now: {"plan": 'x"y'}, "unknown plan 'x?y'"),
    ],
)
def test_claims_that_are_refused(over: Callable[[int], dict[str, Any]], detail: str) -> None:
    authenticator, metrics = make(jwt_secret=SECRET)
    refused(authenticator, f"Bearer {hs256(claims(**over(int(time.time()))))}", detail)
    assert count(metrics, "invalid") == 1


def test_wrong_signature_and_tampered_payload() -> None:
    authenticator, metrics = make(jwt_secret=SECRET)
    refused(authenticator, f"Bearer {hs256(claims(), SECRET + '-other')}", "the token's signature is invalid")
    header, _, signature = hs256(claims(plan="free")).split(".")
    tampered = f"{header}.{b64(json.dumps(claims(plan='pro')).encode())}.{signature}"
    refused(authenticator, f"Bearer {tampered}", "the token's signature is invalid")
    refused(authenticator, "Bearer not.a-jwt", "the token is malformed")
    assert count(metrics, "invalid") == 3


def test_alg_none_is_refused() -> None:
    authenticator, _ = make(jwt_secret=SECRET)
    token = by_hand({"alg": "none", "typ": "JWT"}, claims(), key=None)
    assert token.endswith(".")
    refused(authenticator, f"Bearer {token}", "algorithm 'none' is not accepted here (accepted: HS256)")


def test_hs256_signed_with_the_rsa_public_key_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = public_pem(rsa_key)
    token = by_hand({"alg": "HS256", "typ": "JWT"}, claims(), key=pem.encode())
    only_keys, _ = make(jwt_public_keys=(pem,))
    refused(only_keys, f"Bearer {token}", "algorithm 'HS256' is not accepted here (accepted: RS256)")
    both, _ = make(jwt_secret=SECRET, jwt_public_keys=(pem,))  # HS256 exists, but only with the secret
    refused(both, f"Bearer {token}", "the token's signature is invalid")


def test_an_8_kb_token_is_refused_without_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    authenticator, metrics = make(jwt_secret=SECRET)
    token = hs256(claims(padding="x" * 8192))

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("decoded an oversized token")

    monkeypatch.setattr(jwt, "get_unverified_header", never)
    monkeypatch.setattr(jwt, "decode", never)
    error = refused(authenticator, f"Bearer {token}", "the token is larger than 4096 bytes")
    assert token not in str(error.headers) and SECRET not in error.detail
    assert count(metrics, "invalid") == 1


def test_issuer_and_audience_when_configured() -> None:
    authenticator, _ = make(jwt_secret=SECRET, jwt_issuer="https://idp.example", jwt_audience="ragplane")
    good = claims(iss="https://idp.example", aud="ragplane")
    assert authenticator.authenticate([f"Bearer {hs256(good)}"], IP).id == "sub:alice"
    refused(authenticator, f"Bearer {hs256({**good, 'iss': 'https://evil'})}", "wrong issuer (iss)")
    refused(authenticator, f"Bearer {hs256({**good, 'aud': 'other'})}", "wrong audience (aud)")
    refused(authenticator, f"Bearer {hs256(claims(aud='ragplane'))}", "the token has no 'iss' claim")
    lenient, _ = make(jwt_secret=SECRET)  # nothing configured: iss and aud are not checked
    assert lenient.authenticate([f"Bearer {hs256(good)}"], IP).id == "sub:alice"


def test_scheme_must_be_bearer() -> None:
    authenticator, metrics = make(jwt_secret=SECRET)
    refused(authenticator, "Basic YWxpY2U6c2VjcmV0", "the Authorization header must use the Bearer scheme")
    refused(authenticator, "Bearer ", "the bearer token is empty")
    refused(authenticator, "Bearer   x", "the token is malformed")
    assert count(metrics, "invalid") == 3


def test_anonymous_allowed_keyed_by_ip() -> None:
    authenticator, metrics = make(jwt_secret=SECRET)
    assert authenticator.authenticate([], IP) == Consumer(f"ip:{IP}", "free", True)
    assert authenticator.authenticate(["  "], "") == Consumer("ip:unknown", "free", True)
    assert count(metrics, "anonymous") == 2


def test_anonymous_refused_when_auth_is_required() -> None:
    authenticator, metrics = make(jwt_secret=SECRET, require_auth=True)
    with pytest.raises(Unauthorized) as caught:
        authenticator.authenticate([], IP)
    assert caught.value.headers == {"WWW-Authenticate": 'Bearer realm="ragplane"'}
    assert (count(metrics, "missing"), count(metrics, "anonymous")) == (1, 0)
    response = problem_from_error(caught.value, instance="/api/v1/query", trace_id=None)
    assert (response.status_code, response.media_type) == (401, PROBLEM_JSON)
    assert response.headers["www-authenticate"] == 'Bearer realm="ragplane"'
    assert json.loads(bytes(response.body))["type"] == "urn:ragplane:problem:unauthorized"


def test_without_keys_tokens_are_refused_but_anonymous_passes() -> None:
    authenticator, metrics = make()
    refused(authenticator, f"Bearer {hs256(claims())}", NO_KEYS)
    assert authenticator.authenticate([], IP).anonymous
    assert (count(metrics, "invalid"), count(metrics, "anonymous")) == (1, 1)


def test_bad_keys_fail_at_construction(rsa_key: rsa.RSAPrivateKey) -> None:
    private = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    p384 = public_pem(ec.generate_private_key(ec.SECP384R1()))
    weak = public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    ed_pem = ed.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"jwt_public_keys": (public_pem(rsa_key), private)}, r"JWT_PUBLIC_KEYS\[1\] is a private key"),
        ({"jwt_public_keys": ("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n",)}, "not a PEM public"),
        ({"jwt_public_keys": (p384,)}, "ES256 needs P-256"),
        ({"jwt_public_keys": (weak,)}, "1024-bit RSA key; RS256 needs at least 2048"),
        ({"jwt_public_keys": (ed_pem,)}, "only RSA .RS256. and P-256 EC .ES256. keys"),
        ({"jwt_secret": "short"}, "at least 32 characters"),  # refused by the settings before the authenticator
        ({"jwt_secret": public_pem(rsa_key)}, "looks like a PEM key"),
    ]
    for settings, message in cases:
        with pytest.raises(ValueError, match=message):
            make(**settings)


def test_issue_token_round_trips() -> None:
    settings = GatewaySettings(jwt_secret=SECRET, jwt_issuer="ragplane-dev", jwt_audience="ragplane")
    authenticator = Authenticator(settings, ServiceMetrics("gateway"))
    token = issue_token(settings, sub="alice", plan="pro", ttl_s=3600)
    assert authenticator.authenticate([f"Bearer {token}"], IP) == Consumer("sub:alice", "pro", False)
    decoded = jwt.decode(token, SECRET, algorithms=["HS256"], audience="ragplane")
    assert decoded["exp"] - decoded["iat"] == 3600 and decoded["nbf"] == decoded["iat"]
    assert decoded["iss"] == "ragplane-dev"
    stale = issue_token(settings, sub="alice", plan="free", ttl_s=60, now=time.time() - 3600)
    with pytest.raises(Unauthorized, match="expired"):
        authenticator.authenticate([f"Bearer {stale}"], IP)


@pytest.mark.parametrize(
    ("settings", "kwargs", "message"),
    [
        (GatewaySettings(), {}, "JWT_SECRET is not set"),
        (GatewaySettings(jwt_secret=SECRET), {"plan": "gold"}, "unknown plan 'gold'"),
        (GatewaySettings(jwt_secret=SECRET), {"ttl_s": 0}, "positive"),
        (GatewaySettings(jwt_secret=SECRET), {"sub": ""}, "sub"),
    ],
)
def test_issue_token_refuses(settings: GatewaySettings, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        base: dict[str, Any] = {"sub": "alice", "plan": "free", "ttl_s": 60}
        issue_token(settings, **(base | kwargs))


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("1h", 3600), ("7d", 604800), (" 1.5H ", 5400)]
)
def test_parse_ttl(text: str, seconds: float) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "0", "-5m", "1w", "1 h 2", "1e3"])
def test_parse_ttl_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a TTL"):
        parse_ttl(text)


@pytest.mark.parametrize(
    "headers",
    [
        [f"Bearer {hs256(claims())}", "Bearer not.a-jwt"],  # a valid token must not vouch for another header
        ["", f"Bearer {hs256(claims())}"],  # an empty first header must not make a token holder anonymous
        [f"Bearer {hs256(claims())}", f"Bearer {hs256(claims())}"],
        ["", ""],
    ],
)
def test_more_than_one_authorization_header_is_refused(headers: list[str]) -> None:
    authenticator, metrics = make(jwt_secret=SECRET)
    with pytest.raises(Unauthorized) as caught:
        authenticator.authenticate(headers, IP)
    assert caught.value.detail == "send one Authorization header, not 2"
    assert (count(metrics, "invalid"), count(metrics, "ok"), count(metrics, "anonymous")) == (1, 0, 0)


@pytest.mark.parametrize(
    ("claim", "value"),
    [("exp", "+600"), ("nbf", "-60"), ("iat", "-60"), ("nbf", True), ("iat", True)],
)
def test_time_claims_must_be_json_numbers(claim: str, value: str | bool) -> None:
    """pyjwt takes `int(value)`: a numeric string or a boolean would pass."""
    authenticator, metrics = make(jwt_secret=SECRET)
    now = int(time.time())
    wrong = claims(**{claim: str(now + int(value)) if isinstance(value, str) else value})
    refused(authenticator, f"Bearer {hs256(wrong)}", f"the {claim} claim must be a number (seconds since the epoch)")
    assert count(metrics, "invalid") == 1
    assert authenticator.authenticate([f"Bearer {hs256(claims(nbf=now - 60, iat=now - 60.5))}"], IP).id == "sub:alice"


def test_a_verified_token_is_remembered_but_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    authenticator, metrics = make(jwt_secret=SECRET)
    token = hs256(claims())
    assert authenticator.authenticate([f"Bearer {token}"], IP).id == "sub:alice"
    monkeypatch.setattr(jwt, "decode", lambda *args, **kwargs: pytest.fail("verified again"))
    assert authenticator.authenticate([f"Bearer {token}"], IP).id == "sub:alice"  # remembered
    assert count(metrics, "ok") == 2
    monkeypatch.undo()
    # a remembered token whose exp has passed is verified again, and refused as expired
    stale = hs256(claims(iat=int(time.time()) - 120, exp=int(time.time()) - 60))
    authenticator._verified[stale] = jwt.decode(stale, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    refused(authenticator, f"Bearer {stale}", "the token has expired")
    # a different token of the same consumer, with a bad signature, is never taken for the remembered one
    refused(authenticator, f"Bearer {hs256(claims(), key='x' * 32)}", "the token's signature is invalid")
