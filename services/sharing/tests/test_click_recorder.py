"""The queue behind the click redirect: nothing queued is lost at shutdown, and a write retried after an
outcome it could not know adds no duplicate."""

import asyncio
import uuid

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from condividi.contracts.sharing_pb2 import LinkClicked
from condividi.db import Database
from condividi.testing import Infra
from services.sharing.links import ClickRecorder, LinkTarget, is_crawler
from services.sharing.settings import SharingSettings


def target() -> LinkTarget:
    return LinkTarget(
        share_id=uuid.uuid4(),
        org_id=uuid.uuid4(),
        content_id=uuid.uuid4(),
        member_id="emp-1",
        network="x",
        location=b"https://acme.example/",
    )


async def outbox_ids(db: Database) -> list[uuid.UUID]:
    async with db.read() as session:
        return list((await session.execute(text("SELECT event_id FROM outbox ORDER BY id"))).scalars())


async def test_stop_writes_every_queued_click(infra: Infra) -> None:
    db = Database(infra.new_database("sharing"), producer="sharing")
    recorder = ClickRecorder(db)
    recorder.start()
    link = target()
    for n in range(300):
        recorder.record(LinkClicked(tracking_code="abcdefgh", visitor_hash=f"v{n}"), link)
    for _ in range(3):
        await asyncio.sleep(0)  # let the writer take a batch and start writing it
    await recorder.stop()  # with a write in flight and clicks still queued
    try:
        assert len(await outbox_ids(db)) == 300
    finally:
        await db.dispose()


async def test_a_batch_written_again_adds_no_duplicate(infra: Infra) -> None:
    db = Database(infra.new_database("sharing"), producer="sharing")
    recorder = ClickRecorder(db)
    link = target()
    for n in range(80):
        recorder.record(LinkClicked(tracking_code="abcdefgh", visitor_hash=f"v{n}"), link)
    queued = list(recorder._queue)
    try:
        # The first write committed, but (say) the connection dropped before the answer came back.
        await recorder._write(queued[:30], skip_existing=False)
        assert await recorder._flush()
        ids = await outbox_ids(db)
        assert len(ids) == 80 == len(set(ids))
        assert ids == [uuid.UUID(e.event_id) for e in queued]
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("user_agent", "crawler"),
    [
        (b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36", False),
        (b"LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", True),
        (b"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", True),
        (b"Twitterbot/1.0", True),
        (b"WhatsApp/2.23.20.0", True),
        (b"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", True),
        (b"TelegramBot (like TwitterBot)", True),
        (b"Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", True),
        (b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", True),
        (b"http.rb/5.1.1 (Mastodon/4.2.1; +https://mastodon.social/) Bot", True),
        (b"Mozilla/5.0 (compatible; Bluesky Cardyb/1.1; +mailto:support@bsky.app)", True),
        (b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) SkypeUriPreview Preview/0.5", True),
        # What a newcomer tries a link with: command-line tools, HTTP libraries, headless browsers.
        (b"curl/8.5.0", True),
        (b"Wget/1.21.4", True),
        (b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/130.0.0.0 Safari/537.36", True),
        (b"Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 PhantomJS/2.1.1 Safari/538.1", True),
        (b"python-requests/2.32.3", True),
        (b"python-httpx/0.28.1", True),
        (b"Python/3.11 aiohttp/3.10.5", True),
        (b"Go-http-client/1.1", True),
        (b"HTTPie/3.2.2", True),
        (b"okhttp/4.12.0", True),
        (b"Java/17.0.9", True),
        (b"node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", True),
        (b"axios/1.7.2", True),
        # People, in the browsers and apps they read posts in.
        (b"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", False),
        (
            b"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            b"Version/18.1 Mobile/15E148 Safari/604.1",
            False,
        ),
        (
            b"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 "
            b"Mobile Safari/537.36 [LinkedInApp]/9.30",
            False,
        ),
        (b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 Edg/131.0", False),
    ],
)
def test_link_preview_crawlers_are_recognised(user_agent: bytes, crawler: bool) -> None:
    assert is_crawler(user_agent) is crawler


def test_the_development_salt_is_refused_outside_development() -> None:
    with pytest.raises(ValidationError, match="CLICK_HASH_SALT"):
        SharingSettings(ENVIRONMENT="production")
    assert SharingSettings(ENVIRONMENT="production", CLICK_HASH_SALT="a-real-secret").CLICK_HASH_SALT
