"""Captions per network and language over REST: a curator sets an item's set, members read the caption
chosen for them (a page of items at once), ContentPublished carries them."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from condividi.identity import Role
from condividi.testing import Infra, Issuer, running, service_env
from services.content.main import build_app
from services.content.settings import ContentSettings

ORG = uuid.uuid4()
OTHER_ORG = uuid.uuid4()
ITEM = {"title": "Our new plant", "url": "https://acme.example/news/plant", "suggested_caption": "Proud!"}
CAPTIONS = {
    "captions": [
        {"network": "x", "language": "it", "text": "Orgogliosi del nuovo stabilimento"},
        {"language": "it", "text": "Il nostro nuovo stabilimento a Torino"},
        {"network": "LinkedIn", "text": "Our new plant opens today"},
    ]
}


@pytest.fixture
async def client(infra: Infra, issuer: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    settings = ContentSettings(**service_env(infra, issuer, "content", infra.new_database("content")))
    async with running(build_app(settings)) as c:
        yield c


def curator(issuer: Issuer, org: uuid.UUID = ORG) -> dict[str, str]:
    return issuer.headers(org=org, roles=[Role.CURATOR], subject="curator-1")


def employee(issuer: Issuer, org: uuid.UUID = ORG) -> dict[str, str]:
    return issuer.headers(org=org, roles=[Role.EMPLOYEE], subject="employee-1")


async def _item(client: httpx.AsyncClient, issuer: Issuer, *, publish: bool = True) -> str:
    item_id: str = (await client.post("/api/v1/content-items", json=ITEM, headers=curator(issuer))).json()["id"]
    if publish:
        await client.post(f"/api/v1/content-items/{item_id}/publish", headers=curator(issuer))
    return item_id


async def test_curator_replaces_and_lists_an_items_captions(client: httpx.AsyncClient, issuer: Issuer) -> None:
    item_id = await _item(client, issuer)
    put = await client.put(f"/api/v1/content-items/{item_id}/captions", json=CAPTIONS, headers=curator(issuer))
    assert put.status_code == 200, put.text
    listed = (await client.get(f"/api/v1/content-items/{item_id}/captions", headers=curator(issuer))).json()
    assert [(c["network"], c["language"], c["text"]) for c in listed] == [
        (None, "it", "Il nostro nuovo stabilimento a Torino"),
        ("linkedin", "", "Our new plant opens today"),
        ("x", "it", "Orgogliosi del nuovo stabilimento"),
    ]
    assert {c["updated_by"] for c in listed} == {"curator-1"}

    # Replacing with fewer deletes the ones left out; an empty list deletes them all.
    one = {"captions": [CAPTIONS["captions"][2]]}
    await client.put(f"/api/v1/content-items/{item_id}/captions", json=one, headers=curator(issuer))
    listed = (await client.get(f"/api/v1/content-items/{item_id}/captions", headers=curator(issuer))).json()
    assert [c["network"] for c in listed] == ["linkedin"]
    await client.put(f"/api/v1/content-items/{item_id}/captions", json={"captions": []}, headers=curator(issuer))
    assert (await client.get(f"/api/v1/content-items/{item_id}/captions", headers=curator(issuer))).json() == []


async def test_members_read_the_caption_chosen_for_them_for_a_page_of_items(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    with_captions = await _item(client, issuer)
    plain = await _item(client, issuer)
    draft = await _item(client, issuer, publish=False)
    await client.put(f"/api/v1/content-items/{with_captions}/captions", json=CAPTIONS, headers=curator(issuer))
    params = {"network": "linkedin", "content_id": [with_captions, plain, draft, str(uuid.uuid4())]}
    choices = (await client.get("/api/v1/captions", params=params, headers=employee(issuer))).json()
    # The roster copy knows no language for this member: captions for every language, then the default.
    assert [(c["content_id"], c["text"], c["caption_network"], c["caption_language"]) for c in choices] == [
        (with_captions, "Our new plant opens today", "linkedin", ""),
        (plain, "Proud!", None, None),
    ]
    x = (await client.get("/api/v1/captions", params={**params, "network": "X"}, headers=employee(issuer))).json()
    assert [c["text"] for c in x] == ["Proud!", "Proud!"]
    # Curators see drafts too.
    mine = (await client.get("/api/v1/captions", params=params, headers=curator(issuer))).json()
    assert [c["content_id"] for c in mine] == [with_captions, plain, draft]
    # Another org's caller sees none of them.
    other = (await client.get("/api/v1/captions", params=params, headers=employee(issuer, OTHER_ORG))).json()
    assert other == []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "captions"]),
        ({"captions": [{"network": "x", "text": "a" * 281}]}, ["body", "captions", 0]),
        ({"captions": [{"network": "bluesky", "text": "é" * 301}]}, ["body", "captions", 0]),
        ({"captions": [{"network": "myspace", "text": "hi"}]}, ["body", "captions", 0, "network"]),
        ({"captions": [{"language": "not a tag", "text": "hi"}]}, ["body", "captions", 0, "language"]),
        ({"captions": [{"text": "   "}]}, ["body", "captions", 0, "text"]),
        ({"captions": [{"text": "nul\x00"}]}, ["body", "captions", 0, "text"]),
        ({"captions": [{"text": "x" * 3001}]}, ["body", "captions", 0, "text"]),
        ({"captions": [{"text": "a"}, {"text": "b", "language": ""}]}, ["body", "captions"]),
        (
            {
                "captions": [
                    {"network": "x", "language": "IT", "text": "a"},
                    {"network": "x", "language": "it", "text": "b"},
                ]
            },
            ["body", "captions"],
        ),
        ({"captions": [{"text": f"t{n}", "language": f"l{n:02}"[:3]} for n in range(101)]}, ["body", "captions"]),
    ],
)
async def test_bad_captions_answer_422_and_change_nothing(
    client: httpx.AsyncClient, issuer: Issuer, body: dict[str, object], loc: list[object]
) -> None:
    item_id = await _item(client, issuer)
    await client.put(f"/api/v1/content-items/{item_id}/captions", json=CAPTIONS, headers=curator(issuer))
    response = await client.put(f"/api/v1/content-items/{item_id}/captions", json=body, headers=curator(issuer))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["details"][0]["loc"][: len(loc)] == loc
    listed = (await client.get(f"/api/v1/content-items/{item_id}/captions", headers=curator(issuer))).json()
    assert len(listed) == 3


async def test_only_curators_set_captions_and_other_orgs_items_are_not_found(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    item_id = await _item(client, issuer)
    path = f"/api/v1/content-items/{item_id}/captions"
    assert (await client.put(path, json=CAPTIONS, headers=employee(issuer))).status_code == 403
    assert (await client.get(path, headers=employee(issuer))).status_code == 403
    for method in ("GET", "PUT"):
        response = await client.request(method, path, json=CAPTIONS, headers=curator(issuer, OTHER_ORG))
        assert response.status_code == 404, method
        assert response.json()["error"]["code"] == "not_found"
    missing = f"/api/v1/content-items/{uuid.uuid4()}/captions"
    assert (await client.put(missing, json=CAPTIONS, headers=curator(issuer))).status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"network": "linkedin"},
        {"content_id": str(uuid.uuid4())},
        {"network": "myspace", "content_id": str(uuid.uuid4())},
        {"network": "x", "content_id": "not-a-uuid"},
        {"network": "x", "content_id": [str(uuid.uuid4()) for _ in range(101)]},
    ],
)
async def test_bad_caption_choice_queries_answer_422(
    client: httpx.AsyncClient, issuer: Issuer, params: dict[str, object]
) -> None:
    response = await client.get("/api/v1/captions", params=params, headers=employee(issuer))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"
