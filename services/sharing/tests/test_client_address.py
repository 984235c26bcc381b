"""Who clicked a tracking link: the connecting peer, unless that peer is a proxy named in
``FORWARDED_ALLOW_IPS``; only then does ``X-Forwarded-For`` say who is behind it.

Served by a real uvicorn, because its proxy-headers middleware is what rewrites the client address the
redirect hashes into the visitor: a forged header from anyone else must not make one person count as
several unique visitors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from google.protobuf.message import Message
from sqlmodel import col, select

from condividi.contracts.content_pb2 import ContentPublished
from condividi.contracts.policy_pb2 import DecisionOutcome, ShareDecision
from condividi.contracts.sharing_pb2 import LinkClicked
from condividi.devstack.infra import free_port
from condividi.events import new_envelope, open_envelope, parse_envelope
from condividi.identity import Role
from condividi.messaging_tables import OutboxMessage
from condividi.settings import ServiceSettings
from condividi.testing import Infra, Issuer, service_env
from services.sharing.main import build_app
from services.sharing.settings import SharingSettings

ORG = uuid.uuid4()
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130 Safari/537.36"


@asynccontextmanager
async def serving(app: FastAPI, *, lifespan: Literal["on", "off"]) -> AsyncIterator[str]:
    """A real uvicorn on a free port, configured as the processes are: proxy headers on, and the
    trusted proxies read from FORWARDED_ALLOW_IPS (no --forwarded-allow-ips)."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), lifespan=lifespan, log_config=None, access_log=False
    )
    assert config.proxy_headers
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        await task


async def poll(fetch: Callable[[], Awaitable[Any]], until: Callable[[Any], bool], within: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await fetch()
        if until(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.1)


async def published_link(url: str, issuer: Issuer, producer: AIOKafkaProducer, namespace: str) -> str:
    """A published share's tracking code, made the way a member makes one."""

    async def publish(topic: str, payload: Message, aggregate: str) -> None:
        envelope = new_envelope(payload, org_id=ORG, aggregate_id=aggregate, producer=topic)
        await producer.send_and_wait(
            f"{namespace}.condividi.{topic}", envelope.SerializeToString(), key=aggregate.encode()
        )

    content_id = str(uuid.uuid4())
    await publish(
        "content", ContentPublished(content_id=content_id, title="Plant", url="https://acme.example/"), content_id
    )
    headers = issuer.headers(org=ORG, roles=[Role.EMPLOYEE], subject="emp-1")
    async with httpx.AsyncClient(base_url=url, headers=headers) as client:
        created = await poll(
            lambda: client.post(
                "/api/v1/shares", json={"content_id": content_id, "network": "x", "text": "My own words"}
            ),
            lambda r: r.status_code == 202,
        )
        assert created.status_code == 202, created.text
        share = created.json()
        await publish(
            "policy",
            ShareDecision(share_id=share["id"], outcome=DecisionOutcome.DECISION_OUTCOME_APPROVED),
            share["id"],
        )
        published = await poll(
            lambda: client.get(f"/api/v1/shares/{share['id']}"), lambda r: r.json().get("status") == "published"
        )
        assert published.json()["status"] == "published", published.text
        # Only a published share has a tracking link.
        return str(published.json()["tracking_url"]).rsplit("/", 1)[1]


async def visitors(app: FastAPI, code: str, count: int) -> list[str]:
    """The visitor hashes of the link's clicks, in click order, once ``count`` are written."""

    async def read() -> list[str]:
        async with app.state.runtime.db.read() as session:
            rows = (
                await session.execute(
                    select(col(OutboxMessage.envelope))
                    .where(OutboxMessage.event_type == LinkClicked.DESCRIPTOR.full_name)
                    .order_by(col(OutboxMessage.id))
                )
            ).scalars()
            clicks = [open_envelope(parse_envelope(raw), LinkClicked).payload for raw in rows]
        return [c.visitor_hash for c in clicks if c.tracking_code == code]

    found: list[str] = await poll(read, lambda hashes: len(hashes) >= count)
    assert len(found) == count, found
    return found


async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    infra: Infra, issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = f"t{uuid.uuid4().hex[:8]}"
    env = service_env(infra, issuer, "sharing", infra.new_database("sharing"), kafka_namespace=namespace)
    # Every click written, repeats included (the repeat window would keep one per visitor), so that each
    # shows whom it was counted for.
    settings = SharingSettings(
        **env, PUBLIC_BASE_URL="https://go.acme.example", CLICK_HASH_SALT="s3cret", CLICK_REPEAT_WINDOW_SECONDS=0
    )
    app = build_app(settings)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        # This test's client connects from 127.0.0.1: a proxy only when FORWARDED_ALLOW_IPS says so.
        monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.9.8.7")
        async with serving(app, lifespan="on") as direct:
            monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.9.8.7,127.0.0.0/8")
            # The same app (its lifespan already runs) behind a second server that trusts us.
            async with serving(app, lifespan="off") as behind_proxy:
                code = await published_link(direct, issuer, producer, namespace)

                async def click(base: str, forwarded: str | None) -> None:
                    headers = {"User-Agent": BROWSER} | ({"X-Forwarded-For": forwarded} if forwarded else {})
                    async with httpx.AsyncClient() as client:
                        response = await client.get(f"{base}/r/{code}", headers=headers)
                    assert response.status_code == 302

                # Untrusted peer: whatever it claims, it is one visitor (itself).
                await click(direct, None)
                await click(direct, "203.0.113.7")
                await click(direct, "198.51.100.9, 203.0.113.8")
                # Trusted proxy: the address it forwards is the visitor; in a chain, the right-most
                # address the proxy did not add itself (a client's own forged entry on the left is not).
                await click(behind_proxy, "203.0.113.7")
                await click(behind_proxy, "198.51.100.9")
                await click(behind_proxy, "6.6.6.6, 203.0.113.7")
                await click(behind_proxy, "203.0.113.7, 127.0.0.1")

                hashes = await visitors(app, code, 7)
    finally:
        await producer.stop()

    untrusted, trusted = hashes[:3], hashes[3:]
    assert len(set(untrusted)) == 1, "a forged X-Forwarded-For counted as another visitor"
    assert len(set(trusted)) == 2, "a trusted proxy's X-Forwarded-For was not honoured"
    assert trusted[0] == trusted[2] == trusted[3] != trusted[1]
    assert untrusted[0] not in trusted, "behind the proxy, the visitor is not the proxy itself"


@pytest.mark.parametrize("value", ["*", "10.0.0.1/8", "ingress-nginx", "10.0.0.0/16,"])
def test_a_setting_that_would_trust_anyone_or_no_one_by_mistake_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="FORWARDED_ALLOW_IPS"):
        ServiceSettings(FORWARDED_ALLOW_IPS=value)
    assert ServiceSettings(FORWARDED_ALLOW_IPS="10.244.0.0/16, 192.168.1.10").FORWARDED_ALLOW_IPS
