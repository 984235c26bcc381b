"""The database of one service and its unit of work.

A use case opens ``db.unit_of_work()``, changes rows and calls ``uow.emit(...)``; everything, the
events' outbox rows included, commits once when the block ends (or rolls back on error). That single
commit is what makes an event and its state change happen together or not at all.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
from google.protobuf.message import Message
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from condividi.contracts.envelope_pb2 import Envelope
from condividi.events import new_envelope, topic_of
from condividi.messaging_tables import OutboxMessage
from condividi.observability import current_traceparent

OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
OUTBOX_COLUMNS = ("event_id", "topic", "key", "event_type", "envelope", "created_at")
_COPY_FROM = 50


def utcnow() -> datetime:
    return datetime.now(UTC)


class UnitOfWork:
    def __init__(self, session: AsyncSession, producer: str, topic: str) -> None:
        self.session = session
        self.producer = producer
        self.topic = topic
        # Outbox rows (in OUTBOX_COLUMNS order), written in one go when the unit of work commits.
        self.outbox: list[tuple[object, ...]] = []
        # One time for the whole unit of work: its rows are written together.
        self.started_at = utcnow()

    @property
    def emitted(self) -> int:
        return len(self.outbox)

    def emit(
        self,
        payload: Message,
        *,
        org_id: uuid.UUID | str,
        aggregate_id: uuid.UUID | str,
    ) -> uuid.UUID:
        """Write an event to the outbox as part of this unit of work; returns its event id. The event
        carries the trace context of the request or event being handled."""
        return self.add(
            new_envelope(
                payload,
                org_id=org_id,
                aggregate_id=aggregate_id,
                producer=self.producer,
                traceparent=current_traceparent(),
            )
        )

    def add(self, envelope: Envelope) -> uuid.UUID:
        """Write an event built beforehand (its id and time already fixed) to the outbox."""
        event_id = uuid.UUID(envelope.event_id)
        self.outbox.append(
            (event_id, self.topic, envelope.aggregate_id, envelope.type, envelope.SerializeToString(), self.started_at)
        )
        return event_id

    async def write_outbox(self, *, skip_existing: bool = False) -> None:
        """``skip_existing``: events already in the outbox (same event id) are left out, for a writer
        that retries after a commit whose outcome it could not know."""
        if not self.outbox:
            return
        if len(self.outbox) < _COPY_FROM or skip_existing:
            rows = [dict(zip(OUTBOX_COLUMNS, row, strict=True)) for row in self.outbox]
            statement = pg_insert(OUTBOX)
            if skip_existing:
                statement = statement.on_conflict_do_nothing(index_elements=["event_id"])
            await self.session.execute(statement, rows)
            return
        # Many rows (a batch of clicks): COPY, in this same transaction, costs a fraction of INSERTs.
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        try:
            await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                "outbox", records=self.outbox, columns=OUTBOX_COLUMNS
            )
        # The driver's own errors, raised past SQLAlchemy: give callers the ones they expect.
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError("COPY INTO outbox", None, exc) from exc
        except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError) as exc:
            raise OperationalError("COPY INTO outbox", None, exc) from exc


class Database:
    def __init__(self, url: str, *, producer: str, topic: str | None = None, pool_size: int = 10) -> None:
        self.producer = producer
        self.topic = topic or topic_of(producer)
        self.engine: AsyncEngine = create_async_engine(url, pool_size=pool_size, pool_pre_ping=True)
        # expire_on_commit=False: rows stay readable after commit without a lazy load (which would
        # raise MissingGreenlet under asyncio).
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Set after a commit that wrote outbox rows, so the relay publishes at once instead of polling.
        self.outbox_written = asyncio.Event()

    @asynccontextmanager
    async def unit_of_work(self, *, skip_existing_events: bool = False) -> AsyncIterator[UnitOfWork]:
        async with self.sessions() as session, session.begin():
            uow = UnitOfWork(session, self.producer, self.topic)
            yield uow
            await uow.write_outbox(skip_existing=skip_existing_events)
        if uow.emitted:
            self.outbox_written.set()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries only; nothing is committed."""
        async with self.sessions() as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
