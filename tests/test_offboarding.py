"""The offboarding kill-switch on the real stack (issue 6, item 5): an admin deactivates a member in
GraphQL, and from that one MemberDeactivated every service refuses the member's still-valid token,
sharing has deleted their social connections and refuses new shares, while a click on a link they
posted before keeps redirecting and counting."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from condividi.identity import Role
from condividi.testing import RunningSystem, eventually
from gateway.relay import to_global_id
from tests.test_slice import BROWSER, graphql, publish_article, settled, share

DEACTIVATE = """mutation($input: DeactivateMemberInput!) {
  deactivateMember(input: $input) { member { id active } errors { __typename message } } }"""
STATS = """query($id: ID!) { contentItem(id: $id) { stats { clicks } } }"""


def social_connections(system: RunningSystem, subject: str) -> int:
    async def count() -> int:
        engine = create_async_engine(system.databases["sharing"])
        try:
            async with engine.connect() as connection:
                query = text("SELECT count(*) FROM social_connections WHERE member_id = :subject")
                return int((await connection.execute(query, {"subject": subject})).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(count())


def test_one_deactivation_stops_the_member_in_every_service(system: RunningSystem) -> None:
    org, urls = uuid.uuid4(), system.urls
    admin = system.issuer.headers(org=org, roles=[Role.ADMIN], subject="offboarding-admin")
    subject = f"leaver-{uuid.uuid4().hex[:6]}"
    leaver = system.issuer.headers(org=org, roles=[Role.EMPLOYEE], subject=subject)
    member = httpx.post(
        f"{urls['policy']}/api/v1/members",
        json={"subject": subject, "email": f"{subject}@acme.example", "name": "Leo Aver", "roles": ["employee"]},
        headers=admin,
    )
    assert member.status_code == 201, member.text
    connected = httpx.post(
        f"{urls['sharing']}/api/v1/connections",
        json={"network": "linkedin", "handle": "leo", "audience_size": 500},
        headers=leaver,
    )
    assert connected.status_code == 201, connected.text
    item_id = publish_article(system, org)
    posted = settled(system, leaver, share(system, leaver, item_id, "What we built this year, in my words.")["id"])
    assert posted["status"] == "PUBLISHED", posted

    result = graphql(system, DEACTIVATE, admin, input={"memberId": to_global_id("Member", member.json()["id"])})
    payload = result["data"]["deactivateMember"]
    assert payload["errors"] == [] and payload["member"]["active"] is False, result

    refusals = {
        "policy": ("GET", f"{urls['policy']}/api/v1/members/me", None),
        "content": ("GET", f"{urls['content']}/api/v1/feed", None),
        "sharing": ("GET", f"{urls['sharing']}/api/v1/connections", None),
        "metrics": ("GET", f"{urls['metrics']}/api/v1/content-stats/{item_id}", None),
        "new share": (
            "POST",
            f"{urls['sharing']}/api/v1/shares",
            {"content_id": item_id, "network": "x", "text": "One more, after I left"},
        ),
    }

    def refused_everywhere() -> dict[str, int] | None:
        answers = {
            name: httpx.request(method, url, json=body, headers=leaver, timeout=10)
            for name, (method, url, body) in refusals.items()
        }
        codes = {name: a.status_code for name, a in answers.items()}
        if set(codes.values()) != {403}:
            return None
        assert {a.json()["error"]["code"] for a in answers.values()} == {"member_deactivated"}
        return codes

    # One event's delivery: each service's roster consumer applies the same MemberDeactivated.
    eventually(refused_everywhere, timeout=20)
    through_gateway = graphql(system, "{ feed(first: 1) { edges { node { id } } } }", leaver)
    assert [e["extensions"]["code"] for e in through_gateway["errors"]] == ["member_deactivated"], through_gateway
    # The connection, and the token it held, went with the same event.
    assert social_connections(system, subject) == 0

    # The post is still out there: its link keeps redirecting, and the click counts.
    click = httpx.get(posted["trackingUrl"], headers=BROWSER, follow_redirects=False)
    assert click.status_code == 302

    def counted() -> bool:
        item = graphql(system, STATS, admin, id=to_global_id("ContentItem", item_id))["data"]["contentItem"]
        return bool(item["stats"]["clicks"] == 1)

    eventually(counted)
