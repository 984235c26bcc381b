"""The development OIDC issuer used by ``make run`` and the tests: one RSA key kept in a file, tokens
minted with it, and its JWKS. The gateway serves it under ``/dev-issuer`` only when
``DEV_ISSUER_KEY_FILE`` is set; production points ``OIDC_JWKS_URL`` at the real identity provider."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


class DevIssuer:
    def __init__(self, key_file: Path, *, issuer: str, audience: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self._key = _load_or_create_key(key_file)
        public_numbers = self._key.public_key().public_numbers()
        self.kid = uuid.uuid5(uuid.NAMESPACE_OID, f"{public_numbers.n:x}").hex[:16]

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def mint(
        self,
        *,
        subject: str,
        org_id: str,
        roles: list[str],
        ttl_seconds: int = 8 * 3600,
        name: str = "",
        email: str = "",
        **extra: Any,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "org": org_id,
            "roles": roles,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_seconds,
            "name": name,
            "email": email,
            **extra,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})


def _load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA key")
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    # Written under a temporary name and renamed, so processes starting together never read half a key.
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    os.replace(tmp, path)
    return key
