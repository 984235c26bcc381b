"""Campaigns, audiences and the ranked feed through GraphQL, against the stand-in services."""

from __future__ import annotations

import uuid

from condividi.testing import Issuer
from gateway.relay import to_global_id
from gateway.tests.conftest import Gql, curator_headers, error_codes
from gateway.tests.fakes import Downstream

CREATE = """mutation($input: CreateCampaignInput!) {
  createCampaign(input: $input) {
    campaign { id name utmCampaign requiredDisclosure priority audience { teamIds locations languages roles } }
    errors { __typename message path ... on ConflictError { code } }
  }
}"""
CAMPAIGN = """query($id: ID!) {
  campaign(id: $id) {
    id name
    items(first: 10) { edges { node { id title } } pageInfo { hasNextPage } }
    results { items shares clicks uniqueClicks potentialReach }
  }
}"""


async def test_a_curator_creates_fills_and_reads_a_campaign_with_its_results(
    gql: Gql, issuer: Issuer, downstream: Downstream
) -> None:
    curator = curator_headers(issuer)
    team = downstream.add_team("Sales")
    audience = {"teamIds": [to_global_id("Team", team.id)], "locations": ["Milan"], "languages": ["it"]}
    body = await gql(
        CREATE,
        {"input": {"name": "Solar 2027", "requiredDisclosure": "#ad", "priority": 5, "audience": audience}},
        headers=curator,
    )
    payload = body["data"]["createCampaign"]
    assert payload["errors"] == []
    campaign = payload["campaign"]
    assert (campaign["name"], campaign["utmCampaign"], campaign["requiredDisclosure"], campaign["priority"]) == (
        "Solar 2027",
        "solar-2027",
        "#ad",
        5,
    )
    assert campaign["audience"] == {
        "teamIds": [to_global_id("Team", team.id)],
        "locations": ["milan"],
        "languages": ["it"],
        "roles": [],
    }

    items = [downstream.add_item(title=f"Item {n}") for n in range(2)]
    for n, item in enumerate(items):
        downstream.set_stats(item.id, shares=2 + n, clicks=10, unique_clicks=7, reach=100)
        added = await gql(
            """mutation($input: CampaignItemInput!) {
                 addCampaignItem(input: $input) { contentItem { id } errors { message } } }""",
            {"input": {"campaignId": campaign["id"], "contentItemId": to_global_id("ContentItem", item.id)}},
            headers=curator,
        )
        assert added["data"]["addCampaignItem"]["errors"] == [], added
    read = (await gql(CAMPAIGN, {"id": campaign["id"]}, headers=curator))["data"]["campaign"]
    assert sorted(e["node"]["title"] for e in read["items"]["edges"]) == ["Item 0", "Item 1"]
    assert read["results"] == {"items": 2, "shares": 5, "clicks": 20, "uniqueClicks": 14, "potentialReach": 200}

    # An employee sees no campaign (the service answers 403): null, like an unknown id.
    assert (await gql(CAMPAIGN, {"id": campaign["id"]}))["data"]["campaign"] is None
    listed = await gql("{ campaigns(first: 5) { edges { node { id } } } }", headers=curator)
    assert [e["node"]["id"] for e in listed["data"]["campaigns"]["edges"]] == [campaign["id"]]


async def test_bad_campaign_input_answers_typed_errors(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    curator = curator_headers(issuer)
    unknown_team = await gql(
        CREATE,
        {"input": {"name": "x", "audience": {"teamIds": [to_global_id("Team", uuid.uuid4())]}}},
        headers=curator,
    )
    # Content's 422 unknown_teams: in GraphQL an id naming nothing the caller can see is a NotFoundError.
    (error,) = unknown_team["data"]["createCampaign"]["errors"]
    assert error["__typename"] == "NotFoundError" and error["path"] == ["input", "audience", "teamIds"]
    not_a_team = await gql(CREATE, {"input": {"name": "x", "audience": {"teamIds": ["nope"]}}}, headers=curator)
    assert not_a_team["data"]["createCampaign"]["errors"][0]["path"] == ["input", "audience", "teamIds"]
    dates = await gql(
        CREATE,
        {"input": {"name": "x", "startsAt": "2027-02-01T00:00:00Z", "endsAt": "2027-01-01T00:00:00Z"}},
        headers=curator,
    )
    (error,) = dates["data"]["createCampaign"]["errors"]
    assert (error["__typename"], error["path"]) == ("ValidationError", ["input", "endsAt"])
    first = await gql(CREATE, {"input": {"name": "Same"}}, headers=curator)
    assert first["data"]["createCampaign"]["errors"] == []
    again = await gql(CREATE, {"input": {"name": "Same"}}, headers=curator)
    assert [e["__typename"] for e in again["data"]["createCampaign"]["errors"]] == ["ConflictError"]
    employee = await gql(CREATE, {"input": {"name": "Mine"}})
    assert [e["__typename"] for e in employee["data"]["createCampaign"]["errors"]] == ["PermissionDeniedError"]


async def test_an_items_audience_is_set_and_the_feed_passes_its_filters(
    gql: Gql, issuer: Issuer, downstream: Downstream
) -> None:
    item = downstream.add_item()
    team = downstream.add_team("Sales")
    body = await gql(
        """mutation($input: SetContentItemAudienceInput!) {
             setContentItemAudience(input: $input) { contentItem { id } errors { message path } } }""",
        {
            "input": {
                "id": to_global_id("ContentItem", item.id),
                "audience": {"teamIds": [to_global_id("Team", team.id)], "roles": ["EMPLOYEE"]},
            }
        },
        headers=curator_headers(issuer),
    )
    assert body["data"]["setContentItemAudience"]["errors"] == [], body
    assert [str(t) for t in downstream.items[item.id].audience.team_ids] == [str(team.id)]

    campaign_id = uuid.uuid4()
    feed = await gql(
        """query($c: ID!) { feed(first: 5, topic: "energy", campaignId: $c) {
             edges { cursor node { id sharedByMe pinned } } } }""",
        {"c": to_global_id("Campaign", campaign_id)},
    )
    assert feed["data"]["feed"]["edges"][0]["node"]["sharedByMe"] is False
    (call,) = downstream.calls_to("content", "/api/v1/feed")
    assert call.query["topic"] == "energy" and call.query["campaign_id"] == str(campaign_id)
    wrong = await gql('{ feed(first: 5, campaignId: "nope") { edges { cursor } } }')
    assert error_codes(wrong) == ["validation_failed"]
