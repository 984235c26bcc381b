"""The SCIM use cases on the roster's rows, inside the caller's unit of work: create, replace and
delete Users and Groups, and keep SCIM members' teams and roles in step with their groups. Every change
goes through ``members.announce`` so it is an event in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from condividi.contracts.policy_pb2 import DeactivationSource, TeamChanged
from condividi.db import UnitOfWork, utcnow
from services.policy import roster
from services.policy.members import announce, touch
from services.policy.models import Member, ScimGroup, ScimGroupMember, Team
from services.policy.scim.errors import invalid_value, uniqueness
from services.policy.scim.resources import (
    ENTERPRISE,
    GROUP_SCHEMA,
    USER_SCHEMA,
    GroupInput,
    UserInput,
    meta,
    parse_member_id,
)


def _active_members(org_id: uuid.UUID) -> Any:
    return select(Member).where(col(Member.org_id) == org_id, col(Member.deleted_at).is_(None))


async def find_user(uow_or_session: Any, org_id: uuid.UUID, user_id: str) -> Member | None:
    member_id = parse_member_id(user_id)
    if member_id is None:
        return None
    member: Member | None = await uow_or_session.scalar(_active_members(org_id).where(col(Member.id) == member_id))
    return member


async def find_group(session: Any, org_id: uuid.UUID, group_id: str) -> ScimGroup | None:
    parsed = parse_member_id(group_id)
    if parsed is None:
        return None
    group: ScimGroup | None = await session.scalar(
        select(ScimGroup).where(col(ScimGroup.org_id) == org_id, col(ScimGroup.id) == parsed)
    )
    return group


async def _manager(
    uow: UnitOfWork, org_id: uuid.UUID, value: str | None, self_id: uuid.UUID | None
) -> uuid.UUID | None:
    if value is None:
        return None
    manager = await find_user(uow.session, org_id, value)
    # A manager the roster does not have (yet) is left out rather than refused: IdPs push people in no
    # particular order, and the next sync fills it in.
    if manager is None or manager.id == self_id:
        return None
    return manager.id


def _fill(member: Member, data: UserInput, manager_id: uuid.UUID | None) -> None:
    member.subject = data.user_name
    member.email = data.email
    member.name = data.name
    member.external_id = data.external_id
    member.given_name = data.given_name
    member.family_name = data.family_name
    member.title = data.title
    member.language = data.language
    member.time_zone = data.time_zone
    member.location = data.location
    member.department = data.department
    member.employee_number = data.employee_number
    member.manager_id = manager_id
    member.active = data.active


async def _name_taken(uow: UnitOfWork, org_id: uuid.UUID, user_name: str, other_than: uuid.UUID | None) -> bool:
    query = _active_members(org_id).where(sa.func.lower(col(Member.subject)) == user_name.lower())
    if other_than is not None:
        query = query.where(col(Member.id) != other_than)
    return (await uow.session.scalar(query)) is not None


async def create_user(uow: UnitOfWork, org_id: uuid.UUID, data: UserInput) -> Member:
    if await _name_taken(uow, org_id, data.user_name, None):
        raise uniqueness(f"userName {data.user_name!r} is already taken")
    now = utcnow()
    # A user deleted over SCIM and created again comes back as the same member (same subject).
    revived = await uow.session.scalar(
        select(Member).where(col(Member.org_id) == org_id, col(Member.subject) == data.user_name).with_for_update()
    )
    member = revived or Member(
        org_id=org_id, subject=data.user_name, email=data.email, name=data.name, roles=[], created_at=now
    )
    was_active = revived is not None and revived.active and revived.deleted_at is None
    _fill(member, data, await _manager(uow, org_id, data.manager_id, member.id))
    member.deleted_at = None
    member.source = "scim"
    member.roles = roster.roles_from_groups([])
    member.team_ids = []
    member.team_id = None
    member.updated_at = now
    if revived is None:
        uow.session.add(member)
    else:
        touch(member)
    await uow.session.flush()
    await announce(
        uow, member, was_active=was_active or revived is None, source=DeactivationSource.DEACTIVATION_SOURCE_SCIM
    )
    return member


async def replace_user(uow: UnitOfWork, member: Member, data: UserInput) -> Member:
    if await _name_taken(uow, member.org_id, data.user_name, member.id):
        raise uniqueness(f"userName {data.user_name!r} is already taken")
    before, was_active = roster.snapshot(member), member.active
    _fill(member, data, await _manager(uow, member.org_id, data.manager_id, member.id))
    if roster.snapshot(member) != before:
        touch(member)
        await uow.session.flush()
        await announce(uow, member, was_active=was_active, source=DeactivationSource.DEACTIVATION_SOURCE_SCIM)
    return member


async def delete_user(uow: UnitOfWork, member: Member) -> None:
    was_active = member.active
    member.deleted_at = utcnow()
    member.active = False
    touch(member)
    await uow.session.execute(sa.delete(ScimGroupMember).where(col(ScimGroupMember.member_id) == member.id))
    await uow.session.flush()
    await announce(uow, member, was_active=was_active, source=DeactivationSource.DEACTIVATION_SOURCE_SCIM_DELETE)


# --- groups -----------------------------------------------------------------------------------------


async def _team_for(uow: UnitOfWork, org_id: uuid.UUID, display_name: str, prefix: str) -> uuid.UUID | None:
    meaning = roster.classify_group(display_name, prefix)
    if meaning.team_name is None:
        return None
    team_id = uuid.uuid4()
    created = await uow.session.scalar(
        insert(Team)
        .values(id=team_id, org_id=org_id, name=meaning.team_name[:200], created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["org_id", "name"])
        .returning(col(Team.id))
    )
    if created is not None:
        uow.emit(TeamChanged(team_id=str(team_id), name=meaning.team_name), org_id=org_id, aggregate_id=team_id)
        return team_id
    existing = await uow.session.scalar(
        select(Team.id).where(col(Team.org_id) == org_id, col(Team.name) == meaning.team_name[:200])
    )
    return existing


async def _member_ids(uow: UnitOfWork, org_id: uuid.UUID, values: Iterable[str]) -> list[uuid.UUID]:
    wanted: list[uuid.UUID] = []
    for value in values:
        parsed = parse_member_id(value)
        if parsed is None:
            raise invalid_value(f"{value!r} is not the id of a User")
        wanted.append(parsed)
    if not wanted:
        return []
    found = set(
        await uow.session.scalars(
            select(Member.id)
            .where(col(Member.id).in_(wanted))
            .where(col(Member.org_id) == org_id, col(Member.deleted_at).is_(None))
        )
    )
    missing = [str(w) for w in wanted if w not in found]
    if missing:
        # Another org's user answers exactly like a missing one.
        raise invalid_value(f"no User with id {missing[0]}")
    return wanted


async def _display_taken(uow: UnitOfWork, org_id: uuid.UUID, name: str, other_than: uuid.UUID | None) -> bool:
    query = select(ScimGroup.id).where(
        col(ScimGroup.org_id) == org_id, sa.func.lower(col(ScimGroup.display_name)) == name.lower()
    )
    if other_than is not None:
        query = query.where(col(ScimGroup.id) != other_than)
    return (await uow.session.scalar(query)) is not None


async def save_group(
    uow: UnitOfWork, org_id: uuid.UUID, data: GroupInput, prefix: str, group: ScimGroup | None = None
) -> ScimGroup:
    if await _display_taken(uow, org_id, data.display_name, group.id if group else None):
        raise uniqueness(f"a group named {data.display_name!r} exists already")
    members = await _member_ids(uow, org_id, data.member_ids)
    now = utcnow()
    previous: set[uuid.UUID] = set()
    if group is None:
        group = ScimGroup(org_id=org_id, display_name=data.display_name, created_at=now, updated_at=now)
        uow.session.add(group)
    else:
        previous = set(
            await uow.session.scalars(
                select(ScimGroupMember.member_id).where(col(ScimGroupMember.group_id) == group.id)
            )
        )
        group.version += 1
        group.updated_at = now
    group.display_name = data.display_name
    group.external_id = data.external_id
    group.team_id = await _team_for(uow, org_id, data.display_name, prefix)
    await uow.session.flush()
    await uow.session.execute(sa.delete(ScimGroupMember).where(col(ScimGroupMember.group_id) == group.id))
    if members:
        await uow.session.execute(
            insert(ScimGroupMember),
            [{"group_id": group.id, "member_id": m, "org_id": org_id} for m in members],
        )
    await refresh_members(uow, org_id, previous | set(members), prefix)
    return group


async def delete_group(uow: UnitOfWork, group: ScimGroup, prefix: str) -> None:
    affected = set(
        await uow.session.scalars(select(ScimGroupMember.member_id).where(col(ScimGroupMember.group_id) == group.id))
    )
    await uow.session.execute(sa.delete(ScimGroupMember).where(col(ScimGroupMember.group_id) == group.id))
    await uow.session.delete(group)
    await uow.session.flush()
    await refresh_members(uow, group.org_id, affected, prefix)


async def refresh_members(uow: UnitOfWork, org_id: uuid.UUID, member_ids: set[uuid.UUID], prefix: str) -> None:
    """Recomputes the teams and roles of SCIM members from the groups they are in now."""
    if not member_ids:
        return
    rows = await uow.session.execute(
        select(ScimGroupMember.member_id, ScimGroup.display_name, ScimGroup.team_id)
        .join(ScimGroup, col(ScimGroup.id) == col(ScimGroupMember.group_id))
        .where(col(ScimGroupMember.member_id).in_(member_ids))
    )
    groups: dict[uuid.UUID, list[tuple[str, uuid.UUID | None]]] = {m: [] for m in member_ids}
    for member_id, display_name, team_id in rows:
        groups[member_id].append((display_name, team_id))
    members = await uow.session.scalars(
        select(Member).where(col(Member.id).in_(member_ids), col(Member.org_id) == org_id).with_for_update()
    )
    for member in members:
        if member.source != "scim":
            continue  # CSV and API members keep the roles and teams given to them there
        before = roster.snapshot(member)
        meanings = [roster.classify_group(name, prefix) for name, _ in groups[member.id]]
        member.roles = roster.roles_from_groups(meanings)
        member.team_ids = sorted({t for _, t in groups[member.id] if t is not None}, key=str)
        member.team_id = member.team_ids[0] if member.team_ids else None
        if roster.snapshot(member) != before:
            touch(member)
            await uow.session.flush()
            await announce(uow, member, was_active=member.active, source=DeactivationSource.DEACTIVATION_SOURCE_SCIM)


# --- rendering ------------------------------------------------------------------------------------


def user_json(member: Member, base: str, manager: Member | None, groups: list[ScimGroup]) -> dict[str, Any]:
    location = f"{base}/Users/{member.id}"
    name: dict[str, Any] = {"formatted": member.name}
    if member.given_name:
        name["givenName"] = member.given_name
    if member.family_name:
        name["familyName"] = member.family_name
    body: dict[str, Any] = {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "id": str(member.id),
        "userName": member.subject,
        "name": name,
        "displayName": member.name,
        "emails": [{"value": member.email, "type": "work", "primary": True}],
        "active": member.active,
        "groups": [{"value": str(g.id), "display": g.display_name, "$ref": f"{base}/Groups/{g.id}"} for g in groups],
        "meta": meta("User", location, member.created_at, member.updated_at or member.created_at, member.version),
    }
    for key, value in (
        ("externalId", member.external_id),
        ("title", member.title),
        ("preferredLanguage", member.language),
        ("timezone", member.time_zone),
    ):
        if value:
            body[key] = value
    if member.location:
        body["addresses"] = [{"type": "work", "locality": member.location, "primary": True}]
    enterprise: dict[str, Any] = {}
    if member.department:
        enterprise["department"] = member.department
    if member.employee_number:
        enterprise["employeeNumber"] = member.employee_number
    if manager is not None:
        enterprise["manager"] = {
            "value": str(manager.id),
            "$ref": f"{base}/Users/{manager.id}",
            "displayName": manager.name,
        }
    if enterprise:
        body[ENTERPRISE] = enterprise
    else:
        body["schemas"] = [USER_SCHEMA]  # no extension attribute set: the extension is absent
    return body


def group_json(group: ScimGroup, base: str, members: list[Member]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [GROUP_SCHEMA],
        "id": str(group.id),
        "displayName": group.display_name,
        "members": [
            {"value": str(m.id), "display": m.name, "type": "User", "$ref": f"{base}/Users/{m.id}"} for m in members
        ],
        "meta": meta("Group", f"{base}/Groups/{group.id}", group.created_at, group.updated_at, group.version),
    }
    if group.external_id:
        body["externalId"] = group.external_id
    return body


async def render_users(session: Any, base: str, members: list[Member]) -> list[dict[str, Any]]:
    ids = [m.id for m in members]
    manager_ids = {m.manager_id for m in members if m.manager_id is not None}
    managers = (
        {m.id: m for m in (await session.scalars(select(Member).where(col(Member.id).in_(manager_ids)))) if manager_ids}
        if manager_ids
        else {}
    )
    groups: dict[uuid.UUID, list[ScimGroup]] = {i: [] for i in ids}
    if ids:
        rows = await session.execute(
            select(ScimGroupMember.member_id, ScimGroup)
            .join(ScimGroup, col(ScimGroup.id) == col(ScimGroupMember.group_id))
            .where(col(ScimGroupMember.member_id).in_(ids))
            .order_by(col(ScimGroup.display_name))
        )
        for member_id, group in rows:
            groups[member_id].append(group)
    return [user_json(m, base, managers.get(m.manager_id) if m.manager_id else None, groups[m.id]) for m in members]


async def render_groups(session: Any, base: str, groups: list[ScimGroup]) -> list[dict[str, Any]]:
    ids = [g.id for g in groups]
    members: dict[uuid.UUID, list[Member]] = {i: [] for i in ids}
    if ids:
        rows = await session.execute(
            select(ScimGroupMember.group_id, Member)
            .join(Member, col(Member.id) == col(ScimGroupMember.member_id))
            .where(col(ScimGroupMember.group_id).in_(ids))
            .order_by(col(Member.created_at), col(Member.id))
        )
        for group_id, member in rows:
            members[group_id].append(member)
    return [group_json(g, base, members[g.id]) for g in groups]
