"""Stand-ins for the four services, as real HTTP servers (uvicorn in a thread, each on its own port),
answering the shapes of docs/service-contracts.md. They keep their state in one ``Downstream`` object
that a test arranges and reads back (every call is recorded with its headers and body).

They check only what the gateway is responsible for (a bearer token is forwarded; the token's claims
are read unverified, as the real services would after verifying): the real services are tested in
their own folders."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from condividi.devstack.infra import free_port

SERVICES = ("content", "policy", "sharing", "metrics")
NETWORK_LIMITS = {"x": 280, "linkedin": 3000}
METRICS_REACH_NOTE = "potential_reach is the sum of the sharing employees' audiences (from metrics)."


@dataclass
class Call:
    service: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Downstream:
    """The stand-ins' shared state; ``reset()`` between tests."""

    urls: dict[str, str] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    shares: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (service, path) -> a response to give instead of the normal one
    overrides: dict[tuple[str, str], Response] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.items.clear()
            self.stats.clear()
            self.shares.clear()
            self.overrides.clear()

    def calls_to(self, service: str, path: str | None = None) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.service == service and (path is None or c.path == path)]

    def add_item(self, *, published: bool = True, title: str | None = None, minutes_ago: int = 0) -> dict[str, Any]:
        created = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        item: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "title": title or f"Item {len(self.items) + 1}",
            "url": "https://acme.example/news/1",
            "summary": "",
            "suggested_caption": "Proud of the team!",
            "status": "published" if published else "draft",
            "created_by": "curator-1",
            "created_at": created.isoformat(),
            "published_at": created.isoformat() if published else None,
        }
        with self.lock:
            self.items[item["id"]] = item
        return item

    def set_stats(self, content_id: str, *, shares: int, clicks: int, unique_clicks: int, reach: int) -> None:
        with self.lock:
            self.stats[content_id] = {
                "content_id": content_id,
                "shares": shares,
                "clicks": clicks,
                "unique_clicks": unique_clicks,
                "potential_reach": reach,
                "reach_note": METRICS_REACH_NOTE,
            }


def error(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or [], "request_id": None}}
    return JSONResponse(body, status_code=status)


def _claims(request: Request) -> dict[str, Any] | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def _stand_in(name: str, state: Downstream, routes: Callable[[FastAPI, Downstream], None]) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Response:
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        with state.lock:
            state.calls.append(
                Call(
                    name,
                    request.method,
                    request.url.path,
                    dict(request.query_params),
                    dict(request.headers),
                    body,
                )
            )
            override = state.overrides.get((name, request.url.path))
        if override is not None:
            return override
        if request.url.path != "/healthz" and _claims(request) is None:
            return error(401, "unauthenticated", "a bearer token is required")
        response: Response = await call_next(request)
        return response

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    routes(app, state)
    return app


def _content(app: FastAPI, state: Downstream) -> None:
    @app.get("/api/v1/feed")
    async def feed(limit: int = 20, cursor: str | None = None) -> Response:
        if not 1 <= limit <= 100:
            return error(
                422,
                "validation_failed",
                "the request is not valid",
                [{"loc": ["query", "limit"], "message": "1..100"}],
            )
        with state.lock:
            published = [i for i in state.items.values() if i["status"] == "published"]
        published.sort(key=lambda i: (i["published_at"], i["id"]), reverse=True)
        start = int(cursor) if cursor else 0
        page = published[start : start + limit]
        more = start + limit < len(published)
        return JSONResponse({"items": page, "next_cursor": str(start + limit) if more else None})

    @app.get("/api/v1/content-items/{item_id}")
    async def get_item(item_id: str) -> Response:
        item = state.items.get(item_id)
        if item is None:
            return error(404, "not_found", "content item not found")
        return JSONResponse(item)

    @app.post("/api/v1/content-items")
    async def create_item(request: Request) -> Response:
        claims = _claims(request) or {}
        if not {"curator", "admin"} & set(claims.get("roles", [])):
            return error(403, "forbidden", "this needs one of the roles: curator, admin")
        body = await request.json()
        if not str(body.get("title", "")).strip():
            return error(
                422,
                "validation_failed",
                "the request is not valid",
                [{"loc": ["body", "title"], "message": "Value error, the title is blank"}],
            )
        item = state.add_item(published=False, title=body["title"])
        item.update(
            url=body["url"],
            summary=body.get("summary", ""),
            suggested_caption=body.get("suggested_caption", ""),
        )
        return JSONResponse(item, status_code=201)

    @app.post("/api/v1/content-items/{item_id}/publish")
    async def publish(item_id: str) -> Response:
        with state.lock:
            item = state.items.get(item_id)
            if item is None:
                return error(404, "not_found", "content item not found")
            if item["status"] == "published":
                return error(409, "conflict", "the content item is already published")
            item.update(status="published", published_at=datetime.now(UTC).isoformat())
        return JSONResponse(item)


def _policy(app: FastAPI, state: Downstream) -> None:
    @app.post("/api/v1/policy-checks")
    async def check(request: Request) -> Response:
        body = await request.json()
        limit = NETWORK_LIMITS.get(body.get("network", ""))
        if limit is None:
            return error(
                422,
                "validation_failed",
                "unknown network",
                [{"loc": ["body", "network"], "message": "unknown network"}],
            )
        text = body.get("text", "")
        violations = []
        if "confidential" in text.lower():
            violations.append({"code": "confidential_term", "message": "Do not share confidential information."})
        if len(text) > limit:
            violations.append({"code": "too_long", "message": f"At most {limit} characters."})
        return JSONResponse(
            {
                "allowed": not violations,
                "outcome": "rejected" if violations else "approved",
                "violations": violations,
                "length": len(text),
                "limit": limit,
            }
        )


def _sharing(app: FastAPI, state: Downstream) -> None:
    @app.post("/api/v1/shares")
    async def create_share(request: Request) -> Response:
        claims = _claims(request) or {}
        body = await request.json()
        now = datetime.now(UTC).isoformat()
        share = {
            "id": str(uuid.uuid4()),
            "content_id": body["content_id"],
            "member_id": claims.get("sub"),
            "network": body["network"],
            "text": body["text"],
            "status": "pending_policy",
            "violations": [],
            "publish_method": None,
            "intent_url": None,
            "intent_keeps_text": body["network"] != "linkedin",
            "tracking_url": None,
            "potential_reach": None,
            "created_at": now,
            "updated_at": now,
        }
        with state.lock:
            state.shares[share["id"]] = share
        return JSONResponse(share, status_code=202)

    @app.get("/api/v1/shares/{share_id}")
    async def get_share(share_id: str) -> Response:
        share = state.shares.get(share_id)
        if share is None:
            return error(404, "not_found", "share not found")
        return JSONResponse(share)

    @app.get("/api/v1/shares")
    async def list_shares(
        request: Request, limit: int = 20, cursor: str | None = None, content_id: str | None = None
    ) -> Response:
        subject = (_claims(request) or {}).get("sub")
        with state.lock:
            own = [
                s
                for s in state.shares.values()
                if s["member_id"] == subject and (content_id is None or s["content_id"] == content_id)
            ]
        own.sort(key=lambda s: (s["created_at"], s["id"]), reverse=True)
        start = int(cursor) if cursor else 0
        more = start + limit < len(own)
        return JSONResponse({"items": own[start : start + limit], "next_cursor": str(start + limit) if more else None})


def _metrics(app: FastAPI, state: Downstream) -> None:
    @app.post("/api/v1/content-stats/batch")
    async def batch(request: Request) -> Response:
        ids = (await request.json()).get("content_ids", [])
        if len(ids) > 100:
            return error(422, "validation_failed", "at most 100 ids")
        with state.lock:
            return JSONResponse({"items": [state.stats[i] for i in ids if i in state.stats]})


ROUTES = {"content": _content, "policy": _policy, "sharing": _sharing, "metrics": _metrics}


class ServerThread:
    """An ASGI app served by uvicorn on 127.0.0.1 in a daemon thread."""

    def __init__(self, app: Any, port: int | None = None, *, lifespan: Literal["on", "off"] = "off") -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan=lifespan,
            log_config=None,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on port {self.port} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def start_downstream() -> tuple[Downstream, list[ServerThread]]:
    state = Downstream()
    servers = []
    for name in SERVICES:
        server = ServerThread(_stand_in(name, state, ROUTES[name])).start()
        state.urls[name] = server.url
        servers.append(server)
    return state, servers
