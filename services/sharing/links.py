"""Tracking links and the click redirect ``GET /r/{code}``: the one hot path of the system.

It runs as plain ASGI in front of FastAPI's routing (which costs several times a bare handler), keeps
links in memory (they never change once made), and records each counted click in the click spool before
it answers (``spool.py``; a shipper process publishes them), or, without a spool directory, queues it
for the outbox, written in batches behind the redirect.
Which requests count as clicks is decided in ``click_filter``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from prometheus_client import Counter
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from starlette.responses import HTMLResponse
from starlette.types import Receive, Scope, Send

from condividi.contracts.envelope_pb2 import Envelope
from condividi.contracts.sharing_pb2 import LinkClicked
from condividi.db import Database
from condividi.errors import error_response
from condividi.events import new_envelope
from condividi.observability import request_id_var
from services.sharing.click_filter import (
    LINK_RATE,
    REPEAT,
    VISITOR_RATE,
    ClickFilter,
    CrawlerCheck,
    is_crawler,
    visitor_hasher,
)
from services.sharing.models import CatalogItem, Share, ShareStatus
from services.sharing.spool import ClickSpool, link_prefix

log = logging.getLogger(__name__)

CLICKS = Counter("clicks_total", "Tracking-link requests", ["outcome"])
# The children the click path increments, looked up once (a labels() call takes a lock each time).
_UNKNOWN = CLICKS.labels("unknown")
_NOT_COUNTED = CLICKS.labels("not_counted")  # crawlers, previews, programs, HEAD, no user agent
_FILTERED = {outcome: CLICKS.labels(outcome) for outcome in (REPEAT, VISITOR_RATE, LINK_RATE)}
_COUNTED = CLICKS.labels("counted")
_LOST = CLICKS.labels("lost")
_NS_PER_DAY = 86_400 * 1_000_000_000

_CODE = re.compile(r"[A-Za-z0-9_-]{4,32}")


def new_tracking_code() -> str:
    return secrets.token_urlsafe(6)  # 8 characters, 48 random bits


def tracking_url(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/r/{code}"


def with_utm(url: str, *, network: str, share_id: uuid.UUID, campaign: str = "condividi") -> str:
    """Adds the UTM parameters the analytics of the target site read; ``campaign`` is the item's
    campaign's UTM name. The curator's query is kept byte for byte (a signed URL stays valid), and
    their own ``utm_*`` in the URL win: they name their campaign better than we can."""
    parts = urlsplit(url)
    present = {key for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    ours = [
        (key, value)
        for key, value in (
            ("utm_source", network),
            ("utm_medium", "employee_advocacy"),
            ("utm_campaign", campaign or "condividi"),
            ("utm_content", str(share_id)),
        )
        if key not in present
    ]
    if not ours:
        return url
    query = f"{parts.query}&{urlencode(ours)}" if parts.query else urlencode(ours)
    return urlunsplit(parts._replace(query=query))


@dataclass
class LinkTarget:
    share_id: uuid.UUID
    org_id: uuid.UUID
    content_id: uuid.UUID
    member_id: str
    network: str
    location: bytes  # the redirect target, UTM included, ready for the Location header
    tracking_code: str = ""

    @cached_property
    def share_key(self) -> str:
        return str(self.share_id)

    @cached_property
    def content_key(self) -> str:
        return str(self.content_id)

    @cached_property
    def spool_prefix(self) -> bytes:
        """What every spooled click of this link carries (spool.link_prefix), serialised once."""
        return link_prefix(self.org_id, self.click())

    def click(self, visitor_hash: str = "") -> LinkClicked:
        return LinkClicked(
            tracking_code=self.tracking_code,
            share_id=self.share_key,
            content_id=self.content_key,
            member_id=self.member_id,
            network=self.network,
            visitor_hash=visitor_hash,
        )


class LinkDirectory:
    """Tracking code → target, with a bounded LRU cache in front of the database."""

    def __init__(self, db: Database, capacity: int) -> None:
        self.db = db
        self.capacity = capacity
        self._cache: OrderedDict[str, LinkTarget] = OrderedDict()

    def cached(self, code: str) -> LinkTarget | None:
        """The target when it is in memory (nearly every click): no coroutine to create and await."""
        target = self._cache.get(code)
        if target is not None:
            self._cache.move_to_end(code)
        return target

    async def find(self, code: str) -> LinkTarget | None:
        target = self.cached(code)
        if target is not None:
            return target
        query = (
            select(Share, col(CatalogItem.url), col(CatalogItem.utm_campaign))
            .join(CatalogItem, CatalogItem.content_id == Share.content_id)  # type: ignore[arg-type]
            .where(Share.tracking_code == code, Share.status == ShareStatus.PUBLISHED)
        )
        async with self.db.read() as session:
            row = (await session.execute(query)).first()
        if row is None:
            return None  # not cached: the share may be published a moment later
        share, latest_url, latest_campaign = row
        # Where the item pointed when it was shared, not where a later revision points.
        url = share.destination_url or latest_url
        campaign = share.utm_campaign or latest_campaign
        target = LinkTarget(
            share_id=share.id,
            org_id=share.org_id,
            content_id=share.content_id,
            member_id=share.member_id,
            network=share.network,
            location=with_utm(url, network=share.network, share_id=share.id, campaign=campaign).encode(),
            tracking_code=code,
        )
        self._cache[code] = target
        if len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return target


class ClickRecorder:
    """Writes ``LinkClicked`` events to the outbox in the background, many clicks per transaction.

    The redirect does not wait for the database: a click is queued and the visitor goes on at once.
    A failed write keeps its clicks queued and tries again; shutdown flushes the queue. What a crash
    (not a shutdown) can lose is the queue of the last moment, at most a few milliseconds of clicks.
    """

    MAX_BATCH = 2000
    # Beyond this many queued clicks (the database has been down a while) the oldest are dropped and
    # counted as lost, rather than letting memory grow without bound.
    MAX_QUEUED = 200_000

    def __init__(self, db: Database) -> None:
        self.db = db
        # Envelopes built when the click happened: their event id and time are the click's, so a write
        # retried after an unknown outcome is recognised as the same events downstream.
        self._queue: deque[Envelope] = deque()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="click-recorder")

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Lets the writer empty the queue (not cancelling a write halfway), then stops it."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace_seconds)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        if self._queue:
            CLICKS.labels("lost").inc(len(self._queue))
            log.error("clicks could not be written at shutdown", extra={"clicks": len(self._queue)})

    def record(self, click: LinkClicked, target: LinkTarget, at_ns: int | None = None) -> None:
        """Queues the click; ``at_ns`` (Unix time in nanoseconds) is when it happened, which decides the
        UTC day its visitor is unique on, so the event carries the very same time."""
        if len(self._queue) >= self.MAX_QUEUED:
            self._queue.popleft()
            CLICKS.labels("lost").inc()
        envelope = new_envelope(click, org_id=target.org_id, aggregate_id=target.share_key, producer=self.db.producer)
        if at_ns is not None:
            envelope.occurred_at.seconds, envelope.occurred_at.nanos = divmod(at_ns, 1_000_000_000)
        self._queue.append(envelope)
        self._wake.set()

    def count(self, target: LinkTarget, visitor: bytes, at_ns: int) -> None:
        self.record(target.click(visitor.hex()), target, at_ns)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                if not await self._flush():
                    # While stopping, keep trying briefly: stop() bounds how long (a failover during
                    # a deploy should not cost the queue).
                    await asyncio.sleep(0.2 if self._stopping else 1.0)
            if self._stopping:
                return

    async def _flush(self) -> bool:
        batch = [self._queue.popleft() for _ in range(min(self.MAX_BATCH, len(self._queue)))]
        try:
            try:
                await self._write(batch, skip_existing=False)
            except IntegrityError:
                # An earlier write of some of these committed though it seemed to fail: add the rest.
                await self._write(batch, skip_existing=True)
        except Exception:
            log.exception("clicks could not be written; they stay queued", extra={"clicks": len(batch)})
            self._queue.extendleft(reversed(batch))
            return False
        except BaseException:  # cancelled halfway: the clicks go back, the cancellation goes on
            self._queue.extendleft(reversed(batch))
            raise
        CLICKS.labels("counted").inc(len(batch))
        return True

    async def _write(self, batch: list[Envelope], *, skip_existing: bool) -> None:
        async with self.db.unit_of_work(skip_existing_events=skip_existing) as uow:
            for envelope in batch:
                uow.add(envelope)


class SpoolRecorder:
    """Writes each counted click to the spool before its redirect is answered (services/sharing/spool.py);
    the click shipper takes them from there to Kafka."""

    def __init__(self, spool: ClickSpool) -> None:
        self.spool = spool

    def count(self, target: LinkTarget, visitor: bytes, at_ns: int) -> None:
        try:
            self.spool.append(at_ns, visitor, target.spool_prefix)
        except OSError:
            # The disk is full or gone: the visitor still gets their redirect, the click is counted lost.
            _LOST.inc()
            log.exception("click could not be spooled")
            return
        _COUNTED.inc()


ClickSink = ClickRecorder | SpoolRecorder


def _quality(accept: str, media_type: str) -> float:
    """How much an ``Accept`` header wants ``media_type``: the q of its most specific matching range."""
    kind = media_type.split("/")[0]
    best, specificity = 0.0, -1
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        pattern = fields[0].lower()
        rank = 2 if pattern == media_type else 1 if pattern == f"{kind}/*" else 0 if pattern == "*/*" else -1
        if rank <= specificity:
            continue
        q = 1.0
        for field in fields[1:]:
            name, _, value = field.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        best, specificity = q, rank
    return best


def prefers_html(accept: str) -> bool:
    """A browser asks for text/html before anything else; an API client or curl (``*/*``) gets JSON,
    which also wins a tie."""
    html = _quality(accept, "text/html")
    return html > 0 and html > _quality(accept, "application/json")


_NOT_FOUND_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Link not found</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem">
<h1>This link does not lead anywhere</h1>
<p>It may have been mistyped, or the post it belongs to was not published.</p>
<p style="color: #666"><small>Request id: {request_id}</small></p>
</body></html>
"""


async def _no_such_link(scope: Scope, receive: Receive, send: Send) -> None:
    # This path runs outside the request-id middleware (to keep clicks fast), so it makes its own; and
    # reads Accept only here, so that a click pays nothing for it.
    request_id = uuid.uuid4().hex
    headers = {"x-request-id": request_id, "cache-control": "no-store", "vary": "accept"}
    accept = next((value for name, value in scope["headers"] if name == b"accept"), b"")
    if prefers_html(accept.decode("latin-1")):
        page = HTMLResponse(_NOT_FOUND_PAGE.format(request_id=request_id), status_code=404, headers=headers)
        await page(scope, receive, send)
        return
    token = request_id_var.set(request_id)
    try:
        await error_response(404, "not_found", "no such link", headers=headers)(scope, receive, send)
    finally:
        request_id_var.reset(token)


class ClickRedirect:
    """The ASGI handler of ``GET``/``HEAD /r/{code}``."""

    def __init__(
        self,
        *,
        directory: LinkDirectory,
        recorder: ClickSink,
        salt: str,
        click_filter: ClickFilter,
        crawler_check: CrawlerCheck | None = None,
    ) -> None:
        self.directory = directory
        self.recorder = recorder
        # BLAKE2b takes a key of at most 64 bytes: derive one of that size from a salt of any length.
        self.salt = hashlib.blake2b(salt.encode()).digest()
        self.visitor = visitor_hasher(self.salt)
        self.click_filter = click_filter
        self.is_crawler = crawler_check or is_crawler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        code = scope["path"][3:]
        if scope["method"] not in ("GET", "HEAD"):
            response = error_response(405, "method_not_allowed", "tracking links answer GET and HEAD only")
            response.headers["allow"] = "GET, HEAD"
            await response(scope, receive, send)
            return
        if not _CODE.fullmatch(code):
            await _no_such_link(scope, receive, send)
            return
        try:
            target = self.directory.cached(code) or await self.directory.find(code)
        except Exception:
            # Outside FastAPI's error handling here: answer in the API's error shape all the same.
            log.exception("tracking link lookup failed")
            await error_response(503, "unavailable", "the link cannot be resolved right now; try again")(
                scope, receive, send
            )
            return
        if target is None:
            _UNKNOWN.inc()
            await _no_such_link(scope, receive, send)
            return
        user_agent = b""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                user_agent = value
                break
        client = scope.get("client")
        ip = client[0] if client else ""
        if scope["method"] == "GET" and user_agent and not self.is_crawler(user_agent, ip):
            self._count(code, target, user_agent, ip)
        else:
            _NOT_COUNTED.inc()
        await send(
            {
                "type": "http.response.start",
                "status": 302,
                "headers": [
                    (b"location", target.location),
                    (b"cache-control", b"no-store"),
                    (b"referrer-policy", b"no-referrer-when-downgrade"),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    def _count(self, code: str, target: LinkTarget, user_agent: bytes, ip: str) -> None:
        at_ns = time.time_ns()
        visitor = self.visitor(code=code, day=at_ns // _NS_PER_DAY, ip=ip, user_agent=user_agent)
        filtered = self.click_filter.check(visitor=visitor, address=ip, code=code, now=at_ns / 1e9)
        if filtered is not None:
            _FILTERED[filtered].inc()
            return
        self.recorder.count(target, visitor, at_ns)
