"""Sharing's side of the library: the catalog keeps each item's latest revision, its expiry and its
withdrawal; a share carries its campaign and disclosure to policy, its link the campaign's UTM name,
and keeps the destination it was made with when the item is edited later."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from condividi.contracts.content_pb2 import ContentPublished, ContentWithdrawn
from condividi.contracts.policy_pb2 import DecisionOutcome
from condividi.contracts.sharing_pb2 import ShareRequested
from condividi.db import utcnow
from condividi.identity import Role
from condividi.testing import Infra, Issuer, running, service_env
from services.content.main import build_app as build_content_app
from services.content.settings import ContentSettings
from services.sharing.tests.test_shares import (
    BROWSER,
    ORG,
    Harness,
    create_share,
    decide,
    employee,
    poll,
    share_when,
    started_harness,
)


@pytest.fixture
async def harness(infra: Infra, issuer: Issuer) -> AsyncIterator[Harness]:
    async with started_harness(infra, issuer) as h:
        yield h


async def publish(h: Harness, content_id: str, revision: int, **fields: Any) -> None:
    event = ContentPublished(content_id=content_id, title="Plant", revision=revision, **fields)
    await h.publish("content", event, org=ORG, aggregate=content_id)


async def attempt(h: Harness, content_id: str, network: str = "x", text: str = "My words") -> httpx.Response:
    return await h.client.post(
        "/api/v1/shares",
        json={"content_id": content_id, "network": network, "text": text},
        headers=employee(h.issuer),
    )


async def location(h: Harness, share: dict[str, Any]) -> tuple[str, dict[str, list[str]]]:
    """Where the published share's tracking link leads: the page, and its query."""
    await decide(h, share["id"], DecisionOutcome.DECISION_OUTCOME_APPROVED)
    published = await share_when(h, share["id"], "published")
    click = await h.client.get(urlsplit(published["tracking_url"]).path, headers=BROWSER)
    assert click.status_code == 302, click.text
    target = urlsplit(click.headers["location"])
    return f"{target.scheme}://{target.netloc}{target.path}", parse_qs(target.query)


async def test_a_campaign_item_carries_its_disclosure_and_utm_name(harness: Harness) -> None:
    h = harness
    content_id, campaign_id = str(uuid.uuid4()), str(uuid.uuid4())
    await publish(
        h,
        content_id,
        1,
        url="https://acme.example/spring",
        campaign_id=campaign_id,
        utm_campaign="spring-27",
        required_disclosure="#ad",
    )
    share = await create_share(h, content_id, text="Spring is here #ad")
    [requested] = await h.events("sharing", ShareRequested, lambda e: e.payload.share_id == share["id"])
    assert (requested.payload.campaign_id, requested.payload.required_disclosure) == (campaign_id, "#ad")
    page, query = await location(h, share)
    assert page == "https://acme.example/spring"
    assert query["utm_campaign"] == ["spring-27"] and query["utm_source"] == ["x"]


async def catalog_row(h: Harness, content_id: str) -> dict[str, Any]:
    runtime = h.client._transport.app.state.runtime  # type: ignore[attr-defined]
    rows = await runtime.db.fetch("SELECT * FROM content_catalog WHERE content_id = $1", uuid.UUID(content_id))
    return dict(rows[0]) if rows else {}


async def test_a_newer_revision_replaces_the_catalogs_and_earlier_shares_keep_theirs(harness: Harness) -> None:
    h = harness
    content_id = str(uuid.uuid4())
    await publish(h, content_id, 1, url="https://acme.example/v1")
    first = await create_share(h, content_id, network="x")
    await publish(h, content_id, 2, url="https://acme.example/v2", utm_campaign="relaunch")
    await poll(lambda: catalog_row(h, content_id), lambda row: row.get("revision") == 2)
    second = await attempt(h, content_id, network="linkedin")
    assert second.status_code == 202, second.text

    # An older revision arriving late (or again) changes nothing; the withdrawal after it, on the same
    # partition, tells when it has been read.
    await publish(h, content_id, 1, url="https://acme.example/v1")
    await h.publish(
        "content", ContentWithdrawn(content_id=content_id, reason="archived"), org=ORG, aggregate=content_id
    )
    row = await poll(lambda: catalog_row(h, content_id), lambda row: row.get("withdrawn_at") is not None)
    assert (row["revision"], row["url"], row["utm_campaign"], row["withdrawn_reason"]) == (
        2,
        "https://acme.example/v2",
        "relaunch",
        "archived",
    )

    # Each share's link leads where the item pointed when it was shared, withdrawn or not.
    first_page, first_query = await location(h, first)
    assert first_page == "https://acme.example/v1" and first_query["utm_campaign"] == ["condividi"]
    second_page, second_query = await location(h, second.json())
    assert second_page == "https://acme.example/v2" and second_query["utm_campaign"] == ["relaunch"]


async def test_a_withdrawn_item_cannot_be_shared_until_published_again(harness: Harness) -> None:
    h = harness
    content_id = str(uuid.uuid4())
    await publish(h, content_id, 1, url="https://acme.example/a")
    share = await create_share(h, content_id)
    await h.publish(
        "content", ContentWithdrawn(content_id=content_id, reason="archived"), org=ORG, aggregate=content_id
    )
    await poll(lambda: catalog_row(h, content_id), lambda row: row.get("withdrawn_at") is not None)
    refused = await attempt(h, content_id, network="bluesky")
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "content_withdrawn" and "archived" in error["message"]
    # The share made before keeps its link: the post is out there.
    page, _ = await location(h, share)
    assert page == "https://acme.example/a"
    await publish(h, content_id, 2, url="https://acme.example/a")
    await poll(lambda: catalog_row(h, content_id), lambda row: row.get("withdrawn_at") is None)
    again = await attempt(h, content_id, network="bluesky")
    assert again.status_code == 202, again.text


async def test_an_expired_item_cannot_be_shared(harness: Harness) -> None:
    h = harness
    expiring, expired = str(uuid.uuid4()), str(uuid.uuid4())
    soon = Timestamp()
    soon.FromDatetime(utcnow() + timedelta(seconds=2))
    await publish(h, expiring, 1, url="https://acme.example/soon", expires_at=soon)
    await create_share(h, expiring)
    # Past its expiry the catalog refuses it even before content's ContentWithdrawn arrives.
    await asyncio.sleep(max(0.0, (soon.ToDatetime(tzinfo=UTC) - utcnow()).total_seconds()))
    refused = await attempt(h, expiring, network="linkedin")
    assert refused.json()["error"]["code"] == "content_expired", refused.text

    await publish(h, expired, 1, url="https://acme.example/old")
    await create_share(h, expired)
    await h.publish("content", ContentWithdrawn(content_id=expired, reason="expired"), org=ORG, aggregate=expired)
    await poll(lambda: catalog_row(h, expired), lambda row: row.get("withdrawn_at") is not None)
    refused = await attempt(h, expired, network="linkedin")
    assert refused.json()["error"]["code"] == "content_expired", refused.text
    assert "expired" in refused.json()["error"]["message"]


async def test_the_miss_path_asks_content_and_refuses_an_expired_item(
    harness: Harness, infra: Infra, issuer: Issuer
) -> None:
    """Sharing has not heard of the item yet: content's answer decides, with the same refusals."""
    url = infra.new_database("content")
    settings = ContentSettings(**service_env(infra, issuer, "content", url), SCHEDULER_INTERVAL_SECONDS=0.2)
    async with running(build_content_app(settings)) as content:
        curator = issuer.headers(org=ORG, roles=[Role.CURATOR], subject="curator-1")
        runtime = harness.client._transport.app.state.runtime  # type: ignore[attr-defined]
        runtime.http = content
        runtime.settings.CONTENT_SERVICE_URL = ""

        async def item(expires_in: float) -> str:
            created = await content.post(
                "/api/v1/content-items",
                json={
                    "title": "Soon gone",
                    "url": "https://acme.example/gone",
                    "expires_at": (utcnow() + timedelta(seconds=expires_in)).isoformat(),
                },
                headers=curator,
            )
            item_id = str(created.json()["id"])
            assert (await content.post(f"/api/v1/content-items/{item_id}/publish", headers=curator)).status_code == 200
            return item_id

        lasting = await item(3600)
        created = await attempt(harness, lasting)
        assert created.status_code == 202, created.text

        gone = await item(1)

        async def status() -> str:
            return str((await content.get(f"/api/v1/content-items/{gone}", headers=curator)).json()["status"])

        assert await poll(status, lambda s: s == "expired") == "expired"
        refused = await attempt(harness, gone)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "content_expired"
        archived = await item(3600)
        await content.post(f"/api/v1/content-items/{archived}/archive", headers=curator)
        assert (await attempt(harness, archived)).status_code == 404, "content shows no archived item to employees"


def test_refusal_says_why() -> None:
    from services.sharing.catalog import refusal
    from services.sharing.models import CatalogItem

    now = utcnow()
    item = CatalogItem(content_id=uuid.uuid4(), org_id=ORG, title="t", url="https://a.example", published_at=now)
    assert refusal(item, now) is None
    item.expires_at = now + timedelta(minutes=1)
    assert refusal(item, now) is None
    assert refusal(item, now + timedelta(minutes=1)).code == "content_expired"  # type: ignore[union-attr]
    item.expires_at, item.withdrawn_at, item.withdrawn_reason = None, now, "unpublished"
    refused = refusal(item, now)
    assert refused is not None and (refused.status, refused.code) == (409, "content_withdrawn")
    assert "unpublished" in refused.message
    item.withdrawn_reason = "expired"
    assert refusal(item, now).code == "content_expired"  # type: ignore[union-attr]


def test_links_carry_the_campaigns_utm_name() -> None:
    from services.sharing.links import with_utm

    share_id = uuid.uuid4()
    tagged = parse_qs(
        urlsplit(with_utm("https://a.example/p", network="x", share_id=share_id, campaign="spring")).query
    )
    assert tagged["utm_campaign"] == ["spring"]
    # The curator's own utm_campaign in the URL still wins.
    own = with_utm("https://a.example/p?utm_campaign=mine", network="x", share_id=share_id, campaign="spring")
    assert parse_qs(urlsplit(own).query)["utm_campaign"] == ["mine"]
