"""Captions and suggestions through GraphQL, against the stand-ins: the caption each item offers on a
network (one content call per network for a whole feed page), setting captions with typed errors, and
the suggestion queue from suggesting to accepting and declining."""

from __future__ import annotations

from typing import Any

from condividi.identity import Role
from condividi.testing import Issuer
from gateway.relay import to_global_id
from gateway.tests.conftest import ORG, Gql, curator_headers
from gateway.tests.fakes import Downstream

SET_CAPTIONS = """mutation($input: SetCaptionsInput!) {
  setCaptions(input: $input) {
    contentItem { id captions { network language text updatedBy } }
    errors { __typename message path ... on ValidationError { code } }
  }
}"""
FEED_CAPTIONS = """{ feed(first: 10) { edges { node { id
  linkedin: caption(network: LINKEDIN) { text network language isDefault }
  x: caption(network: X) { text network language isDefault } } } } }"""
SUGGEST = """mutation($input: SuggestContentInput!) {
  suggestContent(input: $input) {
    suggestion { id url note status suggestedBy }
    errors { __typename message path ... on ConflictError { code conflicting { id } } }
  }
}"""
QUEUE = """query($status: SuggestionStatus) { suggestions(status: $status, first: 10) {
  edges { node { id status url } } } }"""
MINE = "{ mySuggestions(first: 10) { edges { node { id status declineReason contentItem { id suggestedBy } } } } }"
ACCEPT = """mutation($input: AcceptSuggestionInput!) {
  acceptSuggestion(input: $input) {
    suggestion { id status contentItem { id title suggestedBy status } }
    errors { __typename message path }
  }
}"""
DECLINE = """mutation($input: DeclineSuggestionInput!) {
  declineSuggestion(input: $input) { suggestion { id status declineReason } errors { __typename message path } }
}"""


async def test_a_curator_sets_captions_and_each_item_offers_the_networks_caption(
    gql: Gql, issuer: Issuer, downstream: Downstream
) -> None:
    first = downstream.add_item(minutes_ago=2)
    second = downstream.add_item(minutes_ago=1)
    captions = [{"network": "LINKEDIN", "text": "For LinkedIn"}, {"language": "it", "text": "In italiano"}]
    body = await gql(
        SET_CAPTIONS,
        {"input": {"contentItemId": to_global_id("ContentItem", first.id), "captions": captions}},
        headers=curator_headers(issuer),
    )
    payload = body["data"]["setCaptions"]
    assert payload["errors"] == []
    assert payload["contentItem"]["captions"] == [
        {"network": "LINKEDIN", "language": "", "text": "For LinkedIn", "updatedBy": "curator-1"},
        {"network": None, "language": "it", "text": "In italiano", "updatedBy": "curator-1"},
    ]

    downstream.calls.clear()
    feed = await gql(FEED_CAPTIONS)
    assert "errors" not in feed, feed
    nodes = {e["node"]["id"]: e["node"] for e in feed["data"]["feed"]["edges"]}
    default = {"text": "Proud of the team!", "network": None, "language": None, "isDefault": True}
    assert nodes[to_global_id("ContentItem", first.id)]["linkedin"] == {
        "text": "For LinkedIn",
        "network": "LINKEDIN",
        "language": "",
        "isDefault": False,
    }
    assert nodes[to_global_id("ContentItem", first.id)]["x"] == default
    assert nodes[to_global_id("ContentItem", second.id)]["linkedin"] == default
    # One call per network, each for both items.
    calls = downstream.calls_to("content", "/api/v1/captions")
    assert sorted(c.query["network"] for c in calls) == ["linkedin", "x"]


async def test_captions_are_for_curators_and_bad_ones_are_typed_errors(
    gql: Gql, issuer: Issuer, downstream: Downstream
) -> None:
    item = downstream.add_item()
    item_id = to_global_id("ContentItem", item.id)
    employee_view = await gql("query($id: ID!) { contentItem(id: $id) { captions { text } } }", {"id": item_id})
    assert employee_view["data"]["contentItem"]["captions"] is None

    refused = await gql(SET_CAPTIONS, {"input": {"contentItemId": item_id, "captions": [{"text": "Mine"}]}})
    assert refused["data"]["setCaptions"]["errors"][0]["__typename"] == "PermissionDeniedError"

    too_long = [{"network": "X", "text": "a" * 281}]
    body = await gql(
        SET_CAPTIONS, {"input": {"contentItemId": item_id, "captions": too_long}}, headers=curator_headers(issuer)
    )
    errors = body["data"]["setCaptions"]["errors"]
    assert [e["__typename"] for e in errors] == ["ValidationError"]
    assert errors[0]["path"][:3] == ["input", "captions", "0"]
    assert "280" in errors[0]["message"]

    not_an_item = await gql(
        SET_CAPTIONS,
        {"input": {"contentItemId": to_global_id("Share", item.id), "captions": []}},
        headers=curator_headers(issuer),
    )
    assert not_an_item["data"]["setCaptions"]["errors"][0]["path"] == ["input", "contentItemId"]
    assert downstream.captions == {}


async def test_an_employee_suggests_and_a_curator_accepts_or_declines(
    gql: Gql, issuer: Issuer, downstream: Downstream
) -> None:
    made = await gql(SUGGEST, {"input": {"url": "https://acme.example/robots", "note": "Robots!"}})
    suggestion = made["data"]["suggestContent"]["suggestion"]
    assert (suggestion["status"], suggestion["suggestedBy"]) == ("PENDING", "employee-1")
    other = await gql(
        SUGGEST,
        {"input": {"url": "https://acme.example/jobs", "note": "Hiring"}},
        headers=issuer.headers(org=ORG, roles=[Role.EMPLOYEE], subject="employee-2"),
    )
    declined_id = other["data"]["suggestContent"]["suggestion"]["id"]

    again = await gql(SUGGEST, {"input": {"url": "https://acme.example/robots", "note": "Again"}})
    conflict = again["data"]["suggestContent"]["errors"]
    assert [(e["__typename"], e["path"], e["conflicting"]["id"]) for e in conflict] == [
        ("ConflictError", ["input", "url"], suggestion["id"])
    ]
    bad = await gql(SUGGEST, {"input": {"url": "not a url", "note": " "}})
    assert {e["__typename"] for e in bad["data"]["suggestContent"]["errors"]} == {"ValidationError"}

    queue = await gql(QUEUE, {"status": "PENDING"}, headers=curator_headers(issuer))
    assert [e["node"]["id"] for e in queue["data"]["suggestions"]["edges"]] == [suggestion["id"], declined_id]
    assert (await gql(QUEUE))["data"]["suggestions"] is None  # employees have no queue

    accepted = await gql(
        ACCEPT, {"input": {"id": suggestion["id"], "title": "Robots"}}, headers=curator_headers(issuer)
    )
    result = accepted["data"]["acceptSuggestion"]
    assert result["errors"] == []
    assert result["suggestion"]["status"] == "ACCEPTED"
    assert result["suggestion"]["contentItem"]["suggestedBy"] == "employee-1"
    assert result["suggestion"]["contentItem"]["status"] == "DRAFT"

    reason = {"input": {"id": declined_id, "reason": "Not public yet"}}
    declined = await gql(DECLINE, reason, headers=curator_headers(issuer))
    assert declined["data"]["declineSuggestion"]["suggestion"]["declineReason"] == "Not public yet"
    twice = await gql(DECLINE, reason, headers=curator_headers(issuer))
    assert twice["data"]["declineSuggestion"]["errors"][0]["__typename"] == "ConflictError"
    not_mine = await gql(DECLINE, reason)
    assert not_mine["data"]["declineSuggestion"]["errors"][0]["__typename"] == "PermissionDeniedError"

    mine: dict[str, Any] = await gql(MINE, headers=issuer.headers(org=ORG, roles=[Role.EMPLOYEE], subject="employee-2"))
    assert [(e["node"]["status"], e["node"]["declineReason"]) for e in mine["data"]["mySuggestions"]["edges"]] == [
        ("DECLINED", "Not public yet")
    ]
    node = await gql("query($id: ID!) { node(id: $id) { ... on Suggestion { url } } }", {"id": suggestion["id"]})
    assert node["data"]["node"] == {"url": "https://acme.example/robots"}
