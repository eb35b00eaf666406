"""Shopper tokens: short-lived JWTs for one customer, minted by a shop's backend.

The algorithm comes from the settings and is the only one accepted back: the token's own
``alg`` header is never trusted (no ``none``, no HS256 signed with a public key).
"""

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from app.config import Settings, TokenAlgorithm

_REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp", "jti"]


class InvalidToken(Exception):
    """The token is expired, forged, for someone else's audience or otherwise unusable."""


@dataclass(frozen=True)
class MintedToken:
    token: str
    expires_at: datetime
    token_id: str


def _thumbprint(jwk: dict[str, Any]) -> str:
    # RFC 7638: SHA-256 over the required members, sorted, without whitespace.
    required = {"OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class TokenCodec:
    """Signs and verifies shopper tokens with the configured key."""

    def __init__(self, settings: Settings) -> None:
        self.algorithm = settings.token_algorithm
        self.issuer = settings.token_issuer
        self.audience = settings.token_audience
        self.ttl = timedelta(seconds=settings.token_ttl_seconds)
        self.public_jwk: dict[str, Any] | None = None
        self._signing_key: Any
        self._verifying_key: Any
        if self.algorithm is TokenAlgorithm.HS256:
            secret = settings.token_secret.get_secret_value().encode()
            self._signing_key = self._verifying_key = secret
            return
        private = serialization.load_pem_private_key(settings.private_key_pem(), password=None)
        if not isinstance(private, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
            raise ValueError("the token private key must be an Ed25519 or RSA key")
        public = private.public_key()
        jwk: dict[str, Any] = (
            OKPAlgorithm.to_jwk(public, as_dict=True)
            if isinstance(public, ed25519.Ed25519PublicKey)
            else RSAAlgorithm.to_jwk(public, as_dict=True)
        )
        jwk.update(kid=_thumbprint(jwk), alg=str(self.algorithm), use="sig")
        self.public_jwk = jwk
        self._signing_key = private
        self._verifying_key = public

    def mint(self, customer_id: str, now: datetime, ttl: timedelta | None = None) -> MintedToken:
        lifetime = min(ttl or self.ttl, self.ttl)
        now = now.replace(microsecond=0)  # the claims hold whole seconds
        expires_at = now + lifetime
        token_id = uuid.uuid4().hex
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": customer_id,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": token_id,
        }
        headers = {"kid": self.public_jwk["kid"]} if self.public_jwk else None
        token = jwt.encode(
            claims, self._signing_key, algorithm=str(self.algorithm), headers=headers
        )
        return MintedToken(token=token, expires_at=expires_at, token_id=token_id)

    def verify(self, token: str) -> str:
        """The customer id the token was minted for, or ``InvalidToken``."""
        try:
            claims = jwt.decode(
                token,
                self._verifying_key,
                algorithms=[str(self.algorithm)],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("the token has no customer")
        issued, expires = claims["iat"], claims["exp"]
        numeric = all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in (issued, expires)
        )
        if not numeric or not 0 < expires - issued <= self.ttl.total_seconds():
            # A token minted here never lives longer than the TTL; one that does was signed
            # elsewhere with the key (a script, a leaked secret) and is refused all the same.
            raise InvalidToken("the token's lifetime exceeds the maximum")
        return subject

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [self.public_jwk] if self.public_jwk else []}
