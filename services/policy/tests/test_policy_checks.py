from typing import Any

import httpx
import pytest

from condividi.identity import Role
from condividi.networks import supported_names
from condividi.testing import Issuer
from services.policy.tests.conftest import headers, new_org

pytestmark = pytest.mark.asyncio(loop_scope="package")

LINK = "https://acme.example/news/plant"


async def test_check_rejects_a_post_one_over_the_x_limit(client: httpx.AsyncClient, issuer: Issuer) -> None:
    response = await client.post(
        "/api/v1/policy-checks",
        json={"network": "x", "text": "a" * 257, "url": LINK},
        headers=headers(issuer, new_org(), Role.EMPLOYEE),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "allowed": False,
        "outcome": "rejected",
        "violations": [{"code": "too_long", "message": "The post is 281 characters with the link; X allows 280."}],
        "length": 281,
        "limit": 280,
        # Every finding with its action (issue 8); the length is about the whole post, so no span.
        "findings": [
            {
                "code": "too_long",
                "message": "The post is 281 characters with the link; X allows 280.",
                "action": "reject",
                "start": None,
                "end": None,
                "rule_id": None,
            }
        ],
    }


async def test_check_approves_a_post_at_the_limit_and_lower_cases_the_network(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    response = await client.post(
        "/api/v1/policy-checks",
        json={"network": " X ", "text": "a" * 256, "url": LINK},
        headers=headers(issuer, new_org(), Role.EMPLOYEE),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "allowed": True,
        "outcome": "approved",
        "violations": [],
        "length": 280,
        "limit": 280,
        "findings": [],
    }


async def test_check_keeps_the_url_as_written(client: httpx.AsyncClient, issuer: Issuer) -> None:
    # pydantic would normalise "https://acme.example" to "https://acme.example/"; the count must not move.
    response = await client.post(
        "/api/v1/policy-checks",
        json={"network": "linkedin", "text": "hi", "url": "https://acme.example"},
        headers=headers(issuer, new_org(), Role.EMPLOYEE),
    )
    assert response.status_code == 200, response.text
    assert response.json()["length"] == len("hi https://acme.example")


@pytest.mark.parametrize("network", ["myspace", "instagram", "Pinterest"])
async def test_check_refuses_a_network_outside_the_table_like_sharing_does(
    client: httpx.AsyncClient, issuer: Issuer, network: str
) -> None:
    response = await client.post(
        "/api/v1/policy-checks",
        json={"network": network, "text": "hello"},
        headers=headers(issuer, new_org(), Role.EMPLOYEE),
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    [detail] = error["details"]
    assert detail["loc"] == ["body", "network"]
    assert detail["message"] == f"unsupported network; use one of: {', '.join(supported_names())}"


async def test_check_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/policy-checks", json={"network": "x", "text": "hi"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "hi"}, "network"),
        ({"network": "", "text": "hi"}, "network"),
        ({"network": "x" * 33, "text": "hi"}, "network"),
        ({"network": "x y", "text": "hi"}, "network"),
        ({"network": "x"}, "text"),
        ({"network": "x", "text": "a" * 70001}, "text"),
        ({"network": "x", "text": 12}, "text"),
        ({"network": "x", "text": "hi", "url": "javascript:alert(1)"}, "url"),
        ({"network": "x", "text": "hi", "url": "not a url"}, "url"),
        ({"network": "x", "text": "hi", "url": "https://acme.example/" + "p" * 2048}, "url"),
    ],
)
async def test_check_rejects_bad_input(
    client: httpx.AsyncClient, issuer: Issuer, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/v1/policy-checks", json=body, headers=headers(issuer, new_org(), Role.EMPLOYEE))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert [d["loc"] for d in error["details"]] == [["body", field]]


async def test_check_without_a_url_counts_the_tracking_link_a_share_will_carry(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    # The default PUBLIC_BASE_URL: links look like http://localhost:8003/r/<8 characters>, 32 in all.
    link_and_space = len("http://localhost:8003/r/abcdefgh") + 1
    fits = "a" * (3000 - link_and_space)
    for text, allowed in ((fits, True), (fits + "a", False)):
        response = await client.post(
            "/api/v1/policy-checks",
            json={"network": "linkedin", "text": text},
            headers=headers(issuer, new_org(), Role.EMPLOYEE),
        )
        assert response.status_code == 200, response.text
        assert response.json()["allowed"] is allowed
        assert response.json()["length"] == len(text) + link_and_space
