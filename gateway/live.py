"""What makes subscriptions live: the gateway's own Kafka consumer, fanned out to the subscriptions
this replica serves.

**Every replica reads every event.** A subscriber's websocket is held by one replica, and any replica
may hold it, so events cannot be split between replicas the way a consumer group splits them. Each
replica assigns itself every partition of the topics it reads (no consumer group) and starts at their
end. Chosen over a group per replica because there is nothing to commit: a group per pod would leave
an abandoned group on the broker at every restart, and its offsets would only replay events nobody
is waiting for any more. Events missed while a replica was down or reconnecting do not matter: a
subscription reads the current state when it starts, and re-reads it slowly (``reread_seconds``)
as a safety net.

**An event is a trigger, never the data.** On an event about a share that a subscription watches, the
subscription re-reads the share from sharing *with its subscriber's token* (so sharing still decides
who may see what) and pushes it if its status changed. The event's org must be the subscriber's too.

Events read: sharing's ``ShareRequested``, ``SharePublished``, ``ShareRejected`` (topic
``condividi.sharing``) and policy's ``ShareDecision`` (``condividi.policy``): a decision to hold a share
for review reaches sharing and the gateway at the same time, and sharing emits nothing when it applies
it, so after a decision the subscription re-reads a few times shortly after until the change shows.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from google.protobuf.message import Message

from condividi.contracts.policy_pb2 import ShareDecision
from condividi.contracts.sharing_pb2 import SharePublished, ShareRejected, ShareRequested
from condividi.events import UndecodableEvent, open_envelope, parse_envelope, topic_of, type_name
from condividi.kafka import connection_options
from condividi.settings import ServiceSettings

log = logging.getLogger(__name__)

SHARE_EVENTS: dict[str, type[Message]] = {
    type_name(cls): cls for cls in (ShareRequested, SharePublished, ShareRejected, ShareDecision)
}
TOPICS = (topic_of("sharing"), topic_of("policy"))

# After a policy decision, sharing applies it within moments: re-read at these delays until it shows.
DECISION_FOLLOW_UPS = (0.2, 0.5, 1.0, 2.0, 4.0)
STOP_SECONDS = 5.0


@dataclass(frozen=True)
class ShareEvent:
    share_id: uuid.UUID
    org_id: uuid.UUID
    type: str

    @property
    def is_decision(self) -> bool:
        return self.type == type_name(ShareDecision)


def decode(raw: bytes) -> ShareEvent | None:
    """The share an event is about, or ``None`` for events no subscription cares about."""
    envelope = parse_envelope(raw)
    payload_class = SHARE_EVENTS.get(envelope.type)
    if payload_class is None:
        return None
    event = open_envelope(envelope, payload_class)
    try:
        share_id = uuid.UUID(getattr(event.payload, "share_id", ""))
    except ValueError as exc:
        raise UndecodableEvent(f"{envelope.type} without a valid share_id") from exc
    return ShareEvent(share_id=share_id, org_id=event.org_id, type=event.type)


class Watch:
    """One subscription's doorbell: events set it, the subscription waits on it. Many events before
    the subscription wakes make one re-read."""

    def __init__(self, share_id: uuid.UUID, org_id: uuid.UUID) -> None:
        self.share_id = share_id
        self.org_id = org_id
        self._rung = asyncio.Event()
        self.decision_pending = False

    def ring(self, event: ShareEvent) -> None:
        if event.is_decision:
            self.decision_pending = True
        self._rung.set()

    async def wait(self, seconds: float) -> bool:
        """True when an event rang, False when ``seconds`` passed first."""
        try:
            await asyncio.wait_for(self._rung.wait(), seconds)
        except TimeoutError:
            return False
        self._rung.clear()
        return True


class Hub:
    """This replica's subscriptions by share id. Used from the app's event loop only."""

    def __init__(self) -> None:
        self._watches: dict[uuid.UUID, set[Watch]] = {}

    @contextmanager
    def watch(self, share_id: uuid.UUID, org_id: uuid.UUID) -> Iterator[Watch]:
        watch = Watch(share_id, org_id)
        self._watches.setdefault(share_id, set()).add(watch)
        try:
            yield watch
        finally:
            watches = self._watches.get(share_id)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[share_id]

    def deliver(self, event: ShareEvent) -> int:
        """Rings the watches of the event's share in the event's org; returns how many."""
        rung = 0
        for watch in self._watches.get(event.share_id, ()):
            if watch.org_id == event.org_id:
                watch.ring(event)
                rung += 1
        return rung

    @property
    def watching(self) -> int:
        return sum(len(w) for w in self._watches.values())


class LiveEvents:
    """The consumer task: (re)connects with backoff, so that a broker outage never stops the gateway
    (subscriptions then fall back on their slow re-read)."""

    def __init__(self, settings: ServiceSettings, hub: Hub) -> None:
        self.settings = settings
        self.hub = hub
        self.topics = [settings.kafka_name(t) for t in TOPICS]
        # Set while the consumer is positioned at the end of every partition (tests wait on it from
        # another thread, hence not an asyncio.Event).
        self.ready = threading.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway-live-events")

    async def stop(self) -> None:
        """Never holds the gateway's shutdown for long: a consumer stuck on an unreachable broker is
        left behind after a few seconds."""
        if self._task is not None:
            self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=STOP_SECONDS)
            if not done:
                log.warning("live events did not stop in time; leaving them")
            self._task = None

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            consumer = AIOKafkaConsumer(
                # TLS and SCRAM when configured, like every other client of the cluster.
                **connection_options(self.settings),
                client_id=f"{self.settings.SERVICE_NAME}-live",
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="latest",
            )
            try:
                await consumer.start()
                await self._assign_from_end(consumer)
                self.ready.set()
                log.info("reading live events", extra={"topics": self.topics})
                backoff = 0.5
                while True:
                    batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                    for records in batches.values():
                        for record in records:
                            self._handle(record)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the broker's errors are many; none may end the task
                log.warning("live events interrupted; retrying", extra={"error": repr(exc), "retry_in": backoff})
            finally:
                self.ready.clear()
                with suppress(Exception):
                    await asyncio.wait_for(consumer.stop(), STOP_SECONDS)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

    async def _assign_from_end(self, consumer: AIOKafkaConsumer) -> None:
        await consumer.topics()  # loads the cluster's metadata
        partitions: list[TopicPartition] = []
        for topic in self.topics:
            numbers = consumer.partitions_for_topic(topic)
            if not numbers:
                raise RuntimeError(f"topic {topic} does not exist yet")
            partitions.extend(TopicPartition(topic, n) for n in sorted(numbers))
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for partition in partitions:
            await consumer.position(partition)  # resolves the end now, not at the first fetch

    def _handle(self, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.value is None:
            return
        try:
            event = decode(record.value)
        except UndecodableEvent as exc:
            log.warning("undecodable event skipped", extra={"topic": record.topic, "error": str(exc)})
            return
        if event is not None:
            self.hub.deliver(event)
