"""The curators' library through GraphQL, against the stand-ins (which run content's own lifecycle
rules): create with the library's fields, publish now or at a time, edit into a new revision, the
filtered connection, unpublish, archive, delete, pins, and the typed errors of each refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from condividi.testing import Issuer
from gateway.tests.conftest import Gql, curator_headers
from gateway.tests.fakes import Downstream

_ERRORS = "errors { __typename message path ... on ConflictError { code } ... on ValidationError { code } }"
_ITEM = """id title status revision topics imageUrl imageAlt expiresAt publishAt pinnedPosition pinnedUntil
  campaignId utmCampaign requiredDisclosure archivedAt"""
CREATE = f"""mutation($input: CreateContentItemInput!) {{
  createContentItem(input: $input) {{ contentItem {{ {_ITEM} }} {_ERRORS} }} }}"""
PUBLISH = f"""mutation($input: PublishContentItemInput!) {{
  publishContentItem(input: $input) {{ contentItem {{ {_ITEM} }} {_ERRORS} }} }}"""
UPDATE = f"""mutation($input: UpdateContentItemInput!) {{
  updateContentItem(input: $input) {{ contentItem {{ {_ITEM} revisions {{ revision title url }} }} {_ERRORS} }} }}"""
LIBRARY = f"""query($filter: ContentItemFilter, $first: Int, $after: String) {{
  contentItems(filter: $filter, first: $first, after: $after) {{
    edges {{ cursor node {{ {_ITEM} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""


def _simple(verb: str, result: str = f"contentItem {{ {_ITEM} }}") -> str:
    name = f"{verb}ContentItem"
    input_type = "PinContentItemInput" if verb == "pin" else "ContentItemIdInput"
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {result} {_ERRORS} }} }}"


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def create(gql: Gql, issuer: Issuer, **fields: Any) -> dict[str, Any]:
    body = await gql(
        CREATE,
        {"input": {"title": "Our plant", "url": "https://acme.example/plant", **fields}},
        headers=curator_headers(issuer),
    )
    payload = body["data"]["createContentItem"]
    assert payload["errors"] == [], body
    item: dict[str, Any] = payload["contentItem"]
    return item


async def test_create_publish_edit_and_revisions(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    curator = curator_headers(issuer)
    item = await create(
        gql,
        issuer,
        topics=["Energy"],
        imageUrl="https://acme.example/i.png",
        imageAlt="Solar panels on the roof",
        expiresAt=later(days=3),
        pin={"position": 1},
    )
    assert (item["status"], item["revision"], item["topics"], item["pinnedPosition"]) == ("DRAFT", 0, ["energy"], 1)
    assert item["imageAlt"] == "Solar panels on the roof" and item["expiresAt"]

    published = await gql(PUBLISH, {"input": {"id": item["id"]}}, headers=curator)
    assert published["data"]["publishContentItem"]["contentItem"]["revision"] == 1
    edited = await gql(
        UPDATE,
        {"input": {"id": item["id"], "title": "Our plant, a year on", "url": "https://acme.example/plant-2"}},
        headers=curator,
    )
    payload = edited["data"]["updateContentItem"]
    assert payload["errors"] == [], edited
    assert (payload["contentItem"]["revision"], payload["contentItem"]["status"]) == (2, "PUBLISHED")
    assert [r["revision"] for r in payload["contentItem"]["revisions"]] == [2, 1]
    assert payload["contentItem"]["revisions"][0]["url"] == "https://acme.example/plant-2"
    cleared = await gql(UPDATE, {"input": {"id": item["id"], "expiresAt": None}}, headers=curator)
    assert cleared["data"]["updateContentItem"]["contentItem"]["expiresAt"] is None


async def test_scheduling_and_its_refusals(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    curator = curator_headers(issuer)
    item = await create(gql, issuer, expiresAt=later(hours=2))
    past = await gql(PUBLISH, {"input": {"id": item["id"], "publishAt": later(hours=-1)}}, headers=curator)
    [error] = past["data"]["publishContentItem"]["errors"]
    assert error["__typename"] == "ValidationError" and error["path"] == ["input", "publishAt"]
    after_expiry = await gql(PUBLISH, {"input": {"id": item["id"], "publishAt": later(hours=3)}}, headers=curator)
    [error] = after_expiry["data"]["publishContentItem"]["errors"]
    assert error["path"] == ["input", "expiresAt"] and "before the item is published" in error["message"]
    scheduled = await gql(PUBLISH, {"input": {"id": item["id"], "publishAt": later(hours=1)}}, headers=curator)
    assert scheduled["data"]["publishContentItem"]["contentItem"]["status"] == "SCHEDULED"


async def test_bad_input_answers_validation_errors_at_the_input_paths(gql: Gql, issuer: Issuer) -> None:
    curator = curator_headers(issuer)
    for fields, path in (
        ({"url": "not a url"}, ["input", "url"]),
        ({"imageUrl": "https://acme.example/i.png"}, ["input"]),
        ({"title": "x" * 301}, ["input", "title"]),
        ({"topics": ["x" * 51]}, ["input", "topics", "0"]),
        ({"expiresAt": "2020-01-01T00:00:00+00:00"}, ["input", "expiresAt"]),
    ):
        body = await gql(CREATE, {"input": {"title": "t", "url": "https://acme.example/", **fields}}, headers=curator)
        payload = body["data"]["createContentItem"]
        assert payload["contentItem"] is None, body
        assert payload["errors"] and payload["errors"][0]["__typename"] == "ValidationError", body
        assert payload["errors"][0]["path"][: len(path)] == path, (fields, payload["errors"])
    not_an_id = await gql(_simple("archive"), {"input": {"id": "nope"}}, headers=curator)
    [error] = not_an_id["data"]["archiveContentItem"]["errors"]
    assert (error["__typename"], error["path"]) == ("ValidationError", ["input", "id"])


async def test_lifecycle_mutations_and_their_conflicts(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    curator = curator_headers(issuer)
    item = await create(gql, issuer)
    draft_unpublished = await gql(_simple("unpublish"), {"input": {"id": item["id"]}}, headers=curator)
    [conflict] = draft_unpublished["data"]["unpublishContentItem"]["errors"]
    assert conflict["__typename"] == "ConflictError" and "draft" in conflict["message"]

    await gql(PUBLISH, {"input": {"id": item["id"]}}, headers=curator)
    refused = await gql(_simple("delete", "deletedId"), {"input": {"id": item["id"]}}, headers=curator)
    assert refused["data"]["deleteContentItem"]["deletedId"] is None
    assert refused["data"]["deleteContentItem"]["errors"][0]["__typename"] == "ConflictError"
    unpublished = await gql(_simple("unpublish"), {"input": {"id": item["id"]}}, headers=curator)
    assert unpublished["data"]["unpublishContentItem"]["contentItem"]["status"] == "DRAFT"
    archived = await gql(_simple("archive"), {"input": {"id": item["id"]}}, headers=curator)
    assert archived["data"]["archiveContentItem"]["contentItem"]["status"] == "ARCHIVED"
    again = await gql(UPDATE, {"input": {"id": item["id"], "title": "x"}}, headers=curator)
    assert again["data"]["updateContentItem"]["errors"][0]["__typename"] == "ConflictError"

    draft = await create(gql, issuer)
    deleted = await gql(_simple("delete", "deletedId"), {"input": {"id": draft["id"]}}, headers=curator)
    assert deleted["data"]["deleteContentItem"] == {"deletedId": draft["id"], "errors": []}
    gone = await gql(_simple("archive"), {"input": {"id": draft["id"]}}, headers=curator)
    assert gone["data"]["archiveContentItem"]["errors"][0]["__typename"] == "NotFoundError"


async def test_pins_and_the_filtered_library(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    curator = curator_headers(issuer)
    a = await create(gql, issuer, title="Solar roof", topics=["energy"])
    b = await create(gql, issuer, title="Hiring in Milan", topics=["jobs"])
    c = await create(gql, issuer, title="Wind farm", topics=["energy"])
    for item in (a, b, c):
        pinned = await gql(_simple("pin"), {"input": {"id": item["id"], "position": 1}}, headers=curator)
        assert pinned["data"]["pinContentItem"]["errors"] == [], pinned
    moved = await gql(
        _simple("pin"), {"input": {"id": a["id"], "position": 1, "pinnedUntil": later(days=1)}}, headers=curator
    )
    assert moved["data"]["pinContentItem"]["contentItem"]["pinnedUntil"]
    await gql(_simple("unpin"), {"input": {"id": b["id"]}}, headers=curator)

    async def titles(**filter: Any) -> list[tuple[str, int | None]]:
        body = await gql(LIBRARY, {"filter": filter, "first": 10}, headers=curator)
        return [(e["node"]["title"], e["node"]["pinnedPosition"]) for e in body["data"]["contentItems"]["edges"]]

    assert sorted(await titles(pinned=True), key=lambda t: t[1] or 0) == [("Solar roof", 1), ("Wind farm", 2)]
    assert {t for t, _ in await titles(topic="energy")} == {"Solar roof", "Wind farm"}
    assert [t for t, _ in await titles(text="milan")] == ["Hiring in Milan"]
    assert await titles(statuses=["PUBLISHED"]) == []
    assert await titles(campaignId="not-a-campaign") == []

    first = await gql(LIBRARY, {"first": 2}, headers=curator)
    page = first["data"]["contentItems"]
    assert len(page["edges"]) == 2 and page["pageInfo"]["hasNextPage"]
    rest = await gql(LIBRARY, {"first": 2, "after": page["pageInfo"]["endCursor"]}, headers=curator)
    assert len(rest["data"]["contentItems"]["edges"]) == 1


async def test_employees_cannot_read_the_library(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    await create(gql, issuer)
    body = await gql(LIBRARY, {"first": 5})
    assert body["data"] == {"contentItems": None}
    assert body["errors"][0]["extensions"]["code"] == "forbidden"
