"""REST API of the sharing service: shares and social connections."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from condividi.captions import choose_caption, personal_touch
from condividi.db import Database, UnitOfWork, utcnow
from condividi.errors import ApiError, conflict, not_found
from condividi.identity import Caller, CallerDep, Role
from condividi.networks import NETWORKS, Network
from condividi.openapi import DocumentedRoute, error_responses
from condividi.pagination import MAX_PAGE_SIZE, Before, Page, read_page
from condividi.roster_copy import RosterEntry
from condividi.service import DatabaseDep
from services.sharing import rules
from services.sharing.catalog import DEFAULT_UTM_CAMPAIGN, captions_of, find_shareable
from services.sharing.links import new_tracking_code, tracking_url
from services.sharing.models import (
    Connection,
    ConnectionCreate,
    ConnectionPublic,
    Share,
    ShareCreate,
    SharePublic,
    ShareStatus,
)
from services.sharing.redrive import share_requested
from services.sharing.settings import SharingSettings

router = APIRouter(prefix="/api/v1", route_class=DocumentedRoute)

PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
_CREATE_ATTEMPTS = 3


def share_public(share: Share, settings: SharingSettings) -> SharePublic:
    network = Network(share.network)
    published = share.status == ShareStatus.PUBLISHED
    return SharePublic(
        id=share.id,
        content_id=share.content_id,
        member_id=share.member_id,
        network=network,
        text=share.text,
        status=share.status,
        violations=share.violations,  # type: ignore[arg-type]
        publish_method=share.publish_method,
        intent_url=share.intent_url if published else None,
        intent_keeps_text=NETWORKS[network].intent_keeps_text,
        # Until it is published a share's link leads nowhere (the redirect answers 404), so none is shown.
        tracking_url=tracking_url(settings.PUBLIC_BASE_URL, share.tracking_code) if published else None,
        potential_reach=share.potential_reach,
        personal_touch=share.personal_touch,
        created_at=share.created_at,
        updated_at=share.updated_at,
    )


def _settings(request: Request) -> SharingSettings:
    settings: SharingSettings = request.app.state.runtime.settings
    return settings


async def _audience(db: Database, caller: Caller, network: str) -> int:
    async with db.read() as session:
        connection = await session.scalar(
            select(Connection).where(
                Connection.org_id == caller.org_id,
                Connection.member_id == caller.subject,
                Connection.network == network,
            )
        )
    return connection.audience_size if connection else 0


async def _language(db: Database, caller: Caller) -> str | None:
    """The caller's language from the roster copy, once the copy keeps one (the audience work adds the
    column); None until then, or for a member the copy does not know."""
    column: Any = getattr(RosterEntry, "language", None)
    if column is None:
        return None
    async with db.read() as session:
        language = await session.scalar(
            select(column).where(col(RosterEntry.org_id) == caller.org_id, col(RosterEntry.subject) == caller.subject)
        )
    return str(language) if language else None


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description=(
            "A key of the client's choosing (1-255 visible ASCII characters, a UUID is a good one) that "
            "makes the request safe to retry: a repeat with the same key answers the first share, "
            "unchanged and with no second share; the same key with a different body answers 422 "
            "`idempotency_key_reused`. Without a key, sharing the same item to the same network again "
            "while an earlier share is pending or was published recently answers 409 `duplicate_share`."
        ),
    ),
]


def _earlier(share: Share) -> rules.EarlierShare:
    return rules.EarlierShare(share.id, share.status, share.updated_at, share.request_fingerprint)


def _post_lock_key(caller: Caller, request: rules.ShareRequest) -> str:
    return f"share:{caller.org_id}:{caller.subject}:{request.content_id}:{request.network}"


async def _admit(
    uow: UnitOfWork, caller: Caller, request: rules.ShareRequest, key: str | None, window: timedelta
) -> tuple[rules.Verdict, dict[uuid.UUID, Share]]:
    """Reads what the rules need, in the unit of work that will insert the share."""
    mine = (Share.org_id == caller.org_id) & (Share.member_id == caller.subject)
    # Two requests for one post at once would each find no earlier share: one at a time, per post. The
    # lock is the transaction's, held until the new share is committed. Keyed requests take it too, so
    # that a request without a key sees a keyed share made a moment before. (Two requests with one key
    # but different posts do not meet here: the unique key constraint stops the second.)
    await uow.session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": _post_lock_key(caller, request)}
    )
    same_key: Share | None = None
    same_post: list[Share] = []
    if key is not None:
        same_key = await uow.session.scalar(select(Share).where(mine, Share.idempotency_key == key))
    else:
        same_post = list(
            (
                await uow.session.scalars(
                    select(Share)
                    .where(
                        mine,
                        Share.content_id == request.content_id,
                        Share.network == request.network,
                        Share.status != ShareStatus.REJECTED,
                    )
                    .order_by(col(Share.created_at).desc())
                )
            ).all()
        )
    verdict = rules.admit(
        request,
        idempotency_key=key,
        same_key=_earlier(same_key) if same_key else None,
        same_post=[_earlier(s) for s in same_post],
        now=utcnow(),
        window=window,
    )
    return verdict, {s.id: s for s in ([same_key] if same_key else same_post)}


@router.post(
    "/shares",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["shares"],
    operation_id="shares-create",
    responses=error_responses(
        404,
        409,
        s404="`content_id` names no published item of the org.",
        s409="`duplicate_share`: the caller's earlier share of this item on this network is pending or was "
        "published within the duplicate window; `conflicting_id` names that share. `content_expired`: the "
        "item has expired; `content_withdrawn`: a curator archived, unpublished or deleted it.",
    ),
)
async def create_share(
    body: ShareCreate,
    caller: CallerDep,
    db: DatabaseDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> SharePublic:
    """Records the share and asks policy to decide (``ShareRequested``); the answer is ``pending_policy``
    until the decision arrives, then ``published`` with the intent link, or ``rejected`` with reasons.
    Safe to retry with an ``Idempotency-Key``; without one, a second share of the same post answers 409
    ``duplicate_share`` with the earlier share's id in ``conflicting_id``."""
    settings = _settings(request)
    runtime = request.app.state.runtime
    item = await find_shareable(db, runtime.http, settings, caller, body.content_id)
    reach = await _audience(db, caller, body.network)
    offered = choose_caption(captions_of(item), item.suggested_caption, body.network.value, await _language(db, caller))
    touch = personal_touch(offered.text if offered else None, body.text)
    wanted = rules.ShareRequest(content_id=item.content_id, network=body.network.value, text=body.text)
    window = timedelta(hours=settings.DUPLICATE_SHARE_WINDOW_HOURS)
    # An insert can fail on a unique constraint: a tracking code drawn twice (draw another), or the
    # idempotency key, taken by a request that committed first (the next attempt replays its share).
    for attempt in range(1, _CREATE_ATTEMPTS + 1):
        now = utcnow()
        share = Share(
            org_id=caller.org_id,
            member_id=caller.subject,
            content_id=item.content_id,
            network=wanted.network,
            text=wanted.text,
            status=ShareStatus.PENDING_POLICY,
            tracking_code=new_tracking_code(),
            potential_reach=reach,
            created_at=now,
            updated_at=now,
            idempotency_key=idempotency_key,
            request_fingerprint=wanted.fingerprint if idempotency_key is not None else None,
            content_revision=item.revision,
            destination_url=item.url,
            utm_campaign=item.utm_campaign or DEFAULT_UTM_CAMPAIGN,
            campaign_id=item.campaign_id,
            required_disclosure=item.required_disclosure,
            personal_touch=touch,
        )
        try:
            async with db.unit_of_work() as uow:
                verdict, earlier = await _admit(uow, caller, wanted, idempotency_key, window)
                match verdict:
                    case rules.Replay(share_id):
                        return share_public(earlier[share_id], settings)
                    case rules.KeyReused():
                        raise ApiError(
                            422,
                            "idempotency_key_reused",
                            "this Idempotency-Key was used for a different request; use a new key for a new share",
                            [{"loc": ["header", "Idempotency-Key"], "message": "already used for another request"}],
                        )
                    case rules.Duplicate(share_id):
                        raise ApiError(
                            409,
                            "duplicate_share",
                            "you already shared this item to this network (pending, or published recently)",
                            conflicting_id=str(share_id),
                        )
                uow.session.add(share)
                uow.emit(share_requested(share, settings), org_id=share.org_id, aggregate_id=share.id)
            break
        except IntegrityError:
            if attempt == _CREATE_ATTEMPTS:
                raise
    return share_public(share, settings)


async def _visible_share(db: Database, caller: Caller, share_id: uuid.UUID) -> Share:
    async with db.read() as session:
        share = await session.get(Share, share_id)
    if share is None or share.org_id != caller.org_id:
        raise not_found("share")
    if share.member_id != caller.subject and not caller.has_any(Role.ADMIN, Role.REVIEWER):
        raise not_found("share")
    return share


@router.get("/shares/{share_id}", tags=["shares"], operation_id="shares-get")
async def get_share(share_id: uuid.UUID, caller: CallerDep, db: DatabaseDep, request: Request) -> SharePublic:
    return share_public(await _visible_share(db, caller, share_id), _settings(request))


@router.get("/shares", tags=["shares"], operation_id="shares-list", responses=error_responses(400))
async def list_my_shares(
    caller: CallerDep,
    db: DatabaseDep,
    request: Request,
    content_id: uuid.UUID | None = None,
    limit: PageSize = 20,
    cursor: str | None = None,
    before: Before = None,
) -> Page[SharePublic]:
    """The caller's own shares, newest first."""
    query = select(Share).where(Share.org_id == caller.org_id, Share.member_id == caller.subject)
    if content_id is not None:
        query = query.where(Share.content_id == content_id)
    async with db.read() as session:
        rows, next_cursor = await read_page(
            session, query, sort=Share.created_at, row_id=Share.id, limit=limit, cursor=cursor, before=before
        )
    settings = _settings(request)
    return Page[SharePublic](
        items=[share_public(r, settings) for r in rows],
        next_cursor=next_cursor,
    )


def _connection_public(connection: Connection) -> ConnectionPublic:
    return ConnectionPublic.model_validate(connection, from_attributes=True)


@router.post(
    "/connections",
    status_code=status.HTTP_201_CREATED,
    tags=["connections"],
    operation_id="connections-create",
    responses=error_responses(409, s409="The caller already has a connection on that network."),
)
async def create_connection(body: ConnectionCreate, caller: CallerDep, db: DatabaseDep) -> ConnectionPublic:
    """Declares the caller's account on a network and its audience (potential reach of their shares)."""
    connection = Connection(
        org_id=caller.org_id,
        member_id=caller.subject,
        network=body.network.value,
        handle=body.handle,
        audience_size=body.audience_size,
        created_at=utcnow(),
    )
    try:
        async with db.unit_of_work() as uow:
            uow.session.add(connection)
    except IntegrityError as exc:
        raise conflict(f"you already have a {body.network} connection; delete it first") from exc
    return _connection_public(connection)


@router.get("/connections", tags=["connections"], operation_id="connections-list")
async def list_my_connections(caller: CallerDep, db: DatabaseDep) -> list[ConnectionPublic]:
    query = select(Connection).where(Connection.org_id == caller.org_id, Connection.member_id == caller.subject)
    async with db.read() as session:
        rows = (await session.scalars(query.order_by(Connection.network))).all()
    return [_connection_public(r) for r in rows]


@router.delete(
    "/connections/{connection_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["connections"],
    operation_id="connections-delete",
)
async def delete_connection(connection_id: uuid.UUID, caller: CallerDep, db: DatabaseDep) -> Response:
    """Revokes a connection at once; the employee owns their accounts."""
    async with db.unit_of_work() as uow:
        connection = await uow.session.get(Connection, connection_id)
        if connection is None or connection.org_id != caller.org_id or connection.member_id != caller.subject:
            raise not_found("connection")
        await uow.session.delete(connection)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
