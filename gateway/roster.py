"""The roster's GraphQL mutations (issue 6): deactivating a member, the admin's kill-switch. The
member's attributes are fields of ``Member`` (gateway/types.py); SCIM, the CSV import and provisioning
tokens are REST only (docs/scim.md, docs/roster.md)."""

from __future__ import annotations

import strawberry

from gateway.payloads import InputPaths, UserError, attempt, invalid
from gateway.relay import global_id_of
from gateway.types import Info, Member
from services.policy.models import MemberPublic


@strawberry.input
class DeactivateMemberInput:
    member_id: strawberry.ID = strawberry.field(description="The member's global id.")


@strawberry.type
class DeactivateMemberPayload:
    member: Member | None
    errors: list[UserError]


async def deactivate_member(info: Info, input: DeactivateMemberInput) -> DeactivateMemberPayload:
    raw = global_id_of("Member", input.member_id)
    if raw is None:
        return DeactivateMemberPayload(
            member=None, errors=invalid(["input", "memberId"], "is not the global id of a Member")
        )
    data, errors = await attempt(
        info.context.services.policy.deactivate_member(raw),
        InputPaths(renames={"member_id": "memberId"}, not_found=("input", "memberId")),
    )
    member = Member.from_model(MemberPublic.model_validate(data.model_dump())) if data is not None else None
    return DeactivateMemberPayload(member=member, errors=errors)
