"""Captions and the personal-touch score on the real stack (the gateway and the four services on
PostgreSQL and the broker): a curator sets captions, an employee is offered the one for their network,
shares it edited, and the share records how much of it is their own, which reaches policy in
ShareRequested."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

from condividi.contracts.sharing_pb2 import ShareRequested
from condividi.events import open_envelope, parse_envelope
from condividi.identity import Role
from condividi.testing import Infra, RunningSystem, eventually
from gateway.relay import from_global_id


def _graphql(system: RunningSystem, query: str, variables: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    response = httpx.post(
        f"{system.urls['gateway']}/graphql", json={"query": query, "variables": variables}, headers=headers, timeout=15
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def _catalog_has_captions(database_url: str, content_id: uuid.UUID) -> bool:
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        captions = await connection.fetchval(
            "SELECT jsonb_array_length(captions) FROM content_catalog WHERE content_id = $1", content_id
        )
    finally:
        await connection.close()
    return bool(captions)


async def _share_requested(bootstrap: str, topic: str, share_id: str) -> ShareRequested | None:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        for _ in range(100):
            for record in (r for rs in (await consumer.getmany(timeout_ms=200)).values() for r in rs):
                envelope = parse_envelope(record.value)
                if envelope.type == ShareRequested.DESCRIPTOR.full_name:
                    event = open_envelope(envelope, ShareRequested)
                    if event.payload.share_id == share_id:
                        payload: ShareRequested = event.payload
                        return payload
    finally:
        await consumer.stop()
    return None


def test_a_share_of_an_edited_caption_records_its_personal_touch_and_policy_is_told(
    system: RunningSystem, infra: Infra
) -> None:
    org = uuid.uuid4()
    curator = system.issuer.headers(org=org, roles=[Role.CURATOR], subject="curator-captions")
    employee = system.issuer.headers(org=org, roles=[Role.EMPLOYEE], subject=f"employee-{uuid.uuid4().hex[:6]}")
    created = _graphql(
        system,
        """mutation($i: CreateContentItemInput!) {
             createContentItem(input: $i) { contentItem { id } errors { message } } }""",
        {"i": {"title": "Our new plant", "url": "https://acme.example/plant", "suggestedCaption": "Proud!"}},
        curator,
    )
    item_id = created["createContentItem"]["contentItem"]["id"]
    captions = [
        {"network": "LINKEDIN", "text": "Our new plant in Turin opens today, with 200 new jobs"},
        {"language": "it", "text": "Il nostro nuovo stabilimento a Torino apre oggi"},
    ]
    set_captions = _graphql(
        system,
        """mutation($i: SetCaptionsInput!) { setCaptions(input: $i) {
             contentItem { id captions { network language text } } errors { message path } } }""",
        {"i": {"contentItemId": item_id, "captions": captions}},
        curator,
    )
    assert set_captions["setCaptions"]["errors"] == []
    assert {c["text"] for c in set_captions["setCaptions"]["contentItem"]["captions"]} == {c["text"] for c in captions}
    _graphql(
        system,
        "mutation($id: ID!) { publishContentItem(input: {id: $id}) { contentItem { id } errors { message } } }",
        {"id": item_id},
        curator,
    )

    offered = _graphql(
        system,
        "query($id: ID!) { contentItem(id: $id) { linkedin: caption(network: LINKEDIN) { text network isDefault } "
        "x: caption(network: X) { text isDefault } captions { text } } }",
        {"id": item_id},
        employee,
    )["contentItem"]
    assert offered["linkedin"] == {"text": captions[0]["text"], "network": "LINKEDIN", "isDefault": False}
    assert offered["x"] == {"text": "Proud!", "isDefault": True}
    assert offered["captions"] is None  # for curators only

    # The employee keeps "Our new plant", "opens today, with 200 new jobs" and adds six words of their own.
    text = "Our new plant opens today, with 200 new jobs. I worked on the line myself!"
    share_mutation = """mutation($i: ShareContentInput!) {
      shareContent(input: $i) { share { id personalTouch } errors { __typename message } } }"""

    # Sharing learns of the item's captions from ContentPublished, asynchronously; a share made before
    # that (through the catalog-miss path) is scored against the default caption, as documented.
    decoded_item = from_global_id(item_id)
    assert decoded_item is not None

    def captions_in_sharings_catalog() -> bool | None:
        return asyncio.run(_catalog_has_captions(system.databases["sharing"], decoded_item[1])) or None

    eventually(captions_in_sharings_catalog)

    def shared() -> dict[str, Any] | None:
        answer = _graphql(
            system, share_mutation, {"i": {"contentId": item_id, "network": "LINKEDIN", "text": text}}, employee
        )
        share: dict[str, Any] | None = answer["shareContent"]["share"]
        return share

    share = eventually(shared)
    kept, posted = 9, 15
    assert share["personalTouch"] == round(1 - kept / posted, 4)

    topic = f"{system.kafka_namespace}.condividi.sharing"
    decoded = from_global_id(share["id"])
    assert decoded is not None
    requested = asyncio.run(_share_requested(infra.kafka_bootstrap, topic, str(decoded[1])))
    assert requested is not None, "ShareRequested was not on the broker"
    assert requested.HasField("personal_touch")
    assert requested.personal_touch == share["personalTouch"]
