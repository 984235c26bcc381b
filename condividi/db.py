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


async def _nothing_to_reset(_: asyncpg.Connection) -> None:
    """The fast pool only ever runs one SELECT per checkout (``Database.fetch``): no SET, LISTEN, lock
    or open transaction survives it. asyncpg's default reset (``RESET ALL; UNLISTEN *; ...``, a round
    trip on every release) was half of the feed's samples in the profile; it has nothing to undo."""


class Database:
    def __init__(self, url: str, *, producer: str, topic: str | None = None, pool_size: int = 10) -> None:
        self.producer = producer
        self.topic = topic or topic_of(producer)
        self.engine: AsyncEngine = create_async_engine(url, pool_size=pool_size, pool_pre_ping=True)
        # Reads have a pool of their own, in autocommit and without the pre-ping: the ping (BEGIN, a
        # round trip, ROLLBACK under SQLAlchemy's asyncpg dialect) and the transaction around a single
        # SELECT were five of a read's six round trips (bench/README.md, the read path). A SELECT alone
        # sees one snapshot either way. What the ping guarded against: after a database restart, the
        # first read on each stale connection fails (503 database_unavailable) and SQLAlchemy then
        # discards the whole pool, so a client's retry succeeds. No overflow: the reads' connections
        # stay bounded by ``pool_size`` however many requests queue for them.
        self.read_engine: AsyncEngine = create_async_engine(
            url, pool_size=pool_size, max_overflow=0, isolation_level="AUTOCOMMIT"
        )
        # expire_on_commit=False: rows stay readable after commit without a lazy load (which would
        # raise MissingGreenlet under asyncio).
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._pool_size = pool_size
        self._fast_pool: asyncpg.Pool | None = None
        self._fast_pool_lock = asyncio.Lock()
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
        """A session for queries only, in autocommit: each statement is its own snapshot, and nothing
        written here would be undone (so write only through ``unit_of_work``)."""
        async with self.read_sessions() as session:
            yield session

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        """One read on a plain asyncpg pool, for the hottest reads (the feed): SQLAlchemy's statement
        building, compiled-cache look-up, pool and result machinery were a third of the feed's CPU
        once the round trips were gone (bench/README.md). Autocommit, one round trip (the statement
        is prepared once per connection). A dead connection answers like SQLAlchemy's: 503."""
        pool = self._fast_pool or await self._open_fast_pool()
        try:
            rows: list[asyncpg.Record] = await pool.fetch(query, *args)
            return rows
        except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError) as exc:
            raise OperationalError(query, None, exc) from exc

    async def _open_fast_pool(self) -> asyncpg.Pool:
        async with self._fast_pool_lock:
            if self._fast_pool is None:
                _, options = self.read_engine.dialect.create_connect_args(self.read_engine.url)
                try:
                    self._fast_pool = await asyncpg.create_pool(
                        min_size=0, max_size=self._pool_size, reset=_nothing_to_reset, **options
                    )
                except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError) as exc:
                    raise OperationalError("connect", None, exc) from exc
            return self._fast_pool

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        await self.read_engine.dispose()
        if self._fast_pool is not None:
            await self._fast_pool.close()
            self._fast_pool = None
