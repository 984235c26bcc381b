"""Typed clients for the four services' REST APIs (docs/service-contracts.md).

One ``httpx.AsyncClient`` serves the whole process (it owns the connection pool); the per-service
clients here are cheap views made per caller, that add the caller's bearer token and the request id to
every call, parse the answer into the contract's models, and turn any failure into a ``GatewayError``:

- the service's error body ``{"error": {code, message, details}}`` keeps its code, message and details;
- the service is down or does not answer in time: ``service_unavailable`` (503);
- an answer that breaks the contract (not JSON, unknown fields' types, an HTML error page from a proxy):
  ``bad_gateway`` (502). The body is logged, never shown: it may hold a stack trace.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar, Generic, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from condividi.errors import CODES_BY_STATUS
from condividi.observability import current_request_id
from gateway.errors import GatewayError, bad_gateway, service_unavailable

log = logging.getLogger(__name__)

# The statuses a proxy or a crashed pod answers with when the service itself could not.
_UNAVAILABLE_STATUSES = {502, 503, 504}

# --- the contract's models ----------------------------------------------------------------------


class _Model(BaseModel):
    # A service may add fields; the gateway reads the ones it knows.
    model_config = ConfigDict(extra="ignore", frozen=True)


T = TypeVar("T", bound=_Model)


class PageData(_Model, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class ContentStatus(Enum):
    DRAFT = "draft"
    PUBLISHED = "published"


class ContentItemData(_Model):
    id: str
    title: str
    url: str
    summary: str = ""
    suggested_caption: str = ""
    status: ContentStatus
    created_by: str
    created_at: datetime
    published_at: datetime | None = None


class ViolationData(_Model):
    code: str
    message: str


class PolicyOutcome(Enum):
    APPROVED = "approved"
    REJECTED = "rejected"
    NEEDS_REVIEW = "needs_review"


class PolicyCheckData(_Model):
    allowed: bool
    outcome: PolicyOutcome
    violations: list[ViolationData] = Field(default_factory=list)
    length: int
    limit: int


class ShareStatus(Enum):
    PENDING_POLICY = "pending_policy"
    REJECTED = "rejected"
    NEEDS_REVIEW = "needs_review"
    PUBLISHED = "published"


class PublishMethod(Enum):
    INTENT = "intent"
    API = "api"


class ShareData(_Model):
    id: str
    content_id: str
    member_id: str | None = None
    network: str
    text: str
    status: ShareStatus
    violations: list[ViolationData] = Field(default_factory=list)
    publish_method: PublishMethod | None = None
    intent_url: str | None = None
    # False when the network ignores pre-filled text (the client should offer "copy text" first).
    intent_keeps_text: bool | None = None
    tracking_url: str | None = None
    potential_reach: int | None = None
    created_at: datetime
    updated_at: datetime | None = None


class ContentStatsData(_Model):
    content_id: str
    shares: int = 0
    clicks: int = 0
    unique_clicks: int = 0
    potential_reach: int = 0
    # How to read potential_reach, in the metrics service's words (it owns the figure).
    reach_note: str | None = None

    @classmethod
    def zero(cls, content_id: str) -> ContentStatsData:
        """What an item nobody has shared yet has (metrics leaves unknown ids out of a batch)."""
        return cls(content_id=content_id)


class ContentStatsBatch(_Model):
    items: list[ContentStatsData]


M = TypeVar("M", bound=BaseModel)

# --- calling a service --------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """What every call carries on behalf of the caller."""

    token: str
    request_id: str | None = None
    # W3C trace context of the GraphQL request, passed on so the services' events carry it.
    traceparent: str = ""


def canonical_id(value: str) -> str:
    """Ids are UUIDs in every service; comparing them canonically keeps ``A1..`` and ``a1..`` equal."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value


class ServiceClient:
    service: ClassVar[str]

    def __init__(self, http: httpx.AsyncClient, base_url: str, credentials: Credentials) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._credentials = credentials

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._credentials.token}", "Accept": "application/json"}
        request_id = self._credentials.request_id or current_request_id()
        if request_id:
            headers["X-Request-ID"] = request_id
        if self._credentials.traceparent:
            headers["traceparent"] = self._credentials.traceparent
        return headers

    async def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        url = f"{self._base_url}{path}"
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._http.request(method, url, json=json, params=query, headers=self._headers())
        except httpx.TimeoutException as exc:
            log.warning("service call timed out", extra={"downstream": self.service, "path": path})
            raise service_unavailable(self.service, "did not answer in time") from exc
        except httpx.TransportError as exc:
            error = repr(exc)[:200]
            log.warning("service unreachable", extra={"downstream": self.service, "path": path, "error": error})
            raise service_unavailable(self.service) from exc
        if response.is_success:
            try:
                return response.json()
            except ValueError as exc:
                log.error("service answered non-JSON", extra={"downstream": self.service, "path": path})
                raise bad_gateway(self.service) from exc
        raise self._error_from(response, path)

    def _error_from(self, response: httpx.Response, path: str) -> GatewayError:
        status = response.status_code
        try:
            body = response.json()
            error = body["error"]
            code, message = error["code"], error["message"]
            if not isinstance(code, str) or not isinstance(message, str):
                raise TypeError("code and message must be strings")
            return GatewayError(code, message, status=status, details=_details(error.get("details")))
        except (ValueError, KeyError, TypeError):
            pass
        # Not the contract's error shape: a proxy's page, or a crash the service did not catch.
        log.error(
            "service answered an error without the error shape",
            extra={"downstream": self.service, "path": path, "status": status, "body": response.text[:500]},
        )
        if status in _UNAVAILABLE_STATUSES:
            return service_unavailable(self.service)
        code = CODES_BY_STATUS.get(status)
        if code is None:
            return bad_gateway(self.service)
        return GatewayError(code, f"the {self.service} service answered {status}", status=status)

    def _parse(self, model: type[M], data: Any) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            log.error(
                "service answer breaks the contract",
                extra={"downstream": self.service, "model": model.__name__, "error": str(exc)[:1000]},
            )
            raise bad_gateway(self.service) from exc


def _details(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        return []
    details = []
    for entry in raw:
        if isinstance(entry, dict) and "message" in entry:
            loc = entry.get("loc", [])
            loc = [p if isinstance(p, (str, int)) else str(p) for p in loc] if isinstance(loc, list) else []
            details.append({"loc": loc, "message": str(entry["message"])})
    return details


class ContentClient(ServiceClient):
    service = "content"

    async def feed(self, *, limit: int, cursor: str | None) -> PageData[ContentItemData]:
        data = await self._call("GET", "/api/v1/feed", params={"limit": limit, "cursor": cursor})
        return self._parse(PageData[ContentItemData], data)

    async def get_item(self, item_id: uuid.UUID) -> ContentItemData:
        return self._parse(ContentItemData, await self._call("GET", f"/api/v1/content-items/{item_id}"))

    async def create_item(
        self, *, title: str, url: str, summary: str | None, suggested_caption: str | None
    ) -> ContentItemData:
        body: dict[str, Any] = {"title": title, "url": url}
        if summary is not None:
            body["summary"] = summary
        if suggested_caption is not None:
            body["suggested_caption"] = suggested_caption
        return self._parse(ContentItemData, await self._call("POST", "/api/v1/content-items", json=body))

    async def publish_item(self, item_id: uuid.UUID) -> ContentItemData:
        data = await self._call("POST", f"/api/v1/content-items/{item_id}/publish")
        return self._parse(ContentItemData, data)


class PolicyClient(ServiceClient):
    service = "policy"

    async def check(self, *, network: str, text: str, url: str | None) -> PolicyCheckData:
        body: dict[str, Any] = {"network": network, "text": text}
        if url is not None:
            body["url"] = url
        return self._parse(PolicyCheckData, await self._call("POST", "/api/v1/policy-checks", json=body))


class SharingClient(ServiceClient):
    service = "sharing"

    async def create_share(self, *, content_id: uuid.UUID, network: str, text: str) -> ShareData:
        body = {"content_id": str(content_id), "network": network, "text": text}
        return self._parse(ShareData, await self._call("POST", "/api/v1/shares", json=body))

    async def get_share(self, share_id: uuid.UUID) -> ShareData:
        return self._parse(ShareData, await self._call("GET", f"/api/v1/shares/{share_id}"))

    async def my_shares(
        self, *, limit: int, cursor: str | None, content_id: uuid.UUID | None = None
    ) -> PageData[ShareData]:
        params = {"limit": limit, "cursor": cursor, "content_id": str(content_id) if content_id else None}
        return self._parse(PageData[ShareData], await self._call("GET", "/api/v1/shares", params=params))


class MetricsClient(ServiceClient):
    service = "metrics"
    MAX_BATCH = 100  # the contract's limit for content-stats/batch

    async def content_stats(self, content_ids: list[str]) -> list[ContentStatsData]:
        if not content_ids:
            return []
        if len(content_ids) > self.MAX_BATCH:
            raise ValueError(f"at most {self.MAX_BATCH} ids a batch")
        data = await self._call("POST", "/api/v1/content-stats/batch", json={"content_ids": content_ids})
        return self._parse(ContentStatsBatch, data).items


class Services:
    """The four clients, bound to one caller's credentials."""

    def __init__(self, http: httpx.AsyncClient, urls: dict[str, str], credentials: Credentials) -> None:
        self.content = ContentClient(http, urls["content"], credentials)
        self.policy = PolicyClient(http, urls["policy"], credentials)
        self.sharing = SharingClient(http, urls["sharing"], credentials)
        self.metrics = MetricsClient(http, urls["metrics"], credentials)


async def check_health(http: httpx.AsyncClient, name: str, base_url: str) -> None:
    """For the gateway's readiness: the service's process answers ``/healthz``."""
    try:
        response = await http.get(f"{base_url.rstrip('/')}/healthz", timeout=2.0)
    except httpx.HTTPError as exc:
        raise RuntimeError(f"{name} unreachable at {base_url}: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise RuntimeError(f"{name} /healthz answered {response.status_code}")
