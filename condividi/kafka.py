"""Kafka clients configured the same way everywhere."""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context

from condividi.settings import ServiceSettings

log = logging.getLogger(__name__)


def connection_options(settings: ServiceSettings) -> dict[str, Any]:
    """How every client reaches the brokers: the bootstrap servers and, when the listener wants them,
    TLS (verifying the brokers against KAFKA_SSL_CAFILE, else the system's CAs) and a SASL login."""
    protocol = settings.KAFKA_SECURITY_PROTOCOL
    options: dict[str, Any] = {
        "bootstrap_servers": settings.KAFKA_BOOTSTRAP_SERVERS,
        "security_protocol": protocol,
    }
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(cafile=settings.KAFKA_SSL_CAFILE or None)
    if protocol.startswith("SASL_"):
        options["sasl_mechanism"] = settings.KAFKA_SASL_MECHANISM
        options["sasl_plain_username"] = settings.KAFKA_SASL_USERNAME
        options["sasl_plain_password"] = settings.KAFKA_SASL_PASSWORD.get_secret_value()
    return options


def make_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **connection_options(settings),
        client_id=settings.SERVICE_NAME,
        acks="all",
        enable_idempotence=settings.KAFKA_ENABLE_IDEMPOTENCE,
        linger_ms=2,
    )


def make_consumer(settings: ServiceSettings, group: str) -> AIOKafkaConsumer:
    """A consumer of ``group`` ("<service>.<purpose>", namespaced here) that commits nothing by itself:
    the caller commits what it has applied."""
    return AIOKafkaConsumer(
        **connection_options(settings),
        group_id=settings.kafka_name(group),
        client_id=f"{settings.SERVICE_NAME}-{group}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=2000,
        session_timeout_ms=settings.KAFKA_SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=settings.KAFKA_HEARTBEAT_INTERVAL_MS,
    )


def make_admin(settings: ServiceSettings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**connection_options(settings), client_id=f"{settings.SERVICE_NAME}-admin")


async def ensure_topics(settings: ServiceSettings, topics: list[str]) -> None:
    """Creates the topics that are missing (an existing topic is left as it is)."""
    admin = make_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if not missing:
            return
        response = await admin.create_topics(
            [NewTopic(t, settings.KAFKA_TOPIC_PARTITIONS, settings.KAFKA_REPLICATION_FACTOR) for t in missing]
        )
        for topic, code, *_ in getattr(response, "topic_errors", []):
            if code not in (0, TopicAlreadyExistsError.errno):
                raise RuntimeError(f"could not create topic {topic}: error code {code}")
        log.info("created topics", extra={"topics": missing})
    finally:
        await admin.close()
