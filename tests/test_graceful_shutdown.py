"""SIGTERM (what Kubernetes sends) lets a service finish what it has started: requests in flight are
answered, the events they committed are relayed before the process exits, and it exits cleanly."""

from __future__ import annotations

import asyncio
import signal
import uuid

import httpx
from aiokafka import AIOKafkaConsumer

from condividi.devstack.infra import free_port
from condividi.events import parse_envelope
from condividi.identity import Role
from condividi.testing import Infra, Issuer, service_env, start_process, wait_ready


async def test_sigterm_answers_requests_in_flight_and_relays_their_events(
    infra: Infra, issuer: Issuer, tmp_path_factory: object
) -> None:
    namespace = f"shutdown-{uuid.uuid4().hex[:8]}"
    env = service_env(infra, issuer, "content", infra.new_database("content"), kafka_namespace=namespace)
    port = free_port()
    log = tmp_path_factory.mktemp("shutdown") / "content.log"  # type: ignore[attr-defined]
    process = start_process("content", port, env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(wait_ready, url, process)
        org = uuid.uuid4()
        curator = issuer.headers(org=org, roles=[Role.CURATOR], subject="curator-1")
        async with httpx.AsyncClient(base_url=url, headers=curator, timeout=30) as client:
            created = [
                (await client.post("/api/v1/content-items", json={"title": f"t{n}", "url": "https://a.example"})).json()
                for n in range(40)
            ]

            async def publish(item_id: str) -> int | str:
                try:
                    return (await client.post(f"/api/v1/content-items/{item_id}/publish")).status_code
                except httpx.TransportError as exc:
                    return type(exc).__name__  # refused: sent after the server stopped accepting

            in_flight = [asyncio.create_task(publish(item["id"])) for item in created]
            await asyncio.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            outcomes = await asyncio.gather(*in_flight)
        exit_code = await asyncio.to_thread(process.wait, 30)
    finally:
        if process.poll() is None:
            process.kill()
    # uvicorn re-raises the signal once it has shut down cleanly, so the exit status names SIGTERM.
    assert exit_code in (0, -signal.SIGTERM), log.read_text()[-3000:]
    assert '"message": "service stopped"' in log.read_text(), "the lifespan shutdown did not complete"
    answered = [o for o in outcomes if isinstance(o, int)]
    assert answered, "no request was in flight when SIGTERM arrived"
    assert set(answered) == {200}, outcomes
    # A request that arrives as the server closes its idle keep-alive connections is refused or
    # closed unanswered (Kubernetes' preStop pause keeps such requests away); it must then have changed
    # nothing, so that the client can safely send it again.
    refused = {item["id"] for item, o in zip(created, outcomes, strict=True) if not isinstance(o, int)}
    assert {o for o in outcomes if not isinstance(o, int)} <= {"ConnectError", "ReadError", "RemoteProtocolError"}

    # Every publish that was answered committed a ContentPublished; all of them reached Kafka.
    consumer = AIOKafkaConsumer(
        f"{namespace}.condividi.content",
        bootstrap_servers=infra.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    relayed: set[str] = set()
    published = {item["id"] for item, o in zip(created, outcomes, strict=True) if o == 200}
    try:
        for _ in range(20):
            if published <= relayed:
                break
            for records in (await consumer.getmany(timeout_ms=250)).values():
                relayed |= {parse_envelope(r.value).aggregate_id for r in records if r.value}
    finally:
        await consumer.stop()
    assert published <= relayed, f"{len(published - relayed)} events were not relayed before exit"
    assert not refused & relayed, "a request that got no answer was carried out"
