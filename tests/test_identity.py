"""Token verification and tenancy, through the real content service run in-process: what a valid token
opens, every way a forged, stale or misdirected token is refused (401 ``unauthenticated``), and an id
from another org answering 404."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from condividi.errors import ApiError
from condividi.identity import Role
from condividi.testing import AUDIENCE, Infra, Issuer, running, service_env
from services.content.main import build_app
from services.content.settings import ContentSettings

# One app (and database) for the whole module: every test here only reads, or writes under its own org.
pytestmark = pytest.mark.asyncio(loop_scope="module")

ORG_A = uuid.uuid4()
ORG_B = uuid.uuid4()
FEED = "/api/v1/feed"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(infra: Infra, issuer: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    env = service_env(infra, issuer, "content", infra.new_database("content"))
    settings = ContentSettings(**env)  # type: ignore[arg-type]  # as services/content/tests do
    async with running(build_app(settings)) as c:
        yield c


# --- crafting tokens -----------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value).encode())


def issuer_key(issuer: Issuer) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(issuer.key_file.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def now() -> int:
    return int(time.time())


def claims(issuer: Issuer, **changes: Any) -> dict[str, Any]:
    """Valid claims for an employee of ORG_A; a change to ``None`` removes the claim."""
    issued = now()
    base = {
        "iss": issuer.issuer.issuer,
        "aud": AUDIENCE,
        "sub": "employee-1",
        "org": str(ORG_A),
        "roles": [Role.EMPLOYEE.value],
        "iat": issued,
        "nbf": issued,
        "exp": issued + 600,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def signed(issuer: Issuer, body: dict[str, Any], *, key: rsa.RSAPrivateKey | None = None, **header: Any) -> str:
    """Signed RS256 with the issuer's key (or ``key``), under the issuer's kid unless ``header`` says."""
    algorithm = header.pop("alg", "RS256")
    return jwt.encode(
        body, key or issuer_key(issuer), algorithm=algorithm, headers={"kid": issuer.issuer.kid, **header}
    )


def unsigned(issuer: Issuer) -> str:
    """``alg: none``: a header, the claims, and an empty signature."""
    return f"{b64json({'alg': 'none', 'typ': 'JWT', 'kid': issuer.issuer.kid})}.{b64json(claims(issuer))}."


def hs256_with_public_key(issuer: Issuer) -> str:
    """Algorithm confusion: HMAC-signed with the issuer's public key (which anyone has) as the secret."""
    public_pem = (
        issuer_key(issuer)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signing_input = f"{b64json({'alg': 'HS256', 'typ': 'JWT', 'kid': issuer.issuer.kid})}.{b64json(claims(issuer))}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def signature_stripped(issuer: Issuer) -> str:
    header, body, _ = signed(issuer, claims(issuer)).split(".")
    return f"{header}.{body}."


def another_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert error["code"] == "unauthenticated"
    assert error["message"]


# --- the tests -----------------------------------------------------------------------------------


async def test_a_valid_token_opens_the_feed(client: httpx.AsyncClient, issuer: Issuer) -> None:
    response = await client.get(FEED, headers=issuer.headers(org=ORG_A, roles=[Role.EMPLOYEE]))
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []

    # The scheme is case-insensitive (RFC 7235), and the claims can be crafted by hand as an IdP would.
    by_hand = signed(issuer, claims(issuer))
    assert (await client.get(FEED, headers={"Authorization": f"bearer {by_hand}"})).status_code == 200


async def test_a_token_expired_within_the_leeway_is_still_accepted(client: httpx.AsyncClient, issuer: Issuer) -> None:
    token = signed(issuer, claims(issuer, iat=now() - 600, nbf=now() - 600, exp=now() - 10))
    assert (await client.get(FEED, headers=bearer(token))).status_code == 200


# Each way in, and a word of the reason it is refused for (so a case cannot pass for the wrong reason).
REFUSED: dict[str, tuple[Callable[[Issuer], dict[str, str]], str]] = {
    "no header": (lambda i: {}, "bearer token is required"),
    "basic scheme": (lambda i: {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}, "bearer token is required"),
    "valid token under another scheme": (
        lambda i: {"Authorization": f"Token {signed(i, claims(i))}"},
        "bearer token is required",
    ),
    "bearer without a token": (lambda i: {"Authorization": "Bearer "}, "bearer token is required"),
    "garbage": (lambda i: bearer("this-is-not-a-jwt"), "malformed"),
    "three garbage segments": (lambda i: bearer("abc.def.ghi"), "malformed"),
    "expired beyond the leeway": (
        lambda i: bearer(signed(i, claims(i, iat=now() - 3600, nbf=now() - 3600, exp=now() - 120))),
        "expired",
    ),
    "not valid yet": (lambda i: bearer(signed(i, claims(i, nbf=now() + 600))), "not yet valid"),
    "wrong audience": (
        lambda i: bearer(i.token(org=ORG_A, roles=[Role.EMPLOYEE], aud="someone-else")),
        "audience",
    ),
    "wrong issuer": (
        lambda i: bearer(i.token(org=ORG_A, roles=[Role.EMPLOYEE], iss="https://evil.example/")),
        "issuer",
    ),
    "signed by another key under the same kid": (
        lambda i: bearer(signed(i, claims(i), key=another_key())),
        "signature does not verify",
    ),
    "signature stripped": (lambda i: bearer(signature_stripped(i)), "signature does not verify"),
    "alg none": (lambda i: bearer(unsigned(i)), "RS256"),
    "HS256 with the public key as secret": (lambda i: bearer(hs256_with_public_key(i)), "RS256"),
    "RS384 with the right key": (lambda i: bearer(signed(i, claims(i), alg="RS384")), "RS256"),
    "no kid": (lambda i: bearer(jwt.encode(claims(i), issuer_key(i), algorithm="RS256")), "kid"),
    "missing org": (lambda i: bearer(signed(i, claims(i, org=None))), "'org'"),
    "org not a uuid": (lambda i: bearer(signed(i, claims(i, org="acme"))), "'org'"),
    "roles not a list": (lambda i: bearer(signed(i, claims(i, roles="admin"))), "'roles'"),
    "missing exp": (lambda i: bearer(signed(i, claims(i, exp=None))), '"exp"'),
    "missing sub": (lambda i: bearer(signed(i, claims(i, sub=None))), '"sub"'),
}


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
async def test_a_bad_token_is_refused(client: httpx.AsyncClient, issuer: Issuer, case: str) -> None:
    headers, reason = REFUSED[case]
    response = await client.get(FEED, headers=headers(issuer))
    assert_refused(response)
    assert reason in response.json()["error"]["message"]


async def test_a_token_with_an_unknown_kid_is_refused_and_the_key_cache_keeps_working(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    stranger = another_key()
    for n in range(3):
        token = signed(issuer, claims(issuer), key=stranger, kid=f"unknown-kid-{n}")
        assert_refused(await client.get(FEED, headers=bearer(token)))
    # The issuer's own tokens still verify afterwards.
    valid = await client.get(FEED, headers=issuer.headers(org=ORG_A, roles=[Role.EMPLOYEE]))
    assert valid.status_code == 200, valid.text


async def test_an_id_from_another_org_answers_not_found(client: httpx.AsyncClient, issuer: Issuer) -> None:
    curator_a = issuer.headers(org=ORG_A, roles=[Role.CURATOR], subject="curator-a")
    created = await client.post(
        "/api/v1/content-items",
        json={"title": "Only for org A", "url": "https://acme.example/a"},
        headers=curator_a,
    )
    assert created.status_code == 201, created.text
    path = f"/api/v1/content-items/{created.json()['id']}"
    assert (await client.get(path, headers=curator_a)).status_code == 200

    for roles in ([Role.CURATOR], [Role.ADMIN], [Role.EMPLOYEE]):
        response = await client.get(path, headers=issuer.headers(org=ORG_B, roles=roles, subject="someone-b"))
        assert response.status_code == 404, (roles, response.text)
        assert response.json()["error"]["code"] == "not_found"
        assert "Only for org A" not in response.text
    # Answered exactly like an id that exists nowhere.
    missing = await client.get(
        f"/api/v1/content-items/{uuid.uuid4()}", headers=issuer.headers(org=ORG_B, roles=[Role.CURATOR])
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == response.json()["error"]["message"]


# --- the verifier against an identity provider's key set (served by an httpx mock transport) --------


def _jwks_server(keys: list[dict[str, Any]], *, up: list[bool]) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"keys": keys}) if up[0] else httpx.Response(503)

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


async def test_keys_that_cannot_sign_rs256_are_never_tried(issuer: Issuer) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    from condividi.identity import TokenVerifier

    rsa_jwk = issuer.issuer.jwks()["keys"][0]
    ec_jwk = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
    ec_jwk.update({"kid": "ec-key", "use": "sig"})
    encryption_jwk = {**rsa_jwk, "kid": "enc-key", "use": "enc"}
    http = _jwks_server([rsa_jwk, ec_jwk, encryption_jwk], up=[True])
    verifier = TokenVerifier(
        issuer=issuer.issuer.issuer, audience=AUDIENCE, jwks_url="https://idp.example/jwks", http=http
    )
    assert (await verifier.verify(issuer.token(org=uuid.uuid4(), roles=["employee"]))).roles == {"employee"}
    for kid in ("ec-key", "enc-key"):
        forged = jwt.encode(
            {
                "sub": "x",
                "org": str(uuid.uuid4()),
                "roles": [],
                "iss": issuer.issuer.issuer,
                "aud": AUDIENCE,
                "iat": int(time.time()),
                "exp": int(time.time()) + 60,
            },
            another_key(),
            algorithm="RS256",
            headers={"kid": kid},
        )
        with pytest.raises(ApiError) as refused:
            await verifier.verify(forged)
        assert refused.value.status == 401, kid
    await http.aclose()


async def test_held_keys_keep_working_while_the_identity_provider_is_down(issuer: Issuer) -> None:
    from condividi.identity import TokenVerifier
    from condividi.identity import verifier as verifier_module

    up = [True]
    http = _jwks_server(issuer.issuer.jwks()["keys"], up=up)
    verifier = TokenVerifier(
        issuer=issuer.issuer.issuer, audience=AUDIENCE, jwks_url="https://idp.example/jwks", http=http
    )
    token = issuer.token(org=uuid.uuid4(), roles=["employee"])
    await verifier.verify(token)
    up[0] = False
    verifier._fetched_at -= verifier_module._CACHE_SECONDS + 1  # the cache is due for a refresh
    verifier._attempted_at -= verifier_module._CACHE_SECONDS + 1
    assert (await verifier.verify(token)).roles == {"employee"}
    # ...but not for ever: after a day without one successful read they are no longer trusted.
    verifier._fetched_at -= verifier_module._HOLD_SECONDS
    verifier._attempted_at -= verifier_module._CACHE_SECONDS
    with pytest.raises(ApiError) as unavailable:
        await verifier.verify(token)
    assert unavailable.value.status == 503
    await http.aclose()


async def test_a_key_set_without_usable_keys_is_not_fetched_for_every_token(issuer: Issuer) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    from condividi.identity import TokenVerifier

    ec_jwk = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
    ec_jwk.update({"kid": "ec-key", "use": "sig"})
    fetches = []

    def answer(request: httpx.Request) -> httpx.Response:
        fetches.append(request)
        return httpx.Response(200, json={"keys": [ec_jwk]})

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    verifier = TokenVerifier(
        issuer=issuer.issuer.issuer, audience=AUDIENCE, jwks_url="https://idp.example/j", http=http
    )
    for _ in range(20):
        with pytest.raises(ApiError) as refused:
            await verifier.verify(issuer.token(org=uuid.uuid4(), roles=["employee"]))
        assert refused.value.status == 401
    assert len(fetches) == 1
    await http.aclose()


async def test_a_key_set_that_is_not_an_object_answers_unavailable(issuer: Issuer) -> None:
    from condividi.identity import TokenVerifier

    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200, json=["not", "keys"])))
    verifier = TokenVerifier(
        issuer=issuer.issuer.issuer, audience=AUDIENCE, jwks_url="https://idp.example/j", http=http
    )
    with pytest.raises(ApiError) as unavailable:
        await verifier.verify(issuer.token(org=uuid.uuid4(), roles=["employee"]))
    assert (unavailable.value.status, unavailable.value.code) == (503, "identity_provider_unavailable")
    await http.aclose()


# --- the roster caps the token (issue 6, item 3) ------------------------------------------------------


async def test_the_roster_caps_a_known_members_roles_and_refuses_a_deactivated_one() -> None:
    import uuid as _uuid

    from condividi.errors import ApiError
    from condividi.identity.caller import Caller, RosterStatus, apply_roster, granted_roles

    org = _uuid.uuid4()
    caller = Caller(subject="ann", org_id=org, roles=frozenset({"admin", "employee"}), token="t")
    assert granted_roles(caller.roles, None) == caller.roles
    assert granted_roles(caller.roles, RosterStatus(frozenset({"employee", "manager"}), True)) == {"employee"}

    async def known(org_id: _uuid.UUID, subject: str) -> RosterStatus | None:
        return RosterStatus(frozenset({"employee"}), subject != "leaver") if subject in ("ann", "leaver") else None

    assert (await apply_roster(caller, known)).roles == {"employee"}
    stranger = Caller(subject="bob", org_id=org, roles=frozenset({"admin"}), token="t")
    assert (await apply_roster(stranger, known)).roles == {"admin"}
    assert (await apply_roster(caller, None)) is caller
    leaver = Caller(subject="leaver", org_id=org, roles=frozenset({"employee"}), token="t")
    try:
        await apply_roster(leaver, known)
    except ApiError as exc:
        assert (exc.status, exc.code) == (403, "member_deactivated")
    else:
        raise AssertionError("a deactivated member got through")
