"""The link-preview worker's queue on PostgreSQL: replicas never take the same row (FOR UPDATE SKIP
LOCKED, then a lease), a row another transaction holds is skipped rather than waited for, and a refresh
during a fetch wins over the fetch."""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlmodel import col, select

from condividi.db import Database, utcnow
from condividi.safe_fetch import FetchPolicy
from condividi.testing import Infra
from services.content.models import ContentItem, ContentStatus
from services.content.previews.models import LinkPreview, PreviewStatus
from services.content.previews.worker import claim, fetch_one, request_link_preview
from tests.pages import Page, PageServer, html_page

POLICY = FetchPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),), timeout_seconds=5.0)


@pytest.fixture
async def db(infra: Infra) -> AsyncIterator[Database]:
    database = Database(infra.new_database("content"), producer="content")
    yield database
    await database.dispose()


async def new_item(db: Database, url: str) -> ContentItem:
    now = utcnow()
    item = ContentItem(
        org_id=uuid.uuid4(),
        title="Item",
        url=url,
        status=ContentStatus.DRAFT,
        created_by="curator-1",
        created_at=now,
        updated_at=now,
    )
    async with db.unit_of_work() as uow:
        uow.session.add(item)
        await request_link_preview(uow.session, org_id=item.org_id, item_id=item.id, url=item.url)
    return item


async def test_replicas_never_take_the_same_preview_and_skip_rows_held_elsewhere(db: Database) -> None:
    for i in range(30):
        await new_item(db, f"https://acme.example/{i}")

    async with db.unit_of_work() as held:
        # Another transaction holds five rows (a replica in the middle of its claim).
        locked = (await held.session.execute(select(LinkPreview).limit(5).with_for_update())).scalars().all()
        first, second = await asyncio.wait_for(asyncio.gather(claim(db, limit=10), claim(db, limit=10)), 10)
        rest = await asyncio.wait_for(claim(db, limit=100), 10)

    taken = [t[0] for t in (*first, *second, *rest)]
    assert len(taken) == len(set(taken)) == 25
    assert not {row.id for row in locked} & set(taken)
    # Leased now: nobody takes them again until the lease runs out.
    assert len(await claim(db, limit=100)) == 5  # the five that were held
    assert await claim(db, limit=100) == []


async def test_a_refresh_during_a_fetch_wins_over_the_fetch(db: Database) -> None:
    with PageServer() as pages:
        pages.add("/page", Page(body=html_page(image=None)))
        item = await new_item(db, pages.url("/page"))
        [(preview_id, url, generation)] = await claim(db)

        async with db.unit_of_work() as uow:  # the curator refreshes while the worker fetches
            await request_link_preview(uow.session, org_id=item.org_id, item_id=item.id, url=item.url)
        await fetch_one(db, POLICY, preview_id, url, generation, _no_dns)
        async with db.read() as session:
            row = (await session.execute(select(LinkPreview).where(col(LinkPreview.id) == preview_id))).scalar_one()
        assert (row.status, row.generation, row.fetched_at) == (PreviewStatus.PENDING, generation + 1, None)

        # The refresh released the row: the next look takes it with its new generation, and that fetch writes.
        [(again, _, newer)] = await claim(db)
        assert (again, newer) == (preview_id, generation + 1)
        await fetch_one(db, POLICY, preview_id, url, newer, _no_dns)
        async with db.read() as session:
            row = (await session.execute(select(LinkPreview).where(col(LinkPreview.id) == preview_id))).scalar_one()
        assert row.status == PreviewStatus.READY
        assert [f["code"] for f in row.findings] == ["not_https", "no_og_image"]


async def _no_dns(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    raise AssertionError(f"the page's address is literal: no lookup of {host} expected")
