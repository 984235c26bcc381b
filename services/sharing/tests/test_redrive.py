"""A share whose request or decision was lost is asked for again after SHARE_POLICY_TIMEOUT_SECONDS, once
per timeout, never by two replicas at once, and never once it is decided."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import text

from condividi.contracts.sharing_pb2 import ShareRequested
from condividi.db import Database, utcnow
from condividi.events import open_envelope, parse_envelope
from condividi.testing import Infra
from services.sharing.models import Share, ShareStatus
from services.sharing.redrive import redrive_pending
from services.sharing.settings import SharingSettings

SETTINGS = SharingSettings(SHARE_POLICY_TIMEOUT_SECONDS=60, PUBLIC_BASE_URL="https://go.example")


async def add_share(db: Database, status: ShareStatus, age: timedelta) -> Share:
    at = utcnow() - age
    share = Share(
        org_id=uuid.uuid4(),
        member_id="emp-1",
        content_id=uuid.uuid4(),
        network="linkedin",
        text="My own words",
        status=status,
        tracking_code=uuid.uuid4().hex[:12],
        created_at=at,
        updated_at=at,
    )
    async with db.unit_of_work() as uow:
        uow.session.add(share)
    return share


async def requested(db: Database) -> list[str]:
    async with db.read() as session:
        rows = (await session.execute(text("SELECT envelope FROM outbox ORDER BY id"))).scalars()
        return [open_envelope(parse_envelope(r), ShareRequested).payload.share_id for r in rows]


async def test_only_shares_pending_longer_than_the_timeout_are_asked_again_once_per_timeout(infra: Infra) -> None:
    db = Database(infra.new_database("sharing"), producer="sharing", topic="condividi.sharing")
    try:
        stuck = await add_share(db, ShareStatus.PENDING_POLICY, timedelta(minutes=5))
        fresh = await add_share(db, ShareStatus.PENDING_POLICY, timedelta(seconds=10))
        decided = await add_share(db, ShareStatus.PUBLISHED, timedelta(minutes=5))
        assert await redrive_pending(db, SETTINGS) == 1
        assert await requested(db) == [str(stuck.id)]
        async with db.read() as session:
            envelope = parse_envelope((await session.execute(text("SELECT envelope FROM outbox"))).scalar_one())
        asked = open_envelope(envelope, ShareRequested)
        assert asked.org_id == stuck.org_id and asked.aggregate_id == str(stuck.id)
        assert asked.payload.url == f"https://go.example/r/{stuck.tracking_code}"
        assert asked.payload.text == "My own words" and asked.payload.network == "linkedin"
        # asked just now: not again until another timeout has passed
        assert await redrive_pending(db, SETTINGS) == 0
        later = utcnow() + timedelta(seconds=61)
        assert await redrive_pending(db, SETTINGS, now=later) == 2  # the stuck one again, and the fresh one
        assert sorted(await requested(db)) == sorted([str(stuck.id), str(stuck.id), str(fresh.id)])
        assert str(decided.id) not in await requested(db)
    finally:
        await db.dispose()


async def test_two_replicas_never_ask_for_the_same_share(infra: Infra) -> None:
    db = Database(infra.new_database("sharing"), producer="sharing", topic="condividi.sharing")
    other_replica = Database(db.engine.url.render_as_string(hide_password=False), producer="sharing")
    try:
        shares = [await add_share(db, ShareStatus.PENDING_POLICY, timedelta(minutes=5)) for _ in range(30)]
        counts = await asyncio.gather(*(redrive_pending(d, SETTINGS) for d in (db, other_replica, db, other_replica)))
        assert sum(counts) == 30
        assert sorted(await requested(db)) == sorted(str(s.id) for s in shares)

        # A share locked by a transaction in progress (policy's decision being applied) is skipped.
        locked = await add_share(db, ShareStatus.PENDING_POLICY, timedelta(minutes=5))
        later = utcnow() + timedelta(minutes=2)
        async with other_replica.unit_of_work() as uow:
            await uow.session.get(Share, locked.id, with_for_update=True)
            assert await asyncio.wait_for(redrive_pending(db, SETTINGS, now=later), 10) == 30
        assert (await requested(db)).count(str(locked.id)) == 0
    finally:
        await other_replica.dispose()
        await db.dispose()
