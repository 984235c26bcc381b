"""The roster in GraphQL (issue 6): deactivating a member (the admin's kill-switch) and the org's SCIM
provisioning tokens (issued or rotated, the secret shown once). The member's attributes are fields of
``Member`` (gateway/types.py); SCIM itself and the CSV import are REST (docs/scim.md, docs/roster.md)."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from gateway.payloads import InputPaths, UserError, attempt, invalid
from gateway.relay import Node, global_id_of, to_global_id
from gateway.types import NODE_FETCHERS, Info, Member, absent_is_null
from services.policy.models import MemberPublic, ProvisioningTokenPublic


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


# --- provisioning tokens (the secret an identity provider uses on /scim/v2) -------------------------------


@strawberry.type(
    description="A provisioning token of the org for SCIM (docs/scim.md); its secret is never shown again."
)
class ProvisioningToken(Node):
    hint: str = strawberry.field(description="The secret's last characters, to tell tokens apart.")
    created_at: datetime
    revoked_at: datetime | None = strawberry.field(description="When it was rotated away; null while it works.")

    @classmethod
    def from_model(cls, data: ProvisioningTokenPublic) -> ProvisioningToken:
        return cls(
            id=to_global_id("ProvisioningToken", data.id),
            hint=data.hint,
            created_at=data.created_at,
            revoked_at=data.revoked_at,
        )


def token_position(data: ProvisioningTokenPublic) -> str:
    return f"{data.created_at.isoformat()}|{data.id}"


async def provisioning_tokens(info: Info) -> list[ProvisioningTokenPublic]:
    """The org's tokens, oldest first (the service answers the whole short list)."""
    items = await info.context.services.policy.provisioning_tokens()
    return sorted(items, key=token_position)


async def _fetch_token(info: Info, raw: uuid.UUID) -> Node | None:
    data = await absent_is_null(info.context.services.policy.provisioning_tokens())
    found = next((t for t in data or [] if t.id == raw), None)
    return ProvisioningToken.from_model(found) if found is not None else None


NODE_FETCHERS["ProvisioningToken"] = _fetch_token


@strawberry.input
class IssueProvisioningTokenInput:
    replaces: strawberry.ID | None = strawberry.field(
        default=None,
        description="A token to rotate: it stops working at once and its successor is issued. Null issues a new one.",
    )


@strawberry.type(description="A token just issued, with its secret.")
class IssuedProvisioningToken:
    provisioning_token: ProvisioningToken
    token: str = strawberry.field(description="The secret, shown in this answer only.")
    replaced_id: strawberry.ID | None = strawberry.field(
        default=None, description="The token this one replaced (input.replaces), which no longer works."
    )


@strawberry.type
class IssueProvisioningTokenPayload:
    issued: IssuedProvisioningToken | None
    errors: list[UserError]


async def issue_provisioning_token(info: Info, input: IssueProvisioningTokenInput) -> IssueProvisioningTokenPayload:
    policy = info.context.services.policy
    raw: uuid.UUID | None = None
    if input.replaces is None:
        data, errors = await attempt(policy.create_provisioning_token(), InputPaths())
    else:
        raw = global_id_of("ProvisioningToken", input.replaces)
        if raw is None:
            return IssueProvisioningTokenPayload(
                issued=None, errors=invalid(["input", "replaces"], "is not the global id of a ProvisioningToken")
            )
        data, errors = await attempt(
            policy.rotate_provisioning_token(raw),
            InputPaths(renames={"token_id": "replaces"}, not_found=("input", "replaces")),
        )
    if data is None:
        return IssueProvisioningTokenPayload(issued=None, errors=errors)
    # Canonical, whatever form of the global id the client sent, so a cache finds the replaced token by it.
    replaced = None if raw is None else strawberry.ID(to_global_id("ProvisioningToken", raw))
    issued = IssuedProvisioningToken(
        provisioning_token=ProvisioningToken.from_model(data), token=data.token, replaced_id=replaced
    )
    return IssueProvisioningTokenPayload(issued=issued, errors=errors)
