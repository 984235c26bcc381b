"""Employee suggestions: any member suggests a page with a note; curators work through the queue,
accepting (the page becomes a draft crediting the suggester) or declining with a reason the suggester
reads. Each step is an event (SuggestionSubmitted, SuggestionAccepted, SuggestionDeclined) so that
metrics can credit suggestions.
"""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from condividi.contracts.content_pb2 import SuggestionAccepted, SuggestionDeclined, SuggestionSubmitted
from condividi.db import Database, utcnow
from condividi.errors import conflict, not_found
from condividi.identity import Caller, CallerDep, Role, require_roles
from condividi.openapi import DocumentedRoute, error_responses
from condividi.pagination import MAX_PAGE_SIZE, Before, Page, read_page
from condividi.service import DatabaseDep
from services.content.models import (
    ContentItem,
    ContentStatus,
    Suggestion,
    SuggestionAccept,
    SuggestionCreate,
    SuggestionDecline,
    SuggestionPublic,
    SuggestionStatus,
)

router = APIRouter(prefix="/api/v1", route_class=DocumentedRoute)

Curator = Annotated[Caller, Depends(require_roles(Role.CURATOR, Role.ADMIN))]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
_DEFAULT_PORTS = {"http": 80, "https": 443}
_TITLE_LENGTH = 300


def url_key(url: str) -> str:
    """The URL as compared for duplicates: scheme and host in lower case, no default port, no fragment,
    no trailing slash. Query strings are kept: they often name the page (``?id=42``)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, ""))


def default_title(url: str) -> str:
    """A draft's title until the curator writes one: the page's address without its scheme."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}".rstrip("/")[:_TITLE_LENGTH] or url[:_TITLE_LENGTH]


def _public(suggestion: Suggestion) -> SuggestionPublic:
    return SuggestionPublic.model_validate(suggestion, from_attributes=True)


async def _visible(db: Database, caller: Caller, suggestion_id: uuid.UUID) -> Suggestion:
    async with db.read() as session:
        suggestion = await session.get(Suggestion, suggestion_id)
    # Another org's, or another member's for a non-curator, answers exactly like a missing one.
    if suggestion is None or suggestion.org_id != caller.org_id:
        raise not_found("suggestion")
    if suggestion.suggested_by != caller.subject and not caller.has_any(Role.CURATOR, Role.ADMIN):
        raise not_found("suggestion")
    return suggestion


@router.post(
    "/suggestions",
    status_code=status.HTTP_201_CREATED,
    tags=["suggestions"],
    operation_id="suggestions-create",
    responses=error_responses(
        409, s409="The page is already suggested and waiting in the org's queue; `conflicting_id` names it."
    ),
)
async def create_suggestion(body: SuggestionCreate, caller: CallerDep, db: DatabaseDep) -> SuggestionPublic:
    """Suggests a page for the library (any member); curators see it in their queue."""
    url = str(body.url)
    suggestion = Suggestion(
        org_id=caller.org_id,
        url=url,
        url_key=url_key(url),
        note=body.note,
        status=SuggestionStatus.PENDING,
        suggested_by=caller.subject,
        created_at=utcnow(),
    )
    try:
        async with db.unit_of_work() as uow:
            uow.session.add(suggestion)
            await uow.session.flush()
            uow.emit(
                SuggestionSubmitted(
                    suggestion_id=str(suggestion.id), url=url, note=suggestion.note, suggested_by=caller.subject
                ),
                org_id=caller.org_id,
                aggregate_id=suggestion.id,
            )
    except IntegrityError as exc:
        # The partial unique index on pending (org, url_key): someone suggested it first.
        async with db.read() as session:
            existing = await session.scalar(
                select(Suggestion).where(
                    Suggestion.org_id == caller.org_id,
                    Suggestion.url_key == suggestion.url_key,
                    Suggestion.status == SuggestionStatus.PENDING,
                )
            )
        raise conflict(
            "this page is already suggested and waiting for a curator", existing.id if existing else None
        ) from exc
    return _public(suggestion)


@router.get("/suggestions", tags=["suggestions"], operation_id="suggestions-list", responses=error_responses(400))
async def list_suggestions(
    caller: Curator,
    db: DatabaseDep,
    status: Annotated[SuggestionStatus | None, Query(description="Only these; default: every status.")] = None,
    limit: PageSize = 20,
    cursor: str | None = None,
    before: Before = None,
) -> Page[SuggestionPublic]:
    """The org's suggestions, oldest first: the queue (curators and admins; `status=pending` for the
    ones waiting)."""
    query = select(Suggestion).where(Suggestion.org_id == caller.org_id)
    if status is not None:
        query = query.where(Suggestion.status == status)
    async with db.read() as session:
        rows, next_cursor = await read_page(
            session,
            query,
            sort=Suggestion.created_at,
            row_id=Suggestion.id,
            limit=limit,
            cursor=cursor,
            before=before,
            oldest_first=True,
        )
    return Page[SuggestionPublic](items=[_public(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/suggestions/mine", tags=["suggestions"], operation_id="suggestions-list-mine", responses=error_responses(400)
)
async def list_my_suggestions(
    caller: CallerDep,
    db: DatabaseDep,
    limit: PageSize = 20,
    cursor: str | None = None,
    before: Before = None,
) -> Page[SuggestionPublic]:
    """The caller's own suggestions, newest first, with their status and any reason for a decline."""
    query = select(Suggestion).where(Suggestion.org_id == caller.org_id, Suggestion.suggested_by == caller.subject)
    async with db.read() as session:
        rows, next_cursor = await read_page(
            session, query, sort=Suggestion.created_at, row_id=Suggestion.id, limit=limit, cursor=cursor, before=before
        )
    return Page[SuggestionPublic](items=[_public(r) for r in rows], next_cursor=next_cursor)


@router.get("/suggestions/{suggestion_id}", tags=["suggestions"], operation_id="suggestions-get")
async def get_suggestion(suggestion_id: uuid.UUID, caller: CallerDep, db: DatabaseDep) -> SuggestionPublic:
    """One suggestion: curators and admins any of the org, others their own."""
    return _public(await _visible(db, caller, suggestion_id))


async def _pending_for_update(session: AsyncSession, caller: Caller, suggestion_id: uuid.UUID) -> Suggestion:
    suggestion = await session.get(Suggestion, suggestion_id, with_for_update=True)
    if suggestion is None or suggestion.org_id != caller.org_id:
        raise not_found("suggestion")
    if suggestion.status != SuggestionStatus.PENDING:
        raise conflict(f"the suggestion is already {SuggestionStatus(suggestion.status).value}")
    return suggestion


@router.post(
    "/suggestions/{suggestion_id}/accept",
    tags=["suggestions"],
    operation_id="suggestions-accept",
    responses=error_responses(409, s409="The suggestion was already accepted or declined."),
)
async def accept_suggestion(
    suggestion_id: uuid.UUID, body: SuggestionAccept, caller: Curator, db: DatabaseDep
) -> SuggestionPublic:
    """Accepts a suggestion (curators and admins): it becomes a draft item crediting the suggester
    (`suggested_by`), whose id the answer's `content_id` gives. The body may be `{}`."""
    now = utcnow()
    async with db.unit_of_work() as uow:
        suggestion = await _pending_for_update(uow.session, caller, suggestion_id)
        item = ContentItem(
            org_id=caller.org_id,
            title=body.title or default_title(suggestion.url),
            url=suggestion.url,
            summary=suggestion.note,
            status=ContentStatus.DRAFT,
            created_by=caller.subject,
            created_at=now,
            updated_at=now,
            suggested_by=suggestion.suggested_by,
        )
        uow.session.add(item)
        await uow.session.flush()
        suggestion.status = SuggestionStatus.ACCEPTED
        suggestion.decided_by, suggestion.decided_at, suggestion.content_id = caller.subject, now, item.id
        uow.emit(
            SuggestionAccepted(
                suggestion_id=str(suggestion.id),
                content_id=str(item.id),
                suggested_by=suggestion.suggested_by,
                accepted_by=caller.subject,
            ),
            org_id=caller.org_id,
            aggregate_id=suggestion.id,
        )
    return _public(suggestion)


@router.post(
    "/suggestions/{suggestion_id}/decline",
    tags=["suggestions"],
    operation_id="suggestions-decline",
    responses=error_responses(409, s409="The suggestion was already accepted or declined."),
)
async def decline_suggestion(
    suggestion_id: uuid.UUID, body: SuggestionDecline, caller: Curator, db: DatabaseDep
) -> SuggestionPublic:
    """Declines a suggestion (curators and admins) with a reason the suggester reads."""
    async with db.unit_of_work() as uow:
        suggestion = await _pending_for_update(uow.session, caller, suggestion_id)
        suggestion.status = SuggestionStatus.DECLINED
        suggestion.decided_by, suggestion.decided_at = caller.subject, utcnow()
        suggestion.decline_reason = body.reason
        uow.emit(
            SuggestionDeclined(
                suggestion_id=str(suggestion.id),
                suggested_by=suggestion.suggested_by,
                declined_by=caller.subject,
                reason=body.reason,
            ),
            org_id=caller.org_id,
            aggregate_id=suggestion.id,
        )
    return _public(suggestion)
