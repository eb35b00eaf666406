import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.utils import base64url_encode
from pydantic import ValidationError

from app.auth.scopes import Scope
from app.auth.tokens import TokenCodec
from app.config import Settings
from tests.conftest import KeyFactory, bearer, make_settings
from tests.security.helpers import give_points, serving, shopper_headers, shopper_token

PROBLEM = "application/problem+json"


def _pem(key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


ED25519_PEM = _pem(ed25519.Ed25519PrivateKey.generate())
RSA_PEM = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


async def test_minted_token_carries_the_claims(
    client: httpx.AsyncClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    await give_points(client, admin_headers, {"alice": 10})
    before = datetime.now(UTC).replace(microsecond=0)
    response = await client.post("/v1/customers/alice/tokens", headers=admin_headers)
    assert response.status_code == 201
    body = response.json()
    assert body["customer_id"] == "alice"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900  # the default lifetime
    claims = jwt.decode(
        body["token"],
        settings.token_secret.get_secret_value(),
        algorithms=["HS256"],
        audience="reinforce-shopper",
        issuer="reinforce",
    )
    assert claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 900
    assert claims["iat"] >= int(before.timestamp())
    assert len(claims["jti"]) == 32
    assert datetime.fromisoformat(body["expires_at"]).timestamp() == claims["exp"]


async def test_lifetime_is_capped_and_validated(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await give_points(client, admin_headers, {"alice": 10})
    short = await client.post(
        "/v1/customers/alice/tokens", json={"ttl_seconds": 120}, headers=admin_headers
    )
    assert short.json()["expires_in"] == 120
    # Above the configured lifetime (900 s) it is capped; above an hour it is refused.
    capped = await client.post(
        "/v1/customers/alice/tokens", json={"ttl_seconds": 3600}, headers=admin_headers
    )
    assert capped.json()["expires_in"] == 900
    refused = await client.post(
        "/v1/customers/alice/tokens", json={"ttl_seconds": 3601}, headers=admin_headers
    )
    assert refused.status_code == 422


async def test_tokens_only_for_existing_customers_and_with_customers_write(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_key: KeyFactory
) -> None:
    missing = await client.post("/v1/customers/nobody/tokens", headers=admin_headers)
    assert missing.status_code == 404
    await give_points(client, admin_headers, {"alice": 10})
    reader = bearer(await make_key(Scope.customers_read))
    assert (await client.post("/v1/customers/alice/tokens", headers=reader)).status_code == 403
    writer = bearer(await make_key(Scope.customers_write))
    assert (await client.post("/v1/customers/alice/tokens", headers=writer)).status_code == 201


async def test_shopper_reads_own_profile_and_ledger(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await give_points(client, admin_headers, {"alice": 30, "bob": 7})
    alice = await shopper_headers(client, admin_headers, "alice")
    me = await client.get("/v1/me", headers=alice)
    assert me.status_code == 200
    shop_view = (await client.get("/v1/customers/alice", headers=admin_headers)).json()
    # The same customer, without the targeting facts and segments, which are the shop's.
    assert me.json() == {**shop_view, "facts": None}
    assert me.json()["points"]["available"] == 30
    ledger = await client.get("/v1/me/ledger", headers=alice)
    assert ledger.status_code == 200
    assert [(e["points"], e["reason"]) for e in ledger.json()["items"]] == [(30, "welcome")]
    # An API key is not a shopper.
    assert (await client.get("/v1/me", headers=admin_headers)).status_code == 403


async def test_shopper_redemptions_are_off_by_default(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await give_points(client, admin_headers, {"alice": 30})
    alice = await shopper_headers(client, admin_headers, "alice")
    response = await client.post(
        "/v1/me/redemptions", json={"points": 5, "reason": "voucher"}, headers=alice
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "urn:reinforce:problem:shopper-redemptions-disabled"
    me = await client.get("/v1/me", headers=alice)
    assert me.json()["points"]["available"] == 30


async def test_shopper_redeems_own_points_when_allowed(database_url: str) -> None:
    settings = make_settings(database_url, shopper_redemptions=True)
    async with serving(settings) as (client, admin):
        await give_points(client, admin, {"alice": 30, "bob": 7})
        alice = await shopper_headers(client, admin, "alice")
        body = {"points": 12, "reason": "voucher"}
        spent = await client.post("/v1/me/redemptions", json=body, headers=alice)
        assert spent.status_code == 201, spent.text
        assert spent.json()["customer_id"] == "alice"
        assert spent.json()["balance"]["available"] == 30 - 12
        too_much = await client.post(
            "/v1/me/redemptions", json={"points": 19, "reason": "x"}, headers=alice
        )
        assert too_much.status_code == 422
        # Only alice's points moved; bob's are untouched.
        bob = await client.get("/v1/customers/bob", headers=admin)
        assert bob.json()["points"]["available"] == 7
        # The admin redemption route stays closed to a shopper, for self and others.
        for customer in ("alice", "bob"):
            response = await client.post(
                f"/v1/customers/{customer}/redemptions", json=body, headers=alice
            )
            assert response.status_code == 403


async def test_shopper_token_opens_no_other_route(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await give_points(client, admin_headers, {"alice": 30, "bob": 7})
    alice = await shopper_headers(client, admin_headers, "alice")
    # Not even their own /v1/customers/{id}: shoppers use /v1/me.
    for path in ("/v1/customers/bob", "/v1/customers/bob/ledger", "/v1/customers/alice"):
        response = await client.get(path, headers=alice)
        assert response.status_code == 403, path
        assert response.headers["content-type"] == PROBLEM
    assert (await client.get("/v1/api-keys", headers=alice)).status_code == 403
    mint = await client.post("/v1/customers/bob/tokens", headers=alice)
    assert mint.status_code == 403


# --- attacks: each gets a 401 problem -------------------------------------------------


def _claims(**overrides: object) -> dict[str, object]:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "iss": "reinforce",
        "aud": "reinforce-shopper",
        "sub": "alice",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "jti": "j" * 32,
    }
    claims.update(overrides)
    return claims


def _forgeries(settings: Settings, genuine: str) -> dict[str, str]:
    secret = settings.token_secret.get_secret_value()
    header, payload, signature = genuine.split(".")
    past = datetime.now(UTC) - timedelta(hours=2)
    other = jwt.encode(_claims(sub="bob"), secret, algorithm="HS256").split(".")[1]
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return {
        "expired": jwt.encode(
            _claims(iat=int(past.timestamp()), exp=int((past + timedelta(hours=1)).timestamp())),
            secret,
            algorithm="HS256",
        ),
        "lifetime past the maximum": jwt.encode(
            _claims(exp=int((datetime.now(UTC) + timedelta(days=30)).timestamp())),
            secret,
            algorithm="HS256",
        ),
        "issued after it expires": jwt.encode(
            _claims(iat=int((datetime.now(UTC) + timedelta(minutes=10)).timestamp())),
            secret,
            algorithm="HS256",
        ),
        "payload swapped": f"{header}.{other}.{signature}",
        "signature altered": f"{header}.{payload}.{flipped}",
        "signature removed": f"{header}.{payload}.",
        "wrong secret": jwt.encode(_claims(), "x" * 40, algorithm="HS256"),
        "wrong audience": jwt.encode(_claims(aud="someone-else"), secret, algorithm="HS256"),
        "wrong issuer": jwt.encode(_claims(iss="evil"), secret, algorithm="HS256"),
        "no expiry": jwt.encode(
            {k: v for k, v in _claims().items() if k != "exp"}, secret, algorithm="HS256"
        ),
        "alg none": jwt.encode(_claims(), None, algorithm="none"),
        "alg none, signed header kept": jwt.encode(_claims(), None, algorithm="none")[:-1]
        + signature,
        "other algorithm": jwt.encode(_claims(), secret * 2, algorithm="HS512"),
        "garbage": "eyJhbGciOiJIUzI1NiJ9.not-json.zzz",
    }


async def test_forged_and_stale_tokens_are_401(
    client: httpx.AsyncClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    await give_points(client, admin_headers, {"alice": 30, "bob": 7})
    genuine = await shopper_token(client, admin_headers, "alice")
    assert (await client.get("/v1/me", headers=bearer(genuine))).status_code == 200
    for name, token in _forgeries(settings, genuine).items():
        response = await client.get("/v1/me", headers=bearer(token))
        assert response.status_code == 401, name
        assert response.headers["content-type"] == PROBLEM, name
        assert response.headers["www-authenticate"] == "Bearer", name


async def test_hs256_token_signed_with_the_public_key_is_refused(database_url: str) -> None:
    # Algorithm confusion: with an RS256 deployment, an attacker signs HS256 with the
    # (public) key. Only the configured algorithm is accepted, so this fails.
    settings = make_settings(database_url, token_algorithm="RS256", token_private_key=RSA_PEM)
    codec = TokenCodec(settings)
    assert codec.public_jwk is not None
    public_pem = (
        serialization.load_pem_private_key(RSA_PEM.encode(), password=None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = base64url_encode(b'{"alg":"HS256","typ":"JWT"}')
    payload = base64url_encode(json.dumps(_claims()).encode())
    signing_input = header + b"." + payload
    mac = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    forged = (signing_input + b"." + base64url_encode(mac)).decode()
    async with serving(settings) as (client, _):
        response = await client.get("/v1/me", headers=bearer(forged))
        assert response.status_code == 401


# --- asymmetric keys --------------------------------------------------------------------


@pytest.mark.parametrize(("algorithm", "pem"), [("EdDSA", ED25519_PEM), ("RS256", RSA_PEM)])
async def test_asymmetric_tokens_verify_with_the_published_key(
    database_url: str, algorithm: str, pem: str
) -> None:
    settings = make_settings(database_url, token_algorithm=algorithm, token_private_key=pem)
    async with serving(settings) as (client, admin):
        await give_points(client, admin, {"alice": 5})
        token = await shopper_token(client, admin, "alice")
        assert (await client.get("/v1/me", headers=bearer(token))).status_code == 200
        jwks = (await client.get("/.well-known/jwks.json")).json()
    assert len(jwks["keys"]) == 1
    published = jwks["keys"][0]
    assert "d" not in published  # never the private part
    assert jwt.get_unverified_header(token)["kid"] == published["kid"]
    key = jwt.PyJWK(published)
    claims = jwt.decode(
        token, key, algorithms=[algorithm], audience="reinforce-shopper", issuer="reinforce"
    )
    assert claims["sub"] == "alice"


async def test_hs256_publishes_no_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.json() == {"keys": []}


def test_production_with_a_key_pair_needs_no_shared_secret() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="production",
        token_algorithm="RS256",
        token_private_key=RSA_PEM,
    )
    assert TokenCodec(settings).public_jwk is not None


def test_private_key_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "token.pem"
    path.write_text(ED25519_PEM)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="production",
        token_algorithm="EdDSA",
        token_private_key_file=path,
    )
    assert TokenCodec(settings).public_jwk is not None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"token_algorithm": "EdDSA"}, "exactly one of"),
        ({"token_algorithm": "RS256", "token_private_key": ED25519_PEM}, "RSA private key"),
        ({"token_algorithm": "EdDSA", "token_private_key": RSA_PEM}, "Ed25519"),
        ({"token_algorithm": "EdDSA", "token_private_key": "not a key"}, "PEM"),
        ({"token_algorithm": "EdDSA", "token_private_key_file": "/nonexistent.pem"}, "read"),
        ({"token_algorithm": "none"}, "token_algorithm"),
        ({"token_ttl_seconds": 3601}, "token_ttl_seconds"),
        ({"rate_limit": "lots"}, "rate limit like"),
        ({"shopper_rate_limit": "5/fortnight"}, "rate limit like"),
    ],
)
def test_token_settings_are_checked_at_start_up(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None, **values)  # type: ignore[call-arg]
