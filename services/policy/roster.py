"""The roster's rules, as pure functions: what a SCIM group stands for, the roles a member ends up with,
and the event that describes a member. The routes, the SCIM endpoints and the CSV import all decide
with these, so a member is the same whichever way the identity provider reaches us."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from condividi.contracts.policy_pb2 import MemberUpserted
from condividi.identity import Role
from services.policy.models import Member

# Every member of the roster may share; the other roles are granted by groups, CSV or an admin.
BASE_ROLE = Role.EMPLOYEE


@dataclass(frozen=True)
class GroupMeaning:
    """A group grants a role, or stands for a team (never both)."""

    role: Role | None = None
    team_name: str | None = None


def classify_group(display_name: str, role_prefix: str) -> GroupMeaning:
    """The configurable rule (``SCIM_ROLE_GROUP_PREFIX``): a group named ``<prefix><role>`` (case
    ignored) grants that role; every other group is a team of the same name. A prefix that names no
    role ("condividi-sales") is a team, so a typo never silently grants anything."""
    name = display_name.strip()
    if role_prefix and name.lower().startswith(role_prefix.lower()):
        wanted = name[len(role_prefix) :].strip().lower()
        if wanted in Role._value2member_map_:
            return GroupMeaning(role=Role(wanted))
    return GroupMeaning(team_name=name)


def roles_from_groups(meanings: Iterable[GroupMeaning]) -> list[str]:
    """The roles of a SCIM member: the base role plus one per role group they are in, in a stable order."""
    granted = {BASE_ROLE, *(m.role for m in meanings if m.role is not None)}
    return [r.value for r in Role if r in granted]


def member_event(member: Member, manager_subject: str = "") -> MemberUpserted:
    return MemberUpserted(
        member_id=str(member.id),
        subject=member.subject,
        email=member.email,
        name=member.name,
        team_ids=[str(t) for t in member.team_ids],
        location=member.location or "",
        language=member.language or "",
        time_zone=member.time_zone or "",
        department=member.department or "",
        title=member.title or "",
        manager_subject=manager_subject,
        roles=list(member.roles),
        active=member.active,
    )


# The attributes a change is judged on (an update that changes none of them is no change: no event).
TRACKED = (
    "subject",
    "email",
    "name",
    "external_id",
    "active",
    "team_ids",
    "given_name",
    "family_name",
    "location",
    "language",
    "time_zone",
    "department",
    "title",
    "employee_number",
    "manager_id",
    "roles",
)


def snapshot(member: Member) -> tuple[object, ...]:
    return tuple(tuple(value) if isinstance(value := getattr(member, name), list) else value for name in TRACKED)
