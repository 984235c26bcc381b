"""Link previews end to end: the fetcher and the doctor against local pages that each have one problem,
and, on the real stack, an item's creation leading to its stored preview (the worker, the table, REST),
the curators' refresh, and who may see what."""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from condividi.identity import Role
from condividi.safe_fetch import FetchPolicy
from condividi.testing import Infra, Issuer, running, service_env
from services.content.main import build_app
from services.content.previews.doctor import diagnose
from services.content.previews.fetcher import fetch_snapshot
from services.content.settings import ContentSettings
from tests.pages import Page, PageServer, html_page, png

ORG = uuid.uuid4()
OTHER_ORG = uuid.uuid4()
POLICY = FetchPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),), timeout_seconds=5.0)


@pytest.fixture(scope="module")
def pages() -> Iterator[PageServer]:
    with PageServer() as server:
        big = server.add("/big.png", Page(body=png(1200, 630), headers={"Content-Type": "image/png"}))
        small = server.add("/small.png", Page(body=png(350, 250), headers={"Content-Type": "image/png"}))
        server.add("/good", Page(body=html_page(image=big, canonical=server.url("/good"))))
        server.add("/no-image", Page(body=html_page(image=None)))
        server.add("/small-image", Page(body=html_page(image=small)))
        server.add("/declared-small", Page(body=html_page(image=big, width=250, height=250)))
        server.add("/long-title", Page(body=html_page(image=big, title="A very long title " * 6)))
        server.add("/noindex", Page(body=html_page(image=big, robots="noindex, nofollow")))
        server.add(
            "/noindex-header",
            Page(body=html_page(image=big), headers={"Content-Type": "text/html", "X-Robots-Tag": "noindex"}),
        )
        server.add("/missing-image", Page(body=html_page(image=server.url("/nothing.png"))))
        server.add("/canonical", Page(body=html_page(image=big, canonical="https://acme.example/elsewhere")))
        server.redirect("/hop1", "/hop2")
        server.redirect("/hop2", "/hop3", status=302)
        server.redirect("/hop3", "/good", status=307)
        server.add("/broken", Page(status=500, body=b"<html><title>oops</title></html>"))
        yield server


# Every page here is plain http (loopback has no certificate): each list starts with not_https.
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/good", []),
        ("/no-image", ["no_og_image"]),
        ("/small-image", ["image_small"]),  # 350 x 250, read from the image's bytes
        ("/declared-small", ["image_small"]),  # 250 x 250, as og:image:width/height say
        ("/long-title", ["title_too_long"]),
        ("/noindex", ["noindex"]),
        ("/noindex-header", ["noindex"]),
        ("/missing-image", ["image_unreachable"]),
        ("/canonical", ["canonical_differs"]),
        ("/hop1", ["redirect_chain", "canonical_differs"]),
        ("/absent", ["http_error"]),
        ("/broken", ["http_error"]),
    ],
)
async def test_the_doctor_against_local_pages_with_each_problem(
    pages: PageServer, path: str, expected: list[str]
) -> None:
    snapshot = await fetch_snapshot(pages.url(path), POLICY)
    assert [f.code for f in diagnose(snapshot)] == ["not_https", *expected]


async def test_the_preview_reads_the_pages_tags_and_the_images_size(pages: PageServer) -> None:
    snapshot = await fetch_snapshot(pages.url("/small-image"), POLICY)
    assert snapshot.meta is not None
    assert (snapshot.meta.title, snapshot.meta.site_name, snapshot.meta.image_url) == (
        "Our new plant opens",
        "Acme News",
        pages.url("/small.png"),
    )
    assert (snapshot.image_width, snapshot.image_height) == (350, 250)
    chain = await fetch_snapshot(pages.url("/hop1"), POLICY)
    assert [s for _, s in chain.hops] == [301, 302, 307, 200]


async def test_without_the_allow_list_the_local_page_is_refused(pages: PageServer) -> None:
    snapshot = await fetch_snapshot(pages.url("/good"), FetchPolicy())
    assert snapshot.error_code == "address_refused"
    assert [(f.code, f.severity.value) for f in diagnose(snapshot)] == [
        ("not_https", "warning"),
        ("fetch_failed", "error"),
    ]


# --- the real stack ---------------------------------------------------------------------------------


@pytest.fixture
async def client(infra: Infra, issuer: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    env = service_env(infra, issuer, "content", infra.new_database("content"))
    settings = ContentSettings(**env, PREVIEW_FETCH_ALLOWED_NETWORKS="127.0.0.1/32", PREVIEW_POLL_SECONDS=0.1)
    async with running(build_app(settings)) as c:
        yield c


def as_role(issuer: Issuer, role: Role, org: uuid.UUID = ORG) -> dict[str, str]:
    return issuer.headers(org=org, roles=[role], subject=f"{role.value}-1")


async def settled(client: httpx.AsyncClient, item_id: str, headers: dict[str, str]) -> dict[str, Any]:
    for _ in range(100):
        answer = await client.get(f"/api/v1/content-items/{item_id}/link-preview", headers=headers)
        assert answer.status_code == 200, answer.text
        if answer.json()["status"] != "pending":
            return dict(answer.json())
        await asyncio.sleep(0.1)
    raise AssertionError("the preview stayed pending")


async def test_creating_an_item_leads_to_its_stored_preview_with_the_findings(
    client: httpx.AsyncClient, issuer: Issuer, pages: PageServer
) -> None:
    curator = as_role(issuer, Role.CURATOR)
    created = await client.post(
        "/api/v1/content-items", json={"title": "Plant", "url": pages.url("/small-image")}, headers=curator
    )
    assert created.status_code == 201, created.text
    item_id = created.json()["id"]

    preview = await settled(client, item_id, curator)

    assert preview["status"] == "ready"
    assert preview["url"] == pages.url("/small-image")
    assert (preview["title"], preview["site_name"], preview["http_status"]) == ("Our new plant opens", "Acme News", 200)
    assert (preview["image_url"], preview["image_width"], preview["image_height"]) == (
        pages.url("/small.png"),
        350,
        250,
    )
    assert [(f["code"], f["severity"]) for f in preview["findings"]] == [
        ("not_https", "warning"),
        ("image_small", "warning"),
    ]
    assert preview["fetched_at"] is not None


async def test_a_redirect_chain_and_a_refused_link_are_stored_as_found(
    client: httpx.AsyncClient, issuer: Issuer, pages: PageServer
) -> None:
    curator = as_role(issuer, Role.CURATOR)
    chain = await client.post(
        "/api/v1/content-items", json={"title": "Hops", "url": pages.url("/hop1")}, headers=curator
    )
    # 127.0.0.2 is loopback outside the allow-list: refused, however the page would answer.
    refused_url = f"http://127.0.0.2:{pages.port}/good"
    refused = await client.post("/api/v1/content-items", json={"title": "No", "url": refused_url}, headers=curator)

    hops = await settled(client, chain.json()["id"], curator)
    assert [r["status"] for r in hops["redirects"]] == [301, 302, 307]
    assert hops["final_url"] == pages.url("/good")
    assert "redirect_chain" in [f["code"] for f in hops["findings"]]

    failed = await settled(client, refused.json()["id"], curator)
    assert failed["status"] == "failed"
    assert [f["code"] for f in failed["findings"]] == ["not_https", "fetch_failed"]
    assert "loopback" in failed["error"]


async def test_a_curator_refreshes_a_preview_after_the_page_is_fixed(
    client: httpx.AsyncClient, issuer: Issuer, pages: PageServer
) -> None:
    curator = as_role(issuer, Role.CURATOR)
    pages.add("/fixable", Page(body=html_page(image=None)))
    created = await client.post(
        "/api/v1/content-items", json={"title": "Fix", "url": pages.url("/fixable")}, headers=curator
    )
    item_id = created.json()["id"]
    assert "no_og_image" in [f["code"] for f in (await settled(client, item_id, curator))["findings"]]

    pages.add("/fixable", Page(body=html_page(image=pages.url("/big.png"))))
    refreshed = await client.post(f"/api/v1/content-items/{item_id}/link-preview/refresh", headers=curator)
    assert refreshed.status_code == 202, refreshed.text
    assert refreshed.json()["status"] == "pending"

    fixed = await settled(client, item_id, curator)
    assert [f["code"] for f in fixed["findings"]] == ["not_https"]
    assert (fixed["image_width"], fixed["image_height"]) == (1200, 630)


async def test_who_may_see_and_refresh_a_preview(client: httpx.AsyncClient, issuer: Issuer, pages: PageServer) -> None:
    curator = as_role(issuer, Role.CURATOR)
    created = await client.post(
        "/api/v1/content-items", json={"title": "Mine", "url": pages.url("/good")}, headers=curator
    )
    item_id = created.json()["id"]
    path = f"/api/v1/content-items/{item_id}/link-preview"

    employee = as_role(issuer, Role.EMPLOYEE)
    assert (await client.get(path, headers=employee)).status_code == 404  # a draft: not theirs to see
    refused = await client.post(f"{path}/refresh", headers=employee)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"

    stranger = as_role(issuer, Role.CURATOR, OTHER_ORG)
    for answer in (await client.get(path, headers=stranger), await client.post(f"{path}/refresh", headers=stranger)):
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"

    missing = f"/api/v1/content-items/{uuid.uuid4()}/link-preview"
    assert (await client.get(missing, headers=curator)).status_code == 404
    assert (await client.get("/api/v1/content-items/not-a-uuid/link-preview", headers=curator)).status_code == 422

    await client.post(f"/api/v1/content-items/{item_id}/publish", headers=curator)
    assert (await client.get(path, headers=employee)).status_code == 200


async def test_a_feeds_previews_come_in_one_batch_without_what_the_caller_cannot_see(
    client: httpx.AsyncClient, issuer: Issuer, pages: PageServer
) -> None:
    curator = as_role(issuer, Role.CURATOR)
    ids = []
    for title in ("Published", "Draft"):
        created = await client.post(
            "/api/v1/content-items", json={"title": title, "url": pages.url("/good")}, headers=curator
        )
        ids.append(created.json()["id"])
    published, draft = ids
    await client.post(f"/api/v1/content-items/{published}/publish", headers=curator)
    theirs = (
        await client.post(
            "/api/v1/content-items",
            json={"title": "Other org", "url": pages.url("/good")},
            headers=as_role(issuer, Role.CURATOR, OTHER_ORG),
        )
    ).json()["id"]
    asked = {"item_ids": [draft, theirs, published, str(uuid.uuid4()), published]}

    as_curator = await client.post("/api/v1/link-previews/batch", json=asked, headers=curator)
    assert as_curator.status_code == 200, as_curator.text
    assert [p["item_id"] for p in as_curator.json()["items"]] == [draft, published]
    as_employee = await client.post("/api/v1/link-previews/batch", json=asked, headers=as_role(issuer, Role.EMPLOYEE))
    assert [p["item_id"] for p in as_employee.json()["items"]] == [published]

    too_many = await client.post("/api/v1/link-previews/batch", json={"item_ids": [published] * 101}, headers=curator)
    assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "validation_failed"
