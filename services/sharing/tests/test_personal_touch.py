"""The personal-touch score on the real service: sharing keeps an item's captions from ContentPublished,
scores a share against the caption offered for its network, stores the score and tells policy."""

import uuid

from condividi.contracts.content_pb2 import Caption, ContentPublished
from condividi.contracts.sharing_pb2 import ShareRequested
from services.sharing.tests.test_shares import ORG, Harness, create_share, employee, harness, poll

__all__ = ["harness"]

CAPTIONS = [
    Caption(network="x", language="", text="Our new plant in Turin opens today"),
    Caption(network="", language="", text="Proud of our new plant"),
]


async def _published(h: Harness, captions: list[Caption], default: str = "") -> str:
    content_id = str(uuid.uuid4())
    event = ContentPublished(
        content_id=content_id,
        title="Plant",
        url="https://acme.example/plant",
        suggested_caption=default,
        captions=captions,
    )
    await h.publish("content", event, org=ORG, aggregate=content_id)
    return content_id


async def test_a_share_records_how_much_of_its_text_is_the_employees_own(harness: Harness) -> None:
    content_id = await _published(harness, CAPTIONS, default="Proud!")
    # X's own caption with "in Turin" dropped and five words added: 5 of the 10 posted words kept in order.
    share = await create_share(harness, content_id, "Our new plant opens today and I helped build it", "x")
    assert share["personal_touch"] == round(1 - 5 / 10, 4)
    # On LinkedIn the caption for every network is offered; posted as it was, nothing is the employee's own.
    as_offered = await create_share(harness, content_id, "Proud of our new plant!", "linkedin")
    assert as_offered["personal_touch"] == 0.0

    requested = await harness.events("sharing", ShareRequested, lambda e: e.payload.share_id == share["id"])
    assert requested and requested[0].payload.HasField("personal_touch")
    assert requested[0].payload.personal_touch == share["personal_touch"]
    stored = await harness.client.get(f"/api/v1/shares/{share['id']}", headers=_headers(harness))
    assert stored.json()["personal_touch"] == share["personal_touch"]


async def test_no_caption_means_no_score_and_policy_is_told_none(harness: Harness) -> None:
    content_id = await _published(harness, [])
    share = await create_share(harness, content_id, "All my own words", "x")
    assert share["personal_touch"] is None
    requested = await harness.events("sharing", ShareRequested, lambda e: e.payload.share_id == share["id"])
    assert requested and not requested[0].payload.HasField("personal_touch")


async def test_changed_captions_announced_again_are_what_later_shares_are_scored_against(harness: Harness) -> None:
    content_id = await _published(harness, [], default="Proud of the team")
    first = await create_share(harness, content_id, "Proud of the team", "threads")
    assert first["personal_touch"] == 0.0
    await _published_again(harness, content_id, [Caption(network="", language="", text="Completely different words")])

    async def share_again() -> dict[str, object]:
        response = await harness.client.post(
            "/api/v1/shares",
            json={"content_id": content_id, "network": "bluesky", "text": "Proud of the team"},
            # A new key each time: a deliberate new share, never a duplicate of the last attempt.
            headers={**_headers(harness), "Idempotency-Key": uuid.uuid4().hex},
        )
        return dict(response.json())

    second = await poll(share_again, lambda s: s.get("personal_touch") == 1.0)
    assert second["personal_touch"] == 1.0


async def _published_again(h: Harness, content_id: str, captions: list[Caption]) -> None:
    event = ContentPublished(
        content_id=content_id,
        title="Plant",
        url="https://acme.example/plant",
        suggested_caption="Proud of the team",
        captions=captions,
    )
    await h.publish("content", event, org=ORG, aggregate=content_id)


def _headers(h: Harness) -> dict[str, str]:
    return employee(h.issuer)
