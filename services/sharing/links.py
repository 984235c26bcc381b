"""Tracking links and the click redirect ``GET /r/{code}``: the one hot path of the system.

It runs as plain ASGI in front of FastAPI's routing (which costs several times a bare handler), keeps
links in memory (they never change once made), and records clicks through the outbox with group
commit: concurrent clicks share one transaction, and each redirect is answered once its click is
durably written, so no click is lost even if the process dies right after.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from prometheus_client import Counter
from sqlmodel import col, select
from starlette.types import ASGIApp, Receive, Scope, Send

from condividi.contracts.sharing_pb2 import LinkClicked
from condividi.db import Database
from condividi.errors import error_response
from condividi.observability import request_id_var
from services.sharing.models import CatalogItem, Share, ShareStatus

log = logging.getLogger(__name__)

CLICKS = Counter("clicks_total", "Tracking-link requests", ["outcome"])

# Link-preview crawlers and bots fetch tracking links too: they get the redirect but are not clicks.
_CRAWLER = re.compile(
    rb"bot|crawl|spider|slurp|preview|facebookexternalhit|facebookcatalog|whatsapp|telegram|skypeuri|"
    rb"embedly|quora link|pinterest|vkshare|w3c_validator|curl|wget|python-|go-http|headless",
    re.IGNORECASE,
)
_CODE = re.compile(r"^[A-Za-z0-9_-]{4,32}$")


def new_tracking_code() -> str:
    return secrets.token_urlsafe(6)  # 8 characters, 48 random bits


def tracking_url(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/r/{code}"


def with_utm(url: str, *, network: str, share_id: uuid.UUID) -> str:
    """Adds the UTM parameters the analytics of the target site read; a curator's own ``utm_*`` in the
    content URL are kept (they name their campaign better than we can)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {k for k, _ in query}
    for key, value in (
        ("utm_source", network),
        ("utm_medium", "employee_advocacy"),
        ("utm_campaign", "condividi"),
        ("utm_content", str(share_id)),
    ):
        if key not in present:
            query.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass(frozen=True)
class LinkTarget:
    share_id: uuid.UUID
    org_id: uuid.UUID
    content_id: uuid.UUID
    member_id: str
    network: str
    location: bytes  # the redirect target, UTM included, ready for the Location header


class LinkDirectory:
    """Tracking code → target, with a bounded LRU cache in front of the database."""

    def __init__(self, db: Database, capacity: int) -> None:
        self.db = db
        self.capacity = capacity
        self._cache: OrderedDict[str, LinkTarget] = OrderedDict()

    async def find(self, code: str) -> LinkTarget | None:
        target = self._cache.get(code)
        if target is not None:
            self._cache.move_to_end(code)
            return target
        query = (
            select(Share, col(CatalogItem.url))
            .join(CatalogItem, CatalogItem.content_id == Share.content_id)  # type: ignore[arg-type]
            .where(Share.tracking_code == code, Share.status == ShareStatus.PUBLISHED)
        )
        async with self.db.read() as session:
            row = (await session.execute(query)).first()
        if row is None:
            return None  # not cached: the share may be published a moment later
        share, url = row
        target = LinkTarget(
            share_id=share.id,
            org_id=share.org_id,
            content_id=share.content_id,
            member_id=share.member_id,
            network=share.network,
            location=with_utm(url, network=share.network, share_id=share.id).encode(),
        )
        self._cache[code] = target
        if len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return target


class ClickRecorder:
    """Writes ``LinkClicked`` events to the outbox, many clicks per transaction."""

    MAX_BATCH = 1000

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: list[tuple[LinkClicked, LinkTarget, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="click-recorder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._pending:
            await self._flush()

    async def record(self, click: LinkClicked, target: LinkTarget) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((click, target, done))
        self._wake.set()
        await done

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                await self._flush()

    async def _flush(self) -> None:
        batch, self._pending = self._pending[: self.MAX_BATCH], self._pending[self.MAX_BATCH :]
        try:
            async with self.db.unit_of_work() as uow:
                for click, target, _ in batch:
                    uow.emit(click, org_id=target.org_id, aggregate_id=target.share_id)
        except Exception as exc:  # noqa: BLE001 - every waiting click must hear of it
            for _, _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for _, _, done in batch:
            if not done.done():
                done.set_result(None)


async def _no_such_link(scope: Scope, receive: Receive, send: Send) -> None:
    # This path runs outside the request-id middleware (to keep clicks fast), so it makes its own.
    request_id = uuid.uuid4().hex
    token = request_id_var.set(request_id)
    try:
        response = error_response(404, "not_found", "no such link", headers={"x-request-id": request_id})
        await response(scope, receive, send)
    finally:
        request_id_var.reset(token)


def visitor_hash(salt: bytes, ip: str, user_agent: bytes) -> str:
    """Who clicked, without storing who: a keyed hash of IP and user agent."""
    return hmac.new(salt, ip.encode() + b"\n" + user_agent, hashlib.sha256).hexdigest()[:32]


class ClickRedirect:
    """ASGI middleware: answers ``GET``/``HEAD /r/{code}`` itself and hands every other request on."""

    def __init__(self, app: ASGIApp, *, directory: LinkDirectory, recorder: ClickRecorder, salt: str) -> None:
        self.app = app
        self.directory = directory
        self.recorder = recorder
        self.salt = salt.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/r/"):
            await self.app(scope, receive, send)
            return
        code = path[3:]
        if scope["method"] not in ("GET", "HEAD") or not _CODE.match(code):
            await _no_such_link(scope, receive, send)
            return
        target = await self.directory.find(code)
        if target is None:
            CLICKS.labels("unknown").inc()
            await _no_such_link(scope, receive, send)
            return
        user_agent = b""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                user_agent = value
                break
        if scope["method"] == "GET" and user_agent and not _CRAWLER.search(user_agent):
            client = scope.get("client")
            ip = client[0] if client else ""
            click = LinkClicked(
                tracking_code=code,
                share_id=str(target.share_id),
                content_id=str(target.content_id),
                member_id=target.member_id,
                network=target.network,
                visitor_hash=visitor_hash(self.salt, ip, user_agent),
            )
            try:
                await self.recorder.record(click, target)
                CLICKS.labels("counted").inc()
            except Exception:
                # The visitor still gets where they were going; the loss is logged and counted.
                CLICKS.labels("lost").inc()
                log.exception("click could not be recorded")
        else:
            CLICKS.labels("not_counted").inc()
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
