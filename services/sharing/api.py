"""REST API of the sharing service: shares and social connections."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from condividi.contracts.sharing_pb2 import ShareRequested
from condividi.db import Database, utcnow
from condividi.errors import conflict, not_found
from condividi.identity import Caller, CallerDep, Role
from condividi.pagination import MAX_PAGE_SIZE, Before, Page, read_page
from condividi.service import DatabaseDep
from services.sharing.catalog import find_shareable
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
from services.sharing.networks import INTENT_LINKS
from services.sharing.settings import SharingSettings

router = APIRouter(prefix="/api/v1")

PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
_CODE_ATTEMPTS = 3


def share_public(share: Share, settings: SharingSettings) -> SharePublic:
    return SharePublic(
        id=share.id,
        content_id=share.content_id,
        member_id=share.member_id,
        network=share.network,
        text=share.text,
        status=share.status,
        violations=share.violations,  # type: ignore[arg-type]
        publish_method=share.publish_method,
        intent_url=share.intent_url,
        intent_keeps_text=INTENT_LINKS[share.network].keeps_text,
        tracking_url=tracking_url(settings.PUBLIC_BASE_URL, share.tracking_code),
        potential_reach=share.potential_reach,
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


@router.post("/shares", status_code=status.HTTP_202_ACCEPTED, tags=["shares"])
async def create_share(body: ShareCreate, caller: CallerDep, db: DatabaseDep, request: Request) -> SharePublic:
    """Records the share and asks policy to decide (``ShareRequested``); the answer is ``pending_policy``
    until the decision arrives, then ``published`` with the intent link, or ``rejected`` with reasons."""
    settings = _settings(request)
    runtime = request.app.state.runtime
    item = await find_shareable(db, runtime.http, settings, caller, body.content_id)
    reach = await _audience(db, caller, body.network)
    # Tracking codes are random; on the rare clash with an existing one, draw another.
    for attempt in range(1, _CODE_ATTEMPTS + 1):
        now = utcnow()
        share = Share(
            org_id=caller.org_id,
            member_id=caller.subject,
            content_id=item.content_id,
            network=body.network,
            text=body.text,
            status=ShareStatus.PENDING_POLICY,
            tracking_code=new_tracking_code(),
            potential_reach=reach,
            created_at=now,
            updated_at=now,
        )
        try:
            async with db.unit_of_work() as uow:
                uow.session.add(share)
                uow.emit(
                    ShareRequested(
                        share_id=str(share.id),
                        member_id=share.member_id,
                        content_id=str(share.content_id),
                        network=share.network,
                        text=share.text,
                        url=tracking_url(settings.PUBLIC_BASE_URL, share.tracking_code),
                    ),
                    org_id=share.org_id,
                    aggregate_id=share.id,
                )
            break
        except IntegrityError:
            if attempt == _CODE_ATTEMPTS:
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


@router.get("/shares/{share_id}", tags=["shares"])
async def get_share(share_id: uuid.UUID, caller: CallerDep, db: DatabaseDep, request: Request) -> SharePublic:
    return share_public(await _visible_share(db, caller, share_id), _settings(request))


@router.get("/shares", tags=["shares"])
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


@router.post("/connections", status_code=status.HTTP_201_CREATED, tags=["connections"])
async def create_connection(body: ConnectionCreate, caller: CallerDep, db: DatabaseDep) -> ConnectionPublic:
    """Declares the caller's account on a network and its audience (potential reach of their shares)."""
    connection = Connection(
        org_id=caller.org_id,
        member_id=caller.subject,
        network=body.network,
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


@router.get("/connections", tags=["connections"])
async def list_my_connections(caller: CallerDep, db: DatabaseDep) -> list[ConnectionPublic]:
    query = select(Connection).where(Connection.org_id == caller.org_id, Connection.member_id == caller.subject)
    async with db.read() as session:
        rows = (await session.scalars(query.order_by(Connection.network))).all()
    return [_connection_public(r) for r in rows]


@router.delete("/connections/{connection_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["connections"])
async def delete_connection(connection_id: uuid.UUID, caller: CallerDep, db: DatabaseDep) -> Response:
    """Revokes a connection at once; the employee owns their accounts."""
    async with db.unit_of_work() as uow:
        connection = await uow.session.get(Connection, connection_id)
        if connection is None or connection.org_id != caller.org_id or connection.member_id != caller.subject:
            raise not_found("connection")
        await uow.session.delete(connection)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
