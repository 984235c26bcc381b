"""Stand-ins for the four services, as real HTTP servers (uvicorn in a thread, each on its own port).
They keep their state in one ``Downstream`` object that a test arranges and reads back (every call is
recorded with its headers and body).

They cannot drift from the services: they serve exactly the routes the gateway's clients call
(``gateway.clients.ENDPOINTS``, each checked against the real service's app by test_contract.py), read
request bodies with the services' own request models, and build every answer through the services'
own response models (``model_dump(mode="json")``) and the one error shape. The live policy check runs
the policy service's real rules. They check only what the gateway is responsible for (a bearer token is
forwarded; the token's claims are read unverified, as the real services would after verifying): the
real services are tested in their own folders."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import jwt
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from condividi.audience import Audience
from condividi.captions import Caption, choose_caption
from condividi.devstack.infra import free_port
from condividi.errors import ApiError, ErrorBody, ErrorDetail
from condividi.networks import NETWORKS, Network
from condividi.pagination import decode_cursor, encode_cursor
from gateway import clients
from gateway.clients import Endpoint
from services.content import lifecycle
from services.content.campaigns import (
    AudienceUpdate,
    CampaignCreate,
    CampaignPublic,
    CampaignUpdate,
    check_dates,
    default_utm_campaign,
)
from services.content.campaigns import storage_of as _storage
from services.content.feed import FeedItem
from services.content.models import (
    CaptionChoice,
    CaptionPublic,
    ContentItemCreate,
    ContentItemPublic,
    ContentItemUpdate,
    ContentRevisionPublic,
    ContentStatus,
    PinCreate,
    PublishRequest,
    SuggestionPublic,
    SuggestionStatus,
)
from services.content.previews.models import LinkPreviewPublic, PreviewStatus
from services.metrics.models import ContentStats, ContentStatsBatch, OrgSummary
from services.policy import compliance, governance, near_duplicates, rules
from services.policy.audit_models import (
    DEFAULT_RETENTION_DAYS,
    AuditEntryPublic,
    AuditVerification,
    NearDuplicateSettingsPublic,
    RetentionPublic,
)
from services.policy.compliance_models import (
    ComplianceRuleRecord,
    ComplianceRuleWrite,
    config_of,
    config_problems,
    finding_public,
    public_of,
    rule_of,
)
from services.policy.models import (
    AcknowledgementPublic,
    CertificationPublic,
    MemberPublic,
    MyPolicyStatus,
    MyTrainingModule,
    MyTrainingStatus,
    PolicyCheckResult,
    PolicyProgressPublic,
    PolicyStatus,
    PolicyVersionPublic,
    ProvisioningTokenIssued,
    ProvisioningTokenPublic,
    QuestionPublic,
    QuizAttemptPublic,
    RosterMemberPublic,
    ShareDecisionPublic,
    TeamProgressPublic,
    TeamPublic,
    TrainingModulePublic,
    TrainingProgressPublic,
    ViolationPublic,
)
from services.sharing.models import ConnectionPublic, SharePublic, ShareStatus

SERVICES = ("content", "policy", "sharing", "metrics")
METRICS_REACH_NOTE = "potential_reach is the sum of the sharing employees' audiences (from metrics)."
TRACKING_BASE = "https://t.acme.example/r/"
DUPLICATE_WINDOW = timedelta(hours=24)

M = TypeVar("M", bound=BaseModel)


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
    """The stand-ins' shared state, as the services' own models; ``reset()`` between tests."""

    urls: dict[str, str] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    items: dict[uuid.UUID, ContentItemPublic] = field(default_factory=dict)
    revisions: dict[uuid.UUID, list[ContentRevisionPublic]] = field(default_factory=dict)
    stats: dict[uuid.UUID, ContentStats] = field(default_factory=dict)
    shares: dict[uuid.UUID, SharePublic] = field(default_factory=dict)
    decisions: dict[uuid.UUID, ShareDecisionPublic] = field(default_factory=dict)
    # (member, idempotency key) -> (the request's body, the share it made)
    idempotency: dict[tuple[str, str], tuple[Any, uuid.UUID]] = field(default_factory=dict)
    connections: dict[uuid.UUID, tuple[str, ConnectionPublic]] = field(default_factory=dict)
    teams: dict[uuid.UUID, TeamPublic] = field(default_factory=dict)
    members: dict[uuid.UUID, MemberPublic] = field(default_factory=dict)
    provisioning_tokens: dict[uuid.UUID, ProvisioningTokenPublic] = field(default_factory=dict)
    # (service, path) -> a response to give instead of the normal one
    overrides: dict[tuple[str, str], Response] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The social-media policy and training (issue 6).
    policy_versions: dict[uuid.UUID, PolicyVersionPublic] = field(default_factory=dict)
    acknowledgements: list[AcknowledgementPublic] = field(default_factory=list)
    # module id -> (the module as members see it, the correct options of each question)
    training_modules: dict[uuid.UUID, tuple[TrainingModulePublic, list[list[int]]]] = field(default_factory=dict)
    quiz_attempts: dict[uuid.UUID, tuple[str, QuizAttemptPublic]] = field(default_factory=dict)
    certifications: dict[tuple[str, uuid.UUID], CertificationPublic] = field(default_factory=dict)
    # Link previews by item (issue 7); an item without one here has a pending preview of its link.
    link_previews: dict[uuid.UUID, LinkPreviewPublic] = field(default_factory=dict)
    # The audit log and the near-duplicate guard (issue 8): the entries, newest last; the settings as
    # set (none: the defaults); a verification a test may arrange (none: the entries all verify).
    audit_entries: list[AuditEntryPublic] = field(default_factory=list)
    audit_settings: dict[str, BaseModel] = field(default_factory=dict)
    # Campaigns and the teams content knows (issue 7).
    campaigns: dict[uuid.UUID, CampaignPublic] = field(default_factory=dict)
    # The compliance rules (issue 8), as the service stores them.
    compliance_rules: dict[uuid.UUID, ComplianceRuleRecord] = field(default_factory=dict)
    # Captions per network and language, and employee suggestions (issue 7).
    captions: dict[uuid.UUID, list[CaptionPublic]] = field(default_factory=dict)
    suggestions: dict[uuid.UUID, SuggestionPublic] = field(default_factory=dict)

    def reset(self) -> None:
        with self.lock:
            for table in (
                self.calls,
                self.items,
                self.revisions,
                self.stats,
                self.shares,
                self.decisions,
                self.idempotency,
                self.connections,
                self.teams,
                self.members,
                self.overrides,
                self.policy_versions,
                self.acknowledgements,
                self.training_modules,
                self.quiz_attempts,
                self.certifications,
                self.link_previews,
                self.audit_entries,
                self.audit_settings,
                self.campaigns,
                self.compliance_rules,
                self.captions,
                self.suggestions,
            ):
                table.clear()

    def calls_to(self, service: str, path: str | None = None) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.service == service and (path is None or c.path == path)]

    def add_item(self, *, published: bool = True, title: str | None = None, minutes_ago: int = 0) -> ContentItemPublic:
        created = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        item = ContentItemPublic(
            id=uuid.uuid4(),
            title=title or f"Item {len(self.items) + 1}",
            url="https://acme.example/news/1",
            summary="",
            suggested_caption="Proud of the team!",
            status=ContentStatus.PUBLISHED if published else ContentStatus.DRAFT,
            created_by="curator-1",
            created_at=created,
            published_at=created if published else None,
        )
        with self.lock:
            self.items[item.id] = item
        return item

    def set_stats(self, content_id: uuid.UUID, *, shares: int, clicks: int, unique_clicks: int, reach: int) -> None:
        with self.lock:
            self.stats[content_id] = ContentStats(
                content_id=content_id,
                shares=shares,
                clicks=clicks,
                unique_clicks=unique_clicks,
                potential_reach=reach,
                reach_note=METRICS_REACH_NOTE,
            )

    def add_share(
        self,
        *,
        member: str = "employee-1",
        content_id: uuid.UUID | None = None,
        network: Network = Network.X,
        text: str = "mine",
        status: ShareStatus = ShareStatus.PENDING_POLICY,
        minutes_ago: int = 0,
    ) -> SharePublic:
        created = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        share = SharePublic(
            id=uuid.uuid4(),
            content_id=content_id or uuid.uuid4(),
            member_id=member,
            network=network.value,
            text=text,
            status=status,
            violations=[],
            publish_method=None,
            intent_url=None,
            intent_keeps_text=NETWORKS[network].intent_keeps_text,
            # As sharing: a share has its tracking link once published.
            tracking_url=f"{TRACKING_BASE}{uuid.uuid4().hex[:8]}" if status == ShareStatus.PUBLISHED else None,
            potential_reach=0,
            created_at=created,
            updated_at=created,
        )
        with self.lock:
            self.shares[share.id] = share
        return share

    def update_share(self, share_id: uuid.UUID, **changes: Any) -> SharePublic:
        with self.lock:
            merged = {**self.shares[share_id].model_dump(), **changes, "updated_at": datetime.now(UTC)}
            self.shares[share_id] = SharePublic.model_validate(merged)
            return self.shares[share_id]

    def decide(self, share_id: uuid.UUID, outcome: rules.Outcome, *violations: tuple[str, str]) -> None:
        with self.lock:
            share = self.shares[share_id]
            self.decisions[share_id] = ShareDecisionPublic(
                share_id=share_id,
                member_id=share.member_id,
                outcome=outcome,
                violations=[ViolationPublic(code=c, message=m) for c, m in violations],
                decided_at=datetime.now(UTC),
            )

    def add_team(self, name: str, *, minutes_ago: int = 0) -> TeamPublic:
        team = TeamPublic(id=uuid.uuid4(), name=name, created_at=datetime.now(UTC) - timedelta(minutes=minutes_ago))
        with self.lock:
            self.teams[team.id] = team
        return team

    def add_member(
        self, subject: str, *, roles: Sequence[str] = ("employee",), team_id: uuid.UUID | None = None
    ) -> MemberPublic:
        member = MemberPublic.model_validate(
            {
                "id": uuid.uuid4(),
                "subject": subject,
                "email": f"{subject}@acme.example",
                "name": subject.title(),
                "team_id": team_id,
                "roles": list(roles),
                "created_at": datetime.now(UTC),
            }
        )
        with self.lock:
            self.members[member.id] = member
        return member


def answer(model: BaseModel | None, status: int = 200) -> Response:
    """An answer built through the service's own model, as the service serialises it."""
    if model is None:
        return Response(status_code=status)
    return JSONResponse(model.model_dump(mode="json"), status_code=status)


def error(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    *,
    conflicting_id: uuid.UUID | None = None,
) -> JSONResponse:
    """The one error shape (condividi/errors.py), with ``conflicting_id`` on a 409 that names the
    existing object (contract 2 of issue 5)."""
    body: dict[str, Any] = ErrorBody(
        code=code, message=message, details=[ErrorDetail.model_validate(d) for d in details or []]
    ).model_dump(mode="json")
    if conflicting_id is not None:
        body["conflicting_id"] = str(conflicting_id)
    return JSONResponse({"error": body}, status_code=status)


def _claims(request: Request) -> dict[str, Any]:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return {}
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def _has_role(request: Request, *roles: str) -> bool:
    return bool(set(roles) & set(_claims(request).get("roles", [])))


def _forbidden(*roles: str) -> JSONResponse:
    return error(403, "forbidden", f"this needs one of the roles: {', '.join(roles)}")


async def _body(request: Request, model: type[M]) -> M | JSONResponse:
    """The request's body read with the service's own request model; a refusal as the service gives it."""
    try:
        return model.model_validate(json.loads(await request.body() or b"null"))
    except (PydanticValidationError, ValueError) as exc:
        details = (
            [{"loc": ["body", *e["loc"]], "message": e["msg"]} for e in exc.errors()]
            if isinstance(exc, PydanticValidationError)
            else []
        )
        return error(422, "validation_failed", "the request is not valid", details)


def _limit(request: Request) -> int | JSONResponse:
    try:
        limit = int(request.query_params.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        return error(
            422, "validation_failed", "the request is not valid", [{"loc": ["query", "limit"], "message": "1..100"}]
        )
    return limit


Row = TypeVar("Row")


def keyset_page(
    request: Request,
    rows: list[Row],
    *,
    sort: Callable[[Row], datetime],
    row_id: Callable[[Row], uuid.UUID],
    oldest_first: bool = False,
) -> tuple[list[Row], str | None] | JSONResponse:
    """``condividi.pagination.read_page`` over a list, with the same cursors: forward after ``cursor``,
    backward before ``before`` (empty: from the end), ``next_cursor`` continuing the reading direction."""
    limit = _limit(request)
    if isinstance(limit, JSONResponse):
        return limit
    cursor, before = request.query_params.get("cursor"), request.query_params.get("before")
    if cursor and before is not None:
        return error(400, "invalid_cursor", "pass either cursor (read forward) or before (read backward), not both")
    backward = before is not None
    ascending = oldest_first != backward
    ordered = sorted(rows, key=lambda r: (sort(r), row_id(r)), reverse=not ascending)
    position = before if backward else cursor
    if position:
        try:
            at, last = decode_cursor(position)
        except ApiError as exc:
            return error(exc.status, exc.code, exc.message)
        key = (at, last)
        ordered = [r for r in ordered if ((sort(r), row_id(r)) > key) == ascending and (sort(r), row_id(r)) != key]
    page = ordered[: limit + 1]
    more = len(page) > limit
    page = page[:limit]
    next_cursor = encode_cursor(sort(page[-1]), row_id(page[-1])) if more else None
    if backward:
        page.reverse()
    return page, next_cursor


Handler = Callable[[Request, "Downstream"], Awaitable[Response]]


def _stand_in(name: str, state: Downstream, handlers: dict[Endpoint[Any], Handler]) -> FastAPI:
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
                Call(name, request.method, request.url.path, dict(request.query_params), dict(request.headers), body)
            )
            override = state.overrides.get((name, request.url.path))
        if override is not None:
            return override
        if request.url.path != "/healthz" and not _claims(request):
            return error(401, "unauthenticated", "a bearer token is required")
        response: Response = await call_next(request)
        return response

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for endpoint, handler in handlers.items():
        if endpoint.service != name:
            raise RuntimeError(f"{endpoint.path} is not a route of {name}")

        def route(handler: Handler = handler) -> Callable[[Request], Awaitable[Response]]:
            async def serve(request: Request) -> Response:
                return await handler(request, state)

            return serve

        app.add_api_route(endpoint.path, route(), methods=[endpoint.method])
    return app


def _uuid(request: Request, name: str) -> uuid.UUID | JSONResponse:
    try:
        return uuid.UUID(request.path_params[name])
    except ValueError:
        return error(
            422, "validation_failed", "the request is not valid", [{"loc": ["path", name], "message": "bad uuid"}]
        )


# --- content ----------------------------------------------------------------------------------------


def storage_audience(audience: Audience) -> dict[str, Any]:
    """The audience as content stores and answers it (its keys)."""
    stored = _storage(audience)
    return {
        "team_ids": stored["target_team_ids"],
        "locations": stored["target_locations"],
        "languages": stored["target_languages"],
        "roles": stored["target_roles"],
    }


def _curator(request: Request) -> JSONResponse | None:
    return None if _has_role(request, "curator", "admin") else _forbidden("curator", "admin")


def _known_audience(state: Downstream, audience: Audience, loc: list[str | int]) -> JSONResponse | None:
    unknown = [str(t) for t in audience.team_ids if t not in state.teams]
    if unknown:
        return error(
            422,
            "unknown_teams",
            f"no team of the org has the id {', '.join(unknown)}",
            [{"loc": [*loc, "team_ids"], "message": "names no team of the org"}],
        )
    return None


def _campaign_of(request: Request, state: Downstream) -> CampaignPublic | JSONResponse:
    campaign_id = _uuid(request, "campaign_id")
    if isinstance(campaign_id, JSONResponse):
        return campaign_id
    campaign = state.campaigns.get(campaign_id)
    return campaign if campaign is not None else error(404, "not_found", "campaign not found")


async def list_campaigns(request: Request, state: Downstream) -> Response:
    if (refused := _curator(request)) is not None:
        return refused
    everything = request.query_params.get("include_archived") == "true"
    rows = [c for c in state.campaigns.values() if everything or c.archived_at is None]
    page = keyset_page(request, rows, sort=lambda c: c.created_at, row_id=lambda c: c.id)
    if isinstance(page, JSONResponse):
        return page
    return answer(clients.LIST_CAMPAIGNS.response(items=page[0], next_cursor=page[1]))


async def get_campaign(request: Request, state: Downstream) -> Response:
    if (refused := _curator(request)) is not None:
        return refused
    campaign = _campaign_of(request, state)
    return campaign if isinstance(campaign, JSONResponse) else answer(campaign)


async def create_campaign(request: Request, state: Downstream) -> Response:
    if (refused := _curator(request)) is not None:
        return refused
    body = await _body(request, CampaignCreate)
    if isinstance(body, JSONResponse):
        return body
    if (unknown := _known_audience(state, body.audience, ["body", "audience"])) is not None:
        return unknown
    try:
        check_dates(body.starts_at, body.ends_at)
    except ApiError as exc:
        return error(exc.status, exc.code, exc.message, exc.details)
    existing = next((c for c in state.campaigns.values() if c.name == body.name), None)
    if existing is not None:
        return error(409, "conflict", f"the org already has a campaign named {body.name!r}", conflicting_id=existing.id)
    now = datetime.now(UTC)
    campaign = CampaignPublic(
        id=uuid.uuid4(),
        name=body.name,
        goal=body.goal,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        utm_campaign=body.utm_campaign or default_utm_campaign(body.name),
        required_disclosure=body.required_disclosure,
        required_certification_id=None,
        priority=body.priority,
        audience=Audience.model_validate(storage_audience(body.audience)),
        archived_at=None,
        created_by=str(_claims(request).get("sub")),
        created_at=now,
        updated_at=now,
    )
    with state.lock:
        state.campaigns[campaign.id] = campaign
    return answer(campaign, 201)


async def update_campaign(request: Request, state: Downstream) -> Response:
    if (refused := _curator(request)) is not None:
        return refused
    campaign = _campaign_of(request, state)
    if isinstance(campaign, JSONResponse):
        return campaign
    body = await _body(request, CampaignUpdate)
    if isinstance(body, JSONResponse):
        return body
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    if body.audience is not None:
        if (unknown := _known_audience(state, body.audience, ["body", "audience"])) is not None:
            return unknown
        changes["audience"] = Audience.model_validate(storage_audience(body.audience))
    changed = campaign.model_copy(update={**changes, "updated_at": datetime.now(UTC)})
    with state.lock:
        state.campaigns[changed.id] = changed
    return answer(changed)


async def archive_campaign(request: Request, state: Downstream) -> Response:
    if (refused := _curator(request)) is not None:
        return refused
    campaign = _campaign_of(request, state)
    if isinstance(campaign, JSONResponse):
        return campaign
    if campaign.archived_at is not None:
        return error(409, "conflict", "the campaign is already archived")
    archived = campaign.model_copy(update={"archived_at": datetime.now(UTC)})
    with state.lock:
        state.campaigns[archived.id] = archived
    return answer(archived)


def _campaign_and_item(request: Request, state: Downstream) -> tuple[CampaignPublic, ContentItemPublic] | JSONResponse:
    if (refused := _curator(request)) is not None:
        return refused
    campaign = _campaign_of(request, state)
    if isinstance(campaign, JSONResponse):
        return campaign
    item_id = _uuid(request, "item_id")
    if isinstance(item_id, JSONResponse):
        return item_id
    item = state.items.get(item_id)
    return (campaign, item) if item is not None else error(404, "not_found", "content item not found")


async def add_campaign_item(request: Request, state: Downstream) -> Response:
    found = _campaign_and_item(request, state)
    if isinstance(found, JSONResponse):
        return found
    campaign, item = found
    moved = item.model_copy(update={"campaign_id": campaign.id})
    with state.lock:
        state.items[moved.id] = moved
    return answer(moved)


async def remove_campaign_item(request: Request, state: Downstream) -> Response:
    found = _campaign_and_item(request, state)
    if isinstance(found, JSONResponse):
        return found
    campaign, item = found
    if item.campaign_id != campaign.id:
        return error(404, "not_found", "content item not found")
    moved = item.model_copy(update={"campaign_id": None})
    with state.lock:
        state.items[moved.id] = moved
    return answer(moved)


async def campaign_items(request: Request, state: Downstream) -> Response:
    if (refused := _curator(request)) is not None:
        return refused
    campaign = _campaign_of(request, state)
    if isinstance(campaign, JSONResponse):
        return campaign
    rows = [i for i in state.items.values() if i.campaign_id == campaign.id]
    page = keyset_page(request, rows, sort=lambda i: i.created_at, row_id=lambda i: i.id)
    if isinstance(page, JSONResponse):
        return page
    return answer(clients.CAMPAIGN_ITEMS.response(items=page[0], next_cursor=page[1]))


async def set_item_audience(request: Request, state: Downstream) -> Response:
    if (refused := _curator(request)) is not None:
        return refused
    item_id = _uuid(request, "item_id")
    if isinstance(item_id, JSONResponse):
        return item_id
    body = await _body(request, AudienceUpdate)
    if isinstance(body, JSONResponse):
        return body
    if (unknown := _known_audience(state, body.audience, ["body", "audience"])) is not None:
        return unknown
    item = state.items.get(item_id)
    if item is None:
        return error(404, "not_found", "content item not found")
    changed = item.model_copy(update={"audience": Audience.model_validate(storage_audience(body.audience))})
    with state.lock:
        state.items[changed.id] = changed
    return answer(changed)


async def feed(request: Request, state: Downstream) -> Response:
    with state.lock:
        published = [i for i in state.items.values() if i.status == ContentStatus.PUBLISHED]
    page = keyset_page(request, published, sort=lambda i: i.published_at or i.created_at, row_id=lambda i: i.id)
    if isinstance(page, JSONResponse):
        return page
    # Newest first here (content ranks pins and campaigns too); each item carries its own cursor.
    items = [
        FeedItem(
            **i.model_dump(),
            shared_by_me=False,
            pinned=False,
            cursor=encode_cursor(i.published_at or i.created_at, i.id),
        )
        for i in page[0]
    ]
    return answer(clients.FEED.response(items=items, next_cursor=page[1]))


async def get_item(request: Request, state: Downstream) -> Response:
    item_id = _uuid(request, "item_id")
    if isinstance(item_id, JSONResponse):
        return item_id
    item = state.items.get(item_id)
    if item is None or (item.status != ContentStatus.PUBLISHED and not _has_role(request, "curator", "admin")):
        return error(404, "not_found", "content item not found")
    return answer(item)


async def create_item(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "curator", "admin"):
        return _forbidden("curator", "admin")
    body = await _body(request, ContentItemCreate)
    if isinstance(body, JSONResponse):
        return body
    now = datetime.now(UTC)
    problems = lifecycle.schedule_problems(now, publish_at=None, expires_at=body.expires_at)
    if problems:
        return error(422, "validation_failed", "the request is not valid", problems)
    item = state.add_item(published=False, title=body.title).model_copy(
        update={
            "url": str(body.url),
            "summary": body.summary,
            "suggested_caption": body.suggested_caption,
            "topics": body.topics,
            "image_url": str(body.image_url) if body.image_url else None,
            "image_alt": body.image_alt,
            "expires_at": body.expires_at,
        }
    )
    with state.lock:
        state.items[item.id] = item
    if body.pin is not None:
        _repin(state, item.id, body.pin.position, body.pin.pinned_until)
    return answer(state.items[item.id], 201)


async def publish_item(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "curator", "admin"):
        return _forbidden("curator", "admin")
    item_id = _uuid(request, "item_id")
    if isinstance(item_id, JSONResponse):
        return item_id
    body = await _body(request, PublishRequest) if await request.body() else PublishRequest()
    if isinstance(body, JSONResponse):
        return body
    with state.lock:
        item = state.items.get(item_id)
        if item is None:
            return error(404, "not_found", "content item not found")
        action = lifecycle.Action.SCHEDULE if body.publish_at else lifecycle.Action.PUBLISH
        refused = _refused(item, action)
        if refused is not None:
            return refused
        now = datetime.now(UTC)
        problems = lifecycle.schedule_problems(now, publish_at=body.publish_at, expires_at=item.expires_at)
        if problems:
            return error(422, "validation_failed", "the request is not valid", problems)
        if body.publish_at is not None:
            item = item.model_copy(update={"status": ContentStatus.SCHEDULED, "publish_at": body.publish_at})
        else:
            item = _published_revision(state, item, _claims(request).get("sub", ""))
        state.items[item_id] = item
    return answer(item)


def pending_preview(item: ContentItemPublic) -> LinkPreviewPublic:
    return LinkPreviewPublic(
        item_id=item.id,
        url=item.url,
        status=PreviewStatus.PENDING,
        requested_at=datetime.now(UTC),
        fetched_at=None,
        final_url=None,
        http_status=None,
        redirects=[],
        title=None,
        description=None,
        image_url=None,
        image_width=None,
        image_height=None,
        canonical_url=None,
        site_name=None,
        robots=None,
        findings=[],
        error=None,
    )


async def link_previews_batch(request: Request, state: Downstream) -> Response:
    body = await _body(request, clients.LINK_PREVIEW_BATCH.body or BaseModel)
    if isinstance(body, JSONResponse):
        return body
    wanted = list(dict.fromkeys(body.model_dump()["item_ids"]))
    curator = _has_role(request, "curator", "admin")
    found = []
    with state.lock:
        for item_id in wanted:
            item = state.items.get(item_id)
            if item is not None and (item.status == ContentStatus.PUBLISHED or curator):
                found.append(state.link_previews.get(item_id) or pending_preview(item))
    return answer(clients.LINK_PREVIEW_BATCH.response(items=found))


async def refresh_link_preview(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "curator", "admin"):
        return _forbidden("curator", "admin")
    item_id = _uuid(request, "item_id")
    if isinstance(item_id, JSONResponse):
        return item_id
    with state.lock:
        item = state.items.get(item_id)
        if item is None:
            return error(404, "not_found", "content item not found")
        preview = state.link_previews[item_id] = pending_preview(item)
    return answer(preview, 202)


# The library (issue 7): the content service's rules (services/content/lifecycle.py) on the stand-ins' items.


def _refused(item: ContentItemPublic, action: lifecycle.Action) -> JSONResponse | None:
    try:
        lifecycle.transition(item.status, action)
    except lifecycle.LifecycleConflict as exc:
        return error(409, "conflict", exc.message)
    return None


def _published_revision(state: Downstream, item: ContentItemPublic, by: str) -> ContentItemPublic:
    now = datetime.now(UTC)
    item = item.model_copy(
        update={
            "status": ContentStatus.PUBLISHED,
            "published_at": item.published_at if item.status == ContentStatus.PUBLISHED else now,
            "publish_at": None,
            "revision": item.revision + 1,
            "updated_at": now,
        }
    )
    state.revisions.setdefault(item.id, []).insert(
        0,
        ContentRevisionPublic.model_validate(
            item.model_dump() | {"content_id": item.id, "published_by": by or "curator-1", "published_at": now}
        ),
    )
    return item


def _curator_item(request: Request, state: Downstream) -> ContentItemPublic | JSONResponse:
    if not _has_role(request, "curator", "admin"):
        return _forbidden("curator", "admin")
    item_id = _uuid(request, "item_id")
    if isinstance(item_id, JSONResponse):
        return item_id
    item = state.items.get(item_id)
    if item is None:
        return error(404, "not_found", "content item not found")
    return item


def _repin(state: Downstream, item_id: uuid.UUID, position: int | None, until: datetime | None) -> None:
    with state.lock:
        pinned = sorted(
            (i for i in state.items.values() if i.pinned_position is not None and i.id != item_id),
            key=lambda i: i.pinned_position or 0,
        )
        order = [i.id for i in pinned]
        pins = lifecycle.pin_at(order, item_id, position) if position else lifecycle.unpin(order, item_id)
        at = {p.item_id: p.position for p in pins}
        for key in [*order, item_id]:
            changes: dict[str, Any] = {"pinned_position": at.get(key)}
            if key == item_id:
                changes["pinned_until"] = until if position else None
            state.items[key] = state.items[key].model_copy(update=changes)


async def list_library(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "curator", "admin"):
        return _forbidden("curator", "admin")
    query = request.query_params
    statuses = query.getlist("status")
    text = (query.get("q") or "").lower()
    with state.lock:
        rows = [
            i
            for i in state.items.values()
            if (not statuses or i.status.value in statuses)
            and (query.get("campaign_id") is None or str(i.campaign_id) == query.get("campaign_id"))
            and (query.get("topic") is None or query.get("topic", "").lower() in i.topics)
            and (query.get("author") is None or i.created_by == query.get("author"))
            and all(word in f"{i.title} {i.summary} {i.suggested_caption}".lower() for word in text.split())
            and (query.get("pinned") is None or (i.pinned_position is not None) == (query.get("pinned") == "true"))
        ]
    page = keyset_page(request, rows, sort=lambda i: i.created_at, row_id=lambda i: i.id)
    if isinstance(page, JSONResponse):
        return page
    return answer(clients.LIST_CONTENT_ITEMS.response(items=page[0], next_cursor=page[1]))


async def update_item(request: Request, state: Downstream) -> Response:
    item = _curator_item(request, state)
    if isinstance(item, JSONResponse):
        return item
    body = await _body(request, ContentItemUpdate)
    if isinstance(body, JSONResponse):
        return body
    refused = _refused(item, lifecycle.Action.EDIT)
    if refused is not None:
        return refused
    changes = body.model_dump(mode="json", exclude_unset=True)
    merged = item.model_copy(update=changes)
    problems = lifecycle.image_problems(merged.image_url, merged.image_alt)
    if problems:
        return error(422, "validation_failed", "the request is not valid", problems)
    merged = ContentItemPublic.model_validate(merged.model_dump())
    with state.lock:
        if item.status == ContentStatus.PUBLISHED and merged != item:
            merged = _published_revision(state, merged, _claims(request).get("sub", ""))
        state.items[item.id] = merged
    return answer(merged)


async def delete_library_item(request: Request, state: Downstream) -> Response:
    item = _curator_item(request, state)
    if isinstance(item, JSONResponse):
        return item
    refused = _refused(item, lifecycle.Action.DELETE)
    if refused is not None:
        return refused
    with state.lock:
        del state.items[item.id]
    return answer(None, 204)


async def unpublish_item(request: Request, state: Downstream) -> Response:
    return await _move(request, state, lifecycle.Action.UNPUBLISH)


async def archive_item(request: Request, state: Downstream) -> Response:
    return await _move(request, state, lifecycle.Action.ARCHIVE)


async def _move(request: Request, state: Downstream, action: lifecycle.Action) -> Response:
    item = _curator_item(request, state)
    if isinstance(item, JSONResponse):
        return item
    refused = _refused(item, action)
    if refused is not None:
        return refused
    status = lifecycle.transition(item.status, action)
    now = datetime.now(UTC)
    changes: dict[str, Any] = {"status": status, "publish_at": None, "updated_at": now}
    if status == ContentStatus.ARCHIVED:
        changes |= {"archived_at": now, "pinned_position": None, "pinned_until": None}
    with state.lock:
        state.items[item.id] = item.model_copy(update=changes)
    return answer(state.items[item.id])


async def pin_item(request: Request, state: Downstream) -> Response:
    item = _curator_item(request, state)
    if isinstance(item, JSONResponse):
        return item
    body = await _body(request, PinCreate)
    if isinstance(body, JSONResponse):
        return body
    refused = _refused(item, lifecycle.Action.PIN)
    if refused is not None:
        return refused
    _repin(state, item.id, body.position, body.pinned_until)
    return answer(state.items[item.id])


async def unpin_item(request: Request, state: Downstream) -> Response:
    item = _curator_item(request, state)
    if isinstance(item, JSONResponse):
        return item
    _repin(state, item.id, None, None)
    return answer(state.items[item.id])


async def list_item_revisions(request: Request, state: Downstream) -> Response:
    item = _curator_item(request, state)
    if isinstance(item, JSONResponse):
        return item
    with state.lock:
        revisions = list(state.revisions.get(item.id, []))
    return JSONResponse([r.model_dump(mode="json") for r in revisions])


def _curator_item(request: Request, state: Downstream) -> ContentItemPublic | JSONResponse:
    if not _has_role(request, "curator", "admin"):
        return _forbidden("curator", "admin")
    item_id = _uuid(request, "item_id")
    if isinstance(item_id, JSONResponse):
        return item_id
    item = state.items.get(item_id)
    return item if item is not None else error(404, "not_found", "content item not found")


async def list_captions(request: Request, state: Downstream) -> Response:
    item = _curator_item(request, state)
    if isinstance(item, JSONResponse):
        return item
    found = state.captions.get(item.id, [])
    return JSONResponse([c.model_dump(mode="json") for c in found])


async def replace_captions(request: Request, state: Downstream) -> Response:
    item = _curator_item(request, state)
    if isinstance(item, JSONResponse):
        return item
    body = await _body(request, clients.REPLACE_CAPTIONS.body or BaseModel)
    if isinstance(body, JSONResponse):
        return body
    now = datetime.now(UTC)
    subject = str(_claims(request).get("sub", ""))
    stored = [
        CaptionPublic(
            content_id=item.id,
            network=c["network"],
            language=c["language"],
            text=c["text"],
            updated_by=subject,
            updated_at=now,
        )
        for c in body.model_dump()["captions"]
    ]
    with state.lock:
        state.captions[item.id] = stored
    return JSONResponse([c.model_dump(mode="json") for c in stored])


async def choose_captions(request: Request, state: Downstream) -> Response:
    network = request.query_params.get("network", "")
    curator = _has_role(request, "curator", "admin")
    choices = []
    for raw in request.query_params.getlist("content_id"):
        item = state.items.get(uuid.UUID(raw))
        if item is None or (item.status != ContentStatus.PUBLISHED and not curator):
            continue
        offered = [
            Caption(c.network.value if c.network else "", c.language, c.text) for c in state.captions.get(item.id, [])
        ]
        # The stand-in knows no member's language: captions for every language, then the default.
        chosen = choose_caption(offered, item.suggested_caption, network, None)
        if chosen is not None:
            choices.append(
                CaptionChoice(
                    content_id=item.id,
                    network=Network(network),
                    text=chosen.text,
                    caption_network=Network(chosen.network) if chosen.network else None,
                    caption_language=chosen.language,
                ).model_dump(mode="json")
            )
    return JSONResponse(choices)


async def create_suggestion(request: Request, state: Downstream) -> Response:
    body = await _body(request, clients.CREATE_SUGGESTION.body or BaseModel)
    if isinstance(body, JSONResponse):
        return body
    data = body.model_dump(mode="json")
    with state.lock:
        for existing in state.suggestions.values():
            if existing.url == data["url"] and existing.status == SuggestionStatus.PENDING:
                return error(409, "conflict", "this page is already suggested", conflicting_id=existing.id)
        suggestion = SuggestionPublic(
            id=uuid.uuid4(),
            url=data["url"],
            note=data["note"],
            status=SuggestionStatus.PENDING,
            suggested_by=str(_claims(request).get("sub", "")),
            created_at=datetime.now(UTC),
            decided_by=None,
            decided_at=None,
            decline_reason="",
            content_id=None,
        )
        state.suggestions[suggestion.id] = suggestion
    return answer(suggestion, 201)


async def list_suggestions(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "curator", "admin"):
        return _forbidden("curator", "admin")
    wanted = request.query_params.get("status")
    rows = [s for s in state.suggestions.values() if wanted is None or s.status == wanted]
    page = keyset_page(request, rows, sort=lambda s: s.created_at, row_id=lambda s: s.id, oldest_first=True)
    if isinstance(page, JSONResponse):
        return page
    return answer(clients.LIST_SUGGESTIONS.response(items=page[0], next_cursor=page[1]))


async def list_my_suggestions(request: Request, state: Downstream) -> Response:
    subject = str(_claims(request).get("sub", ""))
    rows = [s for s in state.suggestions.values() if s.suggested_by == subject]
    page = keyset_page(request, rows, sort=lambda s: s.created_at, row_id=lambda s: s.id)
    if isinstance(page, JSONResponse):
        return page
    return answer(clients.LIST_MY_SUGGESTIONS.response(items=page[0], next_cursor=page[1]))


def _suggestion(request: Request, state: Downstream) -> SuggestionPublic | JSONResponse:
    suggestion_id = _uuid(request, "suggestion_id")
    if isinstance(suggestion_id, JSONResponse):
        return suggestion_id
    found = state.suggestions.get(suggestion_id)
    mine = found is not None and found.suggested_by == _claims(request).get("sub")
    if found is None or not (mine or _has_role(request, "curator", "admin")):
        return error(404, "not_found", "suggestion not found")
    return found


async def get_suggestion(request: Request, state: Downstream) -> Response:
    found = _suggestion(request, state)
    return found if isinstance(found, JSONResponse) else answer(found)


async def _decide(request: Request, state: Downstream, model: type[BaseModel], accept: bool) -> Response:
    if not _has_role(request, "curator", "admin"):
        return _forbidden("curator", "admin")
    found = _suggestion(request, state)
    if isinstance(found, JSONResponse):
        return found
    body = await _body(request, model)
    if isinstance(body, JSONResponse):
        return body
    if found.status != SuggestionStatus.PENDING:
        return error(409, "conflict", f"the suggestion is already {found.status.value}")
    decided: dict[str, Any] = {"decided_by": _claims(request).get("sub"), "decided_at": datetime.now(UTC)}
    if accept:
        item = state.add_item(published=False, title=body.model_dump().get("title") or found.url)
        with state.lock:
            state.items[item.id] = item.model_copy(update={"url": found.url, "suggested_by": found.suggested_by})
        decided |= {"status": SuggestionStatus.ACCEPTED, "content_id": item.id}
    else:
        decided |= {"status": SuggestionStatus.DECLINED, "decline_reason": body.model_dump()["reason"]}
    with state.lock:
        state.suggestions[found.id] = found.model_copy(update=decided)
    return answer(state.suggestions[found.id])


async def accept_suggestion(request: Request, state: Downstream) -> Response:
    return await _decide(request, state, clients.ACCEPT_SUGGESTION.body or BaseModel, accept=True)


async def decline_suggestion(request: Request, state: Downstream) -> Response:
    return await _decide(request, state, clients.DECLINE_SUGGESTION.body or BaseModel, accept=False)


# --- policy -----------------------------------------------------------------------------------------


async def check_post(request: Request, state: Downstream) -> Response:
    body = await _body(request, clients.CHECK_POST.body or BaseModel)
    if isinstance(body, JSONResponse):
        return body
    data = body.model_dump()
    standing = _standing(state, str(_claims(request).get("sub", "")))
    context = compliance.Context(
        now=datetime.now(UTC),
        required_disclosure=data["required_disclosure"],
        personal_touch=data["personal_touch"],
        rules=tuple(rule_of(r) for r in state.compliance_rules.values()),
    )
    url = data["url"] or f"{TRACKING_BASE}xxxxxxxx"
    verdict = rules.check(data["network"], data["text"], url, standing, context)
    return answer(
        PolicyCheckResult(
            allowed=verdict.outcome == rules.Outcome.APPROVED,
            outcome=verdict.outcome,
            violations=[ViolationPublic(code=v.code, message=v.message) for v in verdict.violations],
            length=verdict.length,
            limit=verdict.limit,
            findings=[finding_public(f) for f in verdict.findings],
        )
    )


async def get_decision(request: Request, state: Downstream) -> Response:
    share_id = _uuid(request, "share_id")
    if isinstance(share_id, JSONResponse):
        return share_id
    decision = state.decisions.get(share_id)
    mine = decision is not None and decision.member_id == _claims(request).get("sub")
    if decision is None or not (mine or _has_role(request, "reviewer", "admin")):
        return error(404, "not_found", "share decision not found")
    return answer(decision)


async def create_team(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin"):
        return _forbidden("admin")
    body = await _body(request, clients.CREATE_TEAM.body or BaseModel)
    if isinstance(body, JSONResponse):
        return body
    name = body.model_dump()["name"]
    existing_team = next((t for t in state.teams.values() if t.name == name), None)
    if existing_team is not None:
        message = f"the org already has a team named {name!r}"
        return error(409, "conflict", message, conflicting_id=existing_team.id)
    return answer(state.add_team(name), 201)


async def list_teams(request: Request, state: Downstream) -> Response:
    page = keyset_page(
        request, list(state.teams.values()), sort=lambda t: t.created_at, row_id=lambda t: t.id, oldest_first=True
    )
    if isinstance(page, JSONResponse):
        return page
    return answer(clients.LIST_TEAMS.response(items=page[0], next_cursor=page[1]))


async def get_team(request: Request, state: Downstream) -> Response:
    team_id = _uuid(request, "team_id")
    if isinstance(team_id, JSONResponse):
        return team_id
    team = state.teams.get(team_id)
    return answer(team) if team is not None else error(404, "not_found", "team not found")


async def create_member(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin"):
        return _forbidden("admin")
    body = await _body(request, clients.CREATE_MEMBER.body or BaseModel)
    if isinstance(body, JSONResponse):
        return body
    data = body.model_dump()
    if data["team_id"] is not None and data["team_id"] not in state.teams:
        return error(404, "not_found", "team not found", [{"loc": ["body", "team_id"], "message": "no such team"}])
    existing_member = next((m for m in state.members.values() if m.subject == data["subject"]), None)
    if existing_member is not None:
        message = f"the org already has a member with subject {data['subject']!r}"
        return error(409, "conflict", message, conflicting_id=existing_member.id)
    member = state.add_member(data["subject"], roles=data["roles"], team_id=data["team_id"])
    member = member.model_copy(update={"email": data["email"], "name": data["name"]})
    with state.lock:
        state.members[member.id] = member
    return answer(member, 201)


async def list_members(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin", "manager"):
        return _forbidden("admin", "manager")
    page = keyset_page(
        request, list(state.members.values()), sort=lambda m: m.created_at, row_id=lambda m: m.id, oldest_first=True
    )
    if isinstance(page, JSONResponse):
        return page
    return answer(clients.LIST_MEMBERS.response(items=page[0], next_cursor=page[1]))


async def my_member(request: Request, state: Downstream) -> Response:
    subject = _claims(request).get("sub")
    for member in state.members.values():
        if member.subject == subject:
            return answer(member)
    return error(404, "not_found", "member not found")


async def get_member(request: Request, state: Downstream) -> Response:
    member_id = _uuid(request, "member_id")
    if isinstance(member_id, JSONResponse):
        return member_id
    member = state.members.get(member_id)
    if member is None or (member.subject != _claims(request).get("sub") and not _has_role(request, "admin", "manager")):
        return error(404, "not_found", "member not found")
    return answer(member)


async def deactivate_member(request: Request, state: Downstream) -> Response:
    member_id = _uuid(request, "member_id")
    if isinstance(member_id, JSONResponse):
        return member_id
    if not _has_role(request, "admin"):
        return error(403, "forbidden", "this needs one of the roles: admin")
    member = state.members.get(member_id)
    if member is None:
        return error(404, "not_found", "member not found")
    with state.lock:
        member = state.members[member_id] = member.model_copy(update={"active": False})
    roster_member = RosterMemberPublic.model_validate(
        {**member.model_dump(), "external_id": None, "employee_number": None, "source": "api"}
    )
    return answer(roster_member)


def _issue_token(state: Downstream) -> ProvisioningTokenIssued:
    secret = f"cdv_scim_{uuid.uuid4().hex}"
    issued = ProvisioningTokenIssued(
        id=uuid.uuid4(), hint=secret[-4:], created_at=datetime.now(UTC), revoked_at=None, token=secret
    )
    state.provisioning_tokens[issued.id] = ProvisioningTokenPublic.model_validate(issued.model_dump())
    return issued


async def create_provisioning_token(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin"):
        return error(403, "forbidden", "this needs one of the roles: admin")
    with state.lock:
        return answer(_issue_token(state), 201)


async def list_provisioning_tokens(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin"):
        return error(403, "forbidden", "this needs one of the roles: admin")
    items = sorted(state.provisioning_tokens.values(), key=lambda t: t.created_at, reverse=True)
    return JSONResponse([t.model_dump(mode="json") for t in items])


async def rotate_provisioning_token(request: Request, state: Downstream) -> Response:
    token_id = _uuid(request, "token_id")
    if isinstance(token_id, JSONResponse):
        return token_id
    if not _has_role(request, "admin"):
        return error(403, "forbidden", "this needs one of the roles: admin")
    with state.lock:
        old = state.provisioning_tokens.get(token_id)
        if old is None:
            return error(404, "not_found", "provisioning token not found")
        if old.revoked_at is not None:
            return error(409, "conflict", "this token was rotated or revoked already")
        issued = _issue_token(state)
        state.provisioning_tokens[token_id] = old.model_copy(update={"revoked_at": issued.created_at})
        return answer(issued)


# --- policy: the social-media policy and training -----------------------------------------------------


def _current_policy(state: Downstream) -> PolicyVersionPublic | None:
    published = [v for v in state.policy_versions.values() if v.published_at is not None]
    return max(published, key=lambda v: (v.published_at, v.version), default=None)


def _teams_of(member: MemberPublic) -> frozenset[uuid.UUID]:
    # As services/policy/standing.py: all the roster's teams, ``team_id`` being the first of them.
    return frozenset(member.team_ids) | ({member.team_id} if member.team_id is not None else frozenset())


def _member_teams(state: Downstream, subject: str) -> frozenset[uuid.UUID]:
    return frozenset().union(*(_teams_of(m) for m in state.members.values() if m.subject == subject))


def _member_location(state: Downstream, subject: str) -> str | None:
    return next((m.location for m in state.members.values() if m.subject == subject), None)


def _target(version: PolicyVersionPublic) -> governance.Target:
    return governance.Target.of(version.target_team_ids, version.target_locations)


def _standing(state: Downstream, subject: str) -> governance.Standing:
    """What the policy service loads (services/policy/standing.py), from the stand-in's state."""
    with state.lock:
        current = _current_policy(state)
        requirement = None
        if current is not None and current.requires_acknowledgement:
            requirement = governance.PolicyRequirement(current.version, current.content_hash, _target(current))
        return governance.Standing(
            now=datetime.now(UTC),
            policy=requirement,
            team_ids=_member_teams(state, subject),
            location=_member_location(state, subject),
            acknowledged_hashes=frozenset(
                a.content_hash for a in state.acknowledgements if a.member_subject == subject
            ),
            modules=tuple(
                governance.ModuleRule(m.id, m.title, frozenset(m.required_for_networks))
                for m, _ in state.training_modules.values()
            ),
            certifications={m: c.expires_at for (s, m), c in state.certifications.items() if s == subject},
        )


def _progress(figures: governance.Progress) -> dict[str, Any]:
    teams = [TeamProgressPublic(**vars(t)) for t in figures.teams]
    return {"members": figures.members, "done": figures.done, "teams": teams}


def _roster(state: Downstream) -> tuple[list[governance.RosterEntry], dict[uuid.UUID, str]]:
    entries = [governance.RosterEntry(m.subject, _teams_of(m), m.location) for m in state.members.values() if m.active]
    return entries, {t.id: t.name for t in state.teams.values()}


async def create_policy_version(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin"):
        return _forbidden("admin")
    body = await _body(request, clients.CREATE_POLICY_VERSION.body or BaseModel)
    if isinstance(body, JSONResponse):
        return body
    data = body.model_dump()
    with state.lock:
        version = PolicyVersionPublic(
            id=uuid.uuid4(),
            version=max((v.version for v in state.policy_versions.values()), default=0) + 1,
            title=data["title"],
            body=data["body"],
            content_hash=governance.content_hash(data["title"], data["body"]),
            status=PolicyStatus.DRAFT,
            requires_acknowledgement=False,
            target_team_ids=[],
            target_locations=[],
            created_at=datetime.now(UTC),
            published_at=None,
        )
        state.policy_versions[version.id] = version
    return answer(version, 201)


def _visible_version(request: Request, state: Downstream) -> PolicyVersionPublic | JSONResponse:
    version_id = _uuid(request, "version_id")
    if isinstance(version_id, JSONResponse):
        return version_id
    version = state.policy_versions.get(version_id)
    if version is None or (version.status != PolicyStatus.PUBLISHED and not _has_role(request, "admin")):
        return error(404, "not_found", "policy version not found")
    return version


async def list_policy_versions(request: Request, state: Downstream) -> Response:
    versions = [
        v for v in state.policy_versions.values() if v.status == PolicyStatus.PUBLISHED or _has_role(request, "admin")
    ]
    page = keyset_page(request, versions, sort=lambda v: v.created_at, row_id=lambda v: v.id)
    if isinstance(page, JSONResponse):
        return page
    return answer(clients.LIST_POLICY_VERSIONS.response(items=page[0], next_cursor=page[1]))


async def get_policy_version(request: Request, state: Downstream) -> Response:
    version = _visible_version(request, state)
    return version if isinstance(version, JSONResponse) else answer(version)


async def publish_policy_version(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin"):
        return _forbidden("admin")
    version = _visible_version(request, state)
    if isinstance(version, JSONResponse):
        return version
    body = await _body(request, clients.PUBLISH_POLICY_VERSION.body or BaseModel)
    if isinstance(body, JSONResponse):
        return body
    data = body.model_dump()
    if any(t not in state.teams for t in data["team_ids"]):
        return error(404, "not_found", "team not found", [{"loc": ["body", "team_ids"], "message": "no such team"}])
    if version.status == PolicyStatus.PUBLISHED:
        return error(409, "already_published", f"version {version.version} is already published")
    published = version.model_copy(
        update={
            "status": PolicyStatus.PUBLISHED,
            "published_at": datetime.now(UTC),
            "requires_acknowledgement": data["requires_acknowledgement"],
            "target_team_ids": data["team_ids"],
            "target_locations": governance.distinct_locations(data["locations"]),
        }
    )
    with state.lock:
        state.policy_versions[version.id] = published
    return answer(published)


async def policy_progress(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin"):
        return _forbidden("admin")
    version = _visible_version(request, state)
    if isinstance(version, JSONResponse):
        return version
    entries, names = _roster(state)
    done = {a.member_subject for a in state.acknowledgements if a.content_hash == version.content_hash}
    figures = governance.progress(entries, names, done, _target(version))
    return answer(PolicyProgressPublic(policy_version_id=version.id, **_progress(figures)))


async def acknowledge_policy(request: Request, state: Downstream) -> Response:
    body = await _body(request, clients.ACKNOWLEDGE_POLICY.body or BaseModel)
    if isinstance(body, JSONResponse):
        return body
    data = body.model_dump()
    subject = str(_claims(request).get("sub"))
    version = state.policy_versions.get(data["policy_version_id"])
    if version is None or version.status != PolicyStatus.PUBLISHED:
        return error(404, "not_found", "policy version not found")
    current = _current_policy(state)
    if current is None or current.id != version.id:
        return error(409, "policy_version_superseded", f"version {version.version} is no longer in force")
    if data["content_hash"] is not None and data["content_hash"] != version.content_hash:
        return error(409, "policy_text_changed", "the policy's text is not the one you read; read it again")
    with state.lock:
        for ack in state.acknowledgements:
            if ack.member_subject == subject and ack.policy_version_id == version.id:
                return answer(ack)
        ack = AcknowledgementPublic(
            id=uuid.uuid4(),
            policy_version_id=version.id,
            member_subject=subject,
            version=version.version,
            content_hash=version.content_hash,
            acknowledged_at=datetime.now(UTC),
        )
        state.acknowledgements.append(ack)
    return answer(ack, 201)


async def my_policy_status(request: Request, state: Downstream) -> Response:
    subject = str(_claims(request).get("sub"))
    current = _current_policy(state)
    if current is None:
        return answer(MyPolicyStatus(current=None, required=False, acknowledged=False, acknowledged_at=None))
    standing = _standing(state, subject)
    mine = [a for a in state.acknowledgements if a.member_subject == subject and a.content_hash == current.content_hash]
    return answer(
        MyPolicyStatus(
            current=current,
            required=standing.policy is not None and standing.policy.applies_to(standing.team_ids, standing.location),
            acknowledged=bool(mine),
            acknowledged_at=min((a.acknowledged_at for a in mine), default=None),
        )
    )


async def create_training_module(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin"):
        return _forbidden("admin")
    body = await _body(request, clients.CREATE_TRAINING_MODULE.body or BaseModel)
    if isinstance(body, JSONResponse):
        return body
    data = body.model_dump()
    module = TrainingModulePublic(
        id=uuid.uuid4(),
        title=data["title"],
        lessons=data["lessons"],
        questions=[
            QuestionPublic(prompt=q["prompt"], options=q["options"], multiple=len(q["correct_options"]) > 1)
            for q in data["questions"]
        ],
        pass_mark=data["pass_mark"],
        certification_valid_days=data["certification_valid_days"],
        required_for_networks=sorted({str(n) for n in data["required_for_networks"]}),
        created_at=datetime.now(UTC),
    )
    with state.lock:
        state.training_modules[module.id] = (module, [sorted(q["correct_options"]) for q in data["questions"]])
    return answer(module, 201)


def _training_module(request: Request, state: Downstream) -> tuple[TrainingModulePublic, list[list[int]]] | Response:
    module_id = _uuid(request, "module_id")
    if isinstance(module_id, JSONResponse):
        return module_id
    found = state.training_modules.get(module_id)
    return found if found is not None else error(404, "not_found", "training module not found")


async def list_training_modules(request: Request, state: Downstream) -> Response:
    modules = [m for m, _ in state.training_modules.values()]
    page = keyset_page(request, modules, sort=lambda m: m.created_at, row_id=lambda m: m.id, oldest_first=True)
    if isinstance(page, JSONResponse):
        return page
    return answer(clients.LIST_TRAINING_MODULES.response(items=page[0], next_cursor=page[1]))


async def get_training_module(request: Request, state: Downstream) -> Response:
    found = _training_module(request, state)
    return found if isinstance(found, Response) else answer(found[0])


async def submit_quiz_attempt(request: Request, state: Downstream) -> Response:
    found = _training_module(request, state)
    if isinstance(found, Response):
        return found
    module, correct = found
    body = await _body(request, clients.SUBMIT_QUIZ_ATTEMPT.body or BaseModel)
    if isinstance(body, JSONResponse):
        return body
    answers = body.model_dump()["answers"]
    questions = [
        governance.Question(q.prompt, tuple(q.options), frozenset(c))
        for q, c in zip(module.questions, correct, strict=True)
    ]
    try:
        grade = governance.grade(questions, answers, module.pass_mark)
    except governance.AnswerError as exc:
        loc: list[str | int] = ["body", "answers"] + ([exc.index] if exc.index is not None else [])
        return error(422, "validation_failed", str(exc), [{"loc": loc, "message": str(exc)}])
    subject = str(_claims(request).get("sub"))
    now = datetime.now(UTC)
    certification = None
    if grade.passed:
        expires_at = governance.certification_expiry(now, module.certification_valid_days)
        certification = CertificationPublic(module_id=module.id, certified_at=now, expires_at=expires_at)
    attempt = QuizAttemptPublic(
        id=uuid.uuid4(),
        module_id=module.id,
        answers=[sorted(a) for a in answers],
        correct=grade.correct,
        total=grade.total,
        score=grade.score,
        passed=grade.passed,
        submitted_at=now,
        certification=certification,
    )
    with state.lock:
        state.quiz_attempts[attempt.id] = (subject, attempt)
        if certification is not None:
            state.certifications[(subject, module.id)] = certification
    return answer(attempt, 201)


async def get_quiz_attempt(request: Request, state: Downstream) -> Response:
    attempt_id = _uuid(request, "attempt_id")
    if isinstance(attempt_id, JSONResponse):
        return attempt_id
    found = state.quiz_attempts.get(attempt_id)
    if found is None or found[0] != _claims(request).get("sub"):
        return error(404, "not_found", "quiz attempt not found")
    return answer(found[1])


async def training_progress(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin"):
        return _forbidden("admin")
    found = _training_module(request, state)
    if isinstance(found, Response):
        return found
    now = datetime.now(UTC)
    done = {
        s for (s, m), c in state.certifications.items() if m == found[0].id and governance.is_current(c.expires_at, now)
    }
    entries, names = _roster(state)
    figures = governance.progress(entries, names, done)
    return answer(TrainingProgressPublic(module_id=found[0].id, **_progress(figures)))


async def my_training_status(request: Request, state: Downstream) -> Response:
    subject = str(_claims(request).get("sub"))
    now = datetime.now(UTC)
    modules = []
    for module, _ in state.training_modules.values():
        mine = [a for s, a in state.quiz_attempts.values() if s == subject and a.module_id == module.id]
        held = state.certifications.get((subject, module.id))
        modules.append(
            MyTrainingModule(
                module_id=module.id,
                title=module.title,
                required_for_networks=module.required_for_networks,
                attempts=len(mine),
                best_score=max((a.score for a in mine), default=None),
                certification=held,
                certified=held is not None and governance.is_current(held.expires_at, now),
            )
        )
    return answer(MyTrainingStatus(modules=modules))


# --- sharing ----------------------------------------------------------------------------------------


async def create_share(request: Request, state: Downstream) -> Response:
    """Contract 2 of issue 5: Idempotency-Key repeats answer the first share; without a key, a share of
    the same item to the same network still pending or published within the window is a conflict."""
    body = await _body(request, clients.CREATE_SHARE.body or BaseModel)
    if isinstance(body, JSONResponse):
        return body
    data = body.model_dump(mode="json")
    if not data["text"].strip():
        return error(
            422, "validation_failed", "the request is not valid", [{"loc": ["body", "text"], "message": "blank"}]
        )
    member = str(_claims(request).get("sub"))
    key = request.headers.get("idempotency-key")
    content_id = uuid.UUID(data["content_id"])
    with state.lock:
        if key is not None and (member, key) in state.idempotency:
            first_body, share_id = state.idempotency[(member, key)]
            if first_body != data:
                return error(422, "idempotency_key_reused", "this Idempotency-Key was used for another share")
            return answer(state.shares[share_id], 202)
        item = state.items.get(content_id)
        if item is None or item.status != ContentStatus.PUBLISHED:
            return error(404, "not_found", "content item not found")
        if key is None:
            now = datetime.now(UTC)
            for other in state.shares.values():
                same = (other.member_id, other.content_id, other.network) == (member, content_id, data["network"])
                waiting = other.status in (ShareStatus.PENDING_POLICY, ShareStatus.NEEDS_REVIEW)
                recent = other.status == ShareStatus.PUBLISHED and now - other.updated_at < DUPLICATE_WINDOW
                if same and (waiting or recent):
                    return error(
                        409,
                        "duplicate_share",
                        f"you already shared this item to {data['network']}",
                        conflicting_id=other.id,
                    )
    share = state.add_share(member=member, content_id=content_id, network=Network(data["network"]), text=data["text"])
    if key is not None:
        with state.lock:
            state.idempotency[(member, key)] = (data, share.id)
    return answer(share, 202)


async def get_share(request: Request, state: Downstream) -> Response:
    share_id = _uuid(request, "share_id")
    if isinstance(share_id, JSONResponse):
        return share_id
    share = state.shares.get(share_id)
    if share is None or (
        share.member_id != _claims(request).get("sub") and not _has_role(request, "admin", "reviewer")
    ):
        return error(404, "not_found", "share not found")
    return answer(share)


async def list_shares(request: Request, state: Downstream) -> Response:
    subject = _claims(request).get("sub")
    wanted = request.query_params.get("content_id")
    with state.lock:
        own = [
            s
            for s in state.shares.values()
            if s.member_id == subject and (wanted is None or str(s.content_id) == wanted)
        ]
    page = keyset_page(request, own, sort=lambda s: s.created_at, row_id=lambda s: s.id)
    if isinstance(page, JSONResponse):
        return page
    return answer(clients.LIST_MY_SHARES.response(items=page[0], next_cursor=page[1]))


async def create_connection(request: Request, state: Downstream) -> Response:
    body = await _body(request, clients.CREATE_CONNECTION.body or BaseModel)
    if isinstance(body, JSONResponse):
        return body
    data = body.model_dump()
    member = str(_claims(request).get("sub"))
    with state.lock:
        if any(m == member and c.network == data["network"] for m, c in state.connections.values()):
            return error(409, "conflict", f"you already have a {data['network']} connection; delete it first")
        connection = ConnectionPublic(id=uuid.uuid4(), created_at=datetime.now(UTC), **data)
        state.connections[connection.id] = (member, connection)
    return answer(connection, 201)


async def list_connections(request: Request, state: Downstream) -> Response:
    member = _claims(request).get("sub")
    with state.lock:
        own = sorted((c for m, c in state.connections.values() if m == member), key=lambda c: c.network)
    return JSONResponse(TypeAdapter(clients.LIST_MY_CONNECTIONS.response).dump_python(own, mode="json"))


async def delete_connection(request: Request, state: Downstream) -> Response:
    connection_id = _uuid(request, "connection_id")
    if isinstance(connection_id, JSONResponse):
        return connection_id
    with state.lock:
        found = state.connections.get(connection_id)
        if found is None or found[0] != _claims(request).get("sub"):
            return error(404, "not_found", "connection not found")
        del state.connections[connection_id]
    return answer(None, 204)


# --- metrics ----------------------------------------------------------------------------------------


async def stats_batch(request: Request, state: Downstream) -> Response:
    body = await _body(request, clients.CONTENT_STATS_BATCH.body or BaseModel)
    if isinstance(body, JSONResponse):
        return body
    ids = body.model_dump()["content_ids"]
    with state.lock:
        return answer(ContentStatsBatch(items=[state.stats[i] for i in ids if i in state.stats]))


async def summary(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin", "manager", "curator"):
        return _forbidden("admin", "manager", "curator")
    with state.lock:
        rows = list(state.stats.values())
    return answer(
        OrgSummary(
            content_items=len(rows),
            shares=sum(r.shares for r in rows),
            clicks=sum(r.clicks for r in rows),
            unique_clicks=sum(r.unique_clicks for r in rows),
            potential_reach=sum(r.potential_reach for r in rows),
        )
    )


# --- the audit log and the near-duplicate guard (issue 8) ---


def add_audit_entry(state: Downstream, kind: str, actor: str, payload: dict[str, Any]) -> AuditEntryPublic:
    """Appends an entry as the policy service would (the chain's hashes are the service's business)."""
    with state.lock:
        previous = state.audit_entries[-1].hash if state.audit_entries else "0" * 64
        entry = AuditEntryPublic(
            id=uuid.uuid4(),
            seq=len(state.audit_entries) + 1,
            kind=kind,
            subject_id=str(uuid.uuid4()),
            actor=actor,
            payload=payload,
            recorded_at=datetime.now(UTC),
            prev_hash=previous,
            hash=uuid.uuid4().hex * 2,
        )
        state.audit_entries.append(entry)
    return entry


async def list_audit_entries(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin"):
        return _forbidden("admin")
    kind = request.query_params.get("kind")
    entries = [e for e in state.audit_entries if kind is None or e.kind == kind]
    page = keyset_page(request, entries, sort=lambda e: e.recorded_at, row_id=lambda e: e.id)
    if isinstance(page, JSONResponse):
        return page
    return answer(clients.LIST_AUDIT_ENTRIES.response(items=page[0], next_cursor=page[1]))


async def verify_audit_chain(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin"):
        return _forbidden("admin")
    arranged = state.audit_settings.get("verification")
    if isinstance(arranged, AuditVerification):
        return answer(arranged)
    entries = state.audit_entries
    return answer(
        AuditVerification(
            ok=True,
            entries_checked=len(entries),
            first_seq=entries[0].seq if entries else 0,
            head_seq=entries[-1].seq if entries else 0,
            head_hash=entries[-1].hash if entries else "0" * 64,
            first_break=None,
        )
    )


async def get_audit_retention(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin"):
        return _forbidden("admin")
    saved = state.audit_settings.get("retention")
    default = RetentionPublic(retention_days=DEFAULT_RETENTION_DAYS, updated_by=None, updated_at=None)
    return answer(saved if saved is not None else default)


async def update_audit_retention(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin"):
        return _forbidden("admin")
    body = await _body(request, clients.UPDATE_AUDIT_RETENTION.body or BaseModel)
    if isinstance(body, JSONResponse):
        return body
    subject = str(_claims(request).get("sub"))
    saved = RetentionPublic(**body.model_dump(), updated_by=subject, updated_at=datetime.now(UTC))
    state.audit_settings["retention"] = saved
    add_audit_entry(state, "retention.changed", subject, body.model_dump(mode="json"))
    return answer(saved)


async def get_near_duplicate_settings(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin", "reviewer"):
        return _forbidden("admin", "reviewer")
    saved = state.audit_settings.get("near_duplicates")
    if saved is None:
        d = near_duplicates.DEFAULTS
        saved = NearDuplicateSettingsPublic(
            enabled=d.enabled,
            threshold=d.threshold,
            window_days=d.window_days,
            action=d.action,
            updated_by=None,
            updated_at=None,
        )
    return answer(saved)


async def update_near_duplicate_settings(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin"):
        return _forbidden("admin")
    body = await _body(request, clients.UPDATE_NEAR_DUPLICATE_SETTINGS.body or BaseModel)
    if isinstance(body, JSONResponse):
        return body
    subject = str(_claims(request).get("sub"))
    saved = NearDuplicateSettingsPublic(**body.model_dump(), updated_by=subject, updated_at=datetime.now(UTC))
    state.audit_settings["near_duplicates"] = saved
    add_audit_entry(state, "near_duplicates.changed", subject, body.model_dump(mode="json"))
    return answer(saved)


# --- compliance rules (issue 8) --------------------------------------------------------------------


async def _write_rule(request: Request, state: Downstream, record: ComplianceRuleRecord | None) -> Response:
    if not _has_role(request, "admin"):
        return _forbidden("admin")
    body = await _body(request, ComplianceRuleWrite)
    if isinstance(body, JSONResponse):
        return body
    problems = config_problems(body)
    if problems:
        return error(422, "validation_failed", str(problems[0]["message"]), problems)
    now = datetime.now(UTC)
    fields = {
        "kind": body.kind.value,
        "action": body.action.value,
        "message": body.message,
        "network": body.network.value if body.network is not None else None,
        "campaign_id": body.campaign_id,
        "team_id": body.team_id,
        "config": config_of(body),
    }
    if body.team_id is not None and body.team_id not in state.teams:
        return error(404, "not_found", "team not found", [{"loc": ["body", "team_id"], "message": "not found"}])
    candidate = ComplianceRuleRecord(
        id=record.id if record else uuid.uuid4(),
        org_id=uuid.UUID(int=0),
        created_by=record.created_by if record else str(_claims(request).get("sub", "")),
        created_at=record.created_at if record else now,
        updated_at=now,
        **fields,
    )
    with state.lock:
        others = [rule_of(r) for r in state.compliance_rules.values() if r.id != candidate.id]
        refused = compliance.refusals(rule_of(candidate), others)
        if refused:
            details = [{"loc": ["body", *r.loc], "message": r.message} for r in refused]
            return error(422, "validation_failed", refused[0].message, details)
        state.compliance_rules[candidate.id] = candidate
    return answer(public_of(candidate), 200 if record else 201)


def _compliance_rule(request: Request, state: Downstream) -> ComplianceRuleRecord | JSONResponse:
    if not _has_role(request, "admin", "reviewer"):
        return _forbidden("reviewer", "admin")
    rule_id = _uuid(request, "rule_id")
    if isinstance(rule_id, JSONResponse):
        return rule_id
    record = state.compliance_rules.get(rule_id)
    return record if record is not None else error(404, "not_found", "compliance rule not found")


async def create_compliance_rule(request: Request, state: Downstream) -> Response:
    return await _write_rule(request, state, None)


async def list_compliance_rules(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin", "reviewer"):
        return _forbidden("reviewer", "admin")
    kind = request.query_params.get("kind")
    records = [r for r in state.compliance_rules.values() if kind is None or r.kind == kind]
    page = keyset_page(request, records, sort=lambda r: r.created_at, row_id=lambda r: r.id, oldest_first=True)
    if isinstance(page, JSONResponse):
        return page
    return answer(clients.LIST_COMPLIANCE_RULES.response(items=[public_of(r) for r in page[0]], next_cursor=page[1]))


async def get_compliance_rule(request: Request, state: Downstream) -> Response:
    record = _compliance_rule(request, state)
    return record if isinstance(record, JSONResponse) else answer(public_of(record))


async def replace_compliance_rule(request: Request, state: Downstream) -> Response:
    record = _compliance_rule(request, state)
    return record if isinstance(record, JSONResponse) else await _write_rule(request, state, record)


async def delete_compliance_rule(request: Request, state: Downstream) -> Response:
    if not _has_role(request, "admin"):
        return _forbidden("admin")
    record = _compliance_rule(request, state)
    if isinstance(record, JSONResponse):
        return record
    with state.lock:
        state.compliance_rules.pop(record.id, None)
    return Response(status_code=204)


HANDLERS: dict[Endpoint[Any], Handler] = {
    clients.FEED: feed,
    clients.LIST_CAMPAIGNS: list_campaigns,
    clients.GET_CAMPAIGN: get_campaign,
    clients.CREATE_CAMPAIGN: create_campaign,
    clients.UPDATE_CAMPAIGN: update_campaign,
    clients.ARCHIVE_CAMPAIGN: archive_campaign,
    clients.ADD_CAMPAIGN_ITEM: add_campaign_item,
    clients.REMOVE_CAMPAIGN_ITEM: remove_campaign_item,
    clients.CAMPAIGN_ITEMS: campaign_items,
    clients.SET_ITEM_AUDIENCE: set_item_audience,
    clients.GET_CONTENT_ITEM: get_item,
    clients.CREATE_CONTENT_ITEM: create_item,
    clients.PUBLISH_CONTENT_ITEM: publish_item,
    clients.LIST_CONTENT_ITEMS: list_library,
    clients.UPDATE_CONTENT_ITEM: update_item,
    clients.DELETE_CONTENT_ITEM: delete_library_item,
    clients.UNPUBLISH_CONTENT_ITEM: unpublish_item,
    clients.ARCHIVE_CONTENT_ITEM: archive_item,
    clients.PIN_CONTENT_ITEM: pin_item,
    clients.UNPIN_CONTENT_ITEM: unpin_item,
    clients.LIST_REVISIONS: list_item_revisions,
    clients.CHECK_POST: check_post,
    clients.GET_SHARE_DECISION: get_decision,
    clients.CREATE_TEAM: create_team,
    clients.LIST_TEAMS: list_teams,
    clients.GET_TEAM: get_team,
    clients.CREATE_MEMBER: create_member,
    clients.LIST_MEMBERS: list_members,
    clients.GET_MY_MEMBER: my_member,
    clients.GET_MEMBER: get_member,
    clients.DEACTIVATE_MEMBER: deactivate_member,
    clients.CREATE_PROVISIONING_TOKEN: create_provisioning_token,
    clients.LIST_PROVISIONING_TOKENS: list_provisioning_tokens,
    clients.ROTATE_PROVISIONING_TOKEN: rotate_provisioning_token,
    clients.CREATE_SHARE: create_share,
    clients.GET_SHARE: get_share,
    clients.LIST_MY_SHARES: list_shares,
    clients.CREATE_CONNECTION: create_connection,
    clients.LIST_MY_CONNECTIONS: list_connections,
    clients.DELETE_CONNECTION: delete_connection,
    clients.CONTENT_STATS_BATCH: stats_batch,
    clients.ORG_SUMMARY: summary,
    clients.CREATE_POLICY_VERSION: create_policy_version,
    clients.LIST_POLICY_VERSIONS: list_policy_versions,
    clients.GET_POLICY_VERSION: get_policy_version,
    clients.PUBLISH_POLICY_VERSION: publish_policy_version,
    clients.POLICY_PROGRESS: policy_progress,
    clients.ACKNOWLEDGE_POLICY: acknowledge_policy,
    clients.MY_POLICY_STATUS: my_policy_status,
    clients.CREATE_TRAINING_MODULE: create_training_module,
    clients.LIST_TRAINING_MODULES: list_training_modules,
    clients.GET_TRAINING_MODULE: get_training_module,
    clients.SUBMIT_QUIZ_ATTEMPT: submit_quiz_attempt,
    clients.GET_QUIZ_ATTEMPT: get_quiz_attempt,
    clients.TRAINING_PROGRESS: training_progress,
    clients.MY_TRAINING_STATUS: my_training_status,
    clients.LINK_PREVIEW_BATCH: link_previews_batch,
    clients.REFRESH_LINK_PREVIEW: refresh_link_preview,
    clients.LIST_AUDIT_ENTRIES: list_audit_entries,
    clients.VERIFY_AUDIT_CHAIN: verify_audit_chain,
    clients.GET_AUDIT_RETENTION: get_audit_retention,
    clients.UPDATE_AUDIT_RETENTION: update_audit_retention,
    clients.GET_NEAR_DUPLICATE_SETTINGS: get_near_duplicate_settings,
    clients.UPDATE_NEAR_DUPLICATE_SETTINGS: update_near_duplicate_settings,
    clients.CREATE_COMPLIANCE_RULE: create_compliance_rule,
    clients.LIST_COMPLIANCE_RULES: list_compliance_rules,
    clients.GET_COMPLIANCE_RULE: get_compliance_rule,
    clients.REPLACE_COMPLIANCE_RULE: replace_compliance_rule,
    clients.DELETE_COMPLIANCE_RULE: delete_compliance_rule,
    clients.LIST_CAPTIONS: list_captions,
    clients.REPLACE_CAPTIONS: replace_captions,
    clients.CHOOSE_CAPTIONS: choose_captions,
    clients.CREATE_SUGGESTION: create_suggestion,
    clients.LIST_SUGGESTIONS: list_suggestions,
    clients.LIST_MY_SUGGESTIONS: list_my_suggestions,
    clients.GET_SUGGESTION: get_suggestion,
    clients.ACCEPT_SUGGESTION: accept_suggestion,
    clients.DECLINE_SUGGESTION: decline_suggestion,
}


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


def stand_in_app(name: str, state: Downstream) -> FastAPI:
    return _stand_in(name, state, {e: h for e, h in HANDLERS.items() if e.service == name})


def start_downstream() -> tuple[Downstream, list[ServerThread]]:
    state = Downstream()
    servers = []
    for name in SERVICES:
        server = ServerThread(stand_in_app(name, state)).start()
        state.urls[name] = server.url
        servers.append(server)
    return state, servers
