"""Link previews through GraphQL, against the stand-ins: ContentItem.linkPreview with its findings,
the curators' refreshLinkPreview, and what another caller gets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from condividi.testing import Issuer
from gateway.relay import to_global_id
from gateway.tests.conftest import Gql, curator_headers
from gateway.tests.fakes import Downstream, pending_preview
from services.content.previews.doctor import Severity
from services.content.previews.models import PreviewFinding, PreviewStatus, RedirectHop

PREVIEW = """query($id: ID!) { contentItem(id: $id) { id linkPreview {
  url status fetchedAt finalUrl httpStatus redirects { url status } title imageUrl imageWidth imageHeight
  findings { severity code message } } } }"""
REFRESH = """mutation($input: RefreshLinkPreviewInput!) {
  refreshLinkPreview(input: $input) {
    linkPreview { url status findings { code } }
    errors { __typename message path }
  }
}"""


async def test_an_items_preview_shows_the_doctors_findings(gql: Gql, downstream: Downstream) -> None:
    item = downstream.add_item()
    downstream.link_previews[item.id] = pending_preview(item).model_copy(
        update={
            "status": PreviewStatus.READY,
            "fetched_at": datetime.now(UTC),
            "final_url": "https://acme.example/news/1/",
            "http_status": 200,
            "redirects": [RedirectHop(url=item.url, status=301)],
            "title": "Our plant",
            "image_url": "https://acme.example/p.png",
            "image_width": 300,
            "image_height": 250,
            "findings": [
                PreviewFinding(severity=Severity.WARNING, code="image_small", message="The image is 300 x 250 px")
            ],
        }
    )
    body = await gql(PREVIEW, {"id": to_global_id("ContentItem", item.id)})
    preview = body["data"]["contentItem"]["linkPreview"]
    assert preview["status"] == "READY"
    assert preview["redirects"] == [{"url": item.url, "status": 301}]
    assert (preview["imageWidth"], preview["imageHeight"], preview["httpStatus"]) == (300, 250, 200)
    assert preview["findings"] == [
        {"severity": "WARNING", "code": "image_small", "message": "The image is 300 x 250 px"}
    ]


async def test_a_curator_refreshes_a_preview(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    item = downstream.add_item(published=False)
    body = await gql(
        REFRESH, {"input": {"contentItemId": to_global_id("ContentItem", item.id)}}, headers=curator_headers(issuer)
    )
    assert body["data"]["refreshLinkPreview"] == {
        "linkPreview": {"url": item.url, "status": "PENDING", "findings": []},
        "errors": [],
    }
    assert [
        c.method for c in downstream.calls_to("content", f"/api/v1/content-items/{item.id}/link-preview/refresh")
    ] == ["POST"]


async def test_refreshing_is_refused_for_employees_unknown_items_and_other_ids(
    gql: Gql, issuer: Issuer, downstream: Downstream
) -> None:
    item = downstream.add_item()
    as_employee = await gql(REFRESH, {"input": {"contentItemId": to_global_id("ContentItem", item.id)}})
    assert [e["__typename"] for e in as_employee["data"]["refreshLinkPreview"]["errors"]] == ["PermissionDeniedError"]

    unknown = await gql(
        REFRESH,
        {"input": {"contentItemId": to_global_id("ContentItem", uuid.uuid4())}},
        headers=curator_headers(issuer),
    )
    [error] = unknown["data"]["refreshLinkPreview"]["errors"]
    assert (error["__typename"], error["path"]) == ("NotFoundError", ["input", "contentItemId"])

    wrong_type = await gql(
        REFRESH, {"input": {"contentItemId": to_global_id("Share", item.id)}}, headers=curator_headers(issuer)
    )
    [error] = wrong_type["data"]["refreshLinkPreview"]["errors"]
    assert (error["__typename"], error["path"]) == ("ValidationError", ["input", "contentItemId"])
    # Only the employee's call reached content (and was refused there); the wrong id went nowhere.
    assert len(downstream.calls_to("content", f"/api/v1/content-items/{item.id}/link-preview/refresh")) == 1


async def test_a_drafts_preview_is_null_for_an_employee(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    draft = downstream.add_item(published=False)
    node = "query($id: ID!) { node(id: $id) { ... on ContentItem { linkPreview { status } } } }"
    assert (await gql(node, {"id": to_global_id("ContentItem", draft.id)}))["data"]["node"] is None
    as_curator = await gql(node, {"id": to_global_id("ContentItem", draft.id)}, headers=curator_headers(issuer))
    assert as_curator["data"]["node"] == {"linkPreview": {"status": "PENDING"}}


async def test_a_feeds_previews_come_in_one_call(gql: Gql, downstream: Downstream) -> None:
    items = [downstream.add_item(minutes_ago=i) for i in range(5)]
    body = await gql("{ feed(first: 5) { edges { node { id linkPreview { url status } } } } }")
    previews = [edge["node"]["linkPreview"] for edge in body["data"]["feed"]["edges"]]
    assert previews == [{"url": item.url, "status": "PENDING"} for item in items]
    [call] = downstream.calls_to("content", "/api/v1/link-previews/batch")
    assert sorted(call.body["item_ids"]) == sorted(str(i.id) for i in items)
