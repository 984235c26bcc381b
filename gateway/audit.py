"""The audit log, its retention period and the near-duplicate guard's settings in GraphQL (issue 8). ``Query``
and ``Mutation`` in ``gateway/schema.py`` inherit ``AuditQuery`` and ``AuditMutation``.

The policy service decides who may read and change them (admins; reviewers may read the near-duplicate
settings); a field the caller may not read is null. The retention export is a file and stays on REST
(``GET /api/v1/audit/export`` of the policy service).

An audit entry has no global id: it is known by its place in the org's chain (``seq``), never fetched
alone, and it is not a Node.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar, cast

import strawberry
from strawberry.scalars import JSON

from gateway.payloads import InputPaths, UserError, attempt
from gateway.relay import Connection, KeysetList, keyset_connection, page_request, service_page
from gateway.types import Info, absent_is_null, resolver
from services.policy.audit_models import (
    AuditEntryPublic,
    AuditVerification,
    DuplicateAction,
    NearDuplicateSettingsPublic,
    RetentionPublic,
)

strawberry.enum(
    DuplicateAction,
    description="What a near-duplicate of a colleague's post does: REJECT it, send it to REVIEW, or WARN only.",
)

# --- types --------------------------------------------------------------------------------------


@strawberry.type(description="One entry of the org's append-only, hash-chained audit log.")
class AuditEntry:
    seq: int = strawberry.field(description="Its place in the org's chain: 1, 2, 3... without gaps.")
    kind: str = strawberry.field(description='What happened: "share.decided", "policy.published", ...')
    subject_id: str = strawberry.field(description="The share, policy version or rule it concerns (a service id).")
    actor: str = strawberry.field(description='Who: a member\'s subject, or "policy" for an automatic decision.')
    payload: JSON = strawberry.field(description="What was recorded, exactly as it was hashed.")
    recorded_at: datetime
    prev_hash: str = strawberry.field(description="The hash of the entry before it (SHA-256, hex).")
    hash: str = strawberry.field(description="SHA-256 of this entry with prevHash (docs/audit.md says how).")

    @classmethod
    def from_model(cls, data: AuditEntryPublic) -> AuditEntry:
        return cls(
            seq=data.seq,
            kind=data.kind,
            subject_id=data.subject_id,
            actor=data.actor,
            payload=cast(JSON, data.payload),
            recorded_at=data.recorded_at,
            prev_hash=data.prev_hash,
            hash=data.hash,
        )


@strawberry.type(description="The first entry of the chain that does not verify.")
class AuditChainBreak:
    seq: int
    reason: str


@strawberry.type(description="The result of walking the org's whole chain and recomputing every hash.")
class AuditVerificationResult:
    ok: bool
    entries_checked: int
    first_seq: int = strawberry.field(description="The first entry still kept (after retention prunes); 0: none.")
    head_seq: int
    head_hash: str
    first_break: AuditChainBreak | None = strawberry.field(description="Null when the whole chain verifies.")

    @classmethod
    def from_model(cls, data: AuditVerification) -> AuditVerificationResult:
        broken = data.first_break
        return cls(
            ok=data.ok,
            entries_checked=data.entries_checked,
            first_seq=data.first_seq,
            head_seq=data.head_seq,
            head_hash=data.head_hash,
            first_break=AuditChainBreak(seq=broken.seq, reason=broken.reason) if broken is not None else None,
        )


@strawberry.type(description="How long the org's audit entries are kept; nothing younger is ever deleted.")
class AuditRetention:
    retention_days: int
    updated_by: str | None = strawberry.field(description="Null while the org uses the default.")
    updated_at: datetime | None

    @classmethod
    def from_model(cls, data: RetentionPublic) -> AuditRetention:
        return cls(retention_days=data.retention_days, updated_by=data.updated_by, updated_at=data.updated_at)


@strawberry.type(description="How posts nearly identical to a colleague's recent post are treated.")
class NearDuplicateSettings:
    enabled: bool
    threshold: float = strawberry.field(description="How alike two posts must be (0.6 to 1).")
    window_days: int = strawberry.field(description="How far back colleagues' posts count (1 to 90 days).")
    action: DuplicateAction
    updated_by: str | None = strawberry.field(description="Null while the org uses the defaults.")
    updated_at: datetime | None

    @classmethod
    def from_model(cls, data: NearDuplicateSettingsPublic) -> NearDuplicateSettings:
        return cls(
            enabled=data.enabled,
            threshold=data.threshold,
            window_days=data.window_days,
            action=data.action,
            updated_by=data.updated_by,
            updated_at=data.updated_at,
        )


# --- inputs and payloads -------------------------------------------------------------------------


@strawberry.input
class UpdateNearDuplicateSettingsInput:
    enabled: bool = True
    threshold: float = strawberry.field(default=0.8, description="0.6 to 1.")
    window_days: int = strawberry.field(default=30, description="1 to 90.")
    action: DuplicateAction = DuplicateAction.WARN


@strawberry.input
class UpdateAuditRetentionInput:
    retention_days: int = strawberry.field(description="365 to 36500.")


@strawberry.type
class UpdateNearDuplicateSettingsPayload:
    near_duplicate_settings: NearDuplicateSettings | None
    errors: list[UserError]


@strawberry.type
class UpdateAuditRetentionPayload:
    audit_retention: AuditRetention | None
    errors: list[UserError]


# --- operations ---------------------------------------------------------------------------------

AUDIT_ENTRIES = KeysetList[AuditEntryPublic]("auditEntries", lambda e: e.recorded_at, lambda e: e.id)

_Resolver = TypeVar("_Resolver", bound=Callable[..., Awaitable[Any]])


def mutation(description: str) -> Callable[[_Resolver], _Resolver]:
    decorator: Callable[[_Resolver], _Resolver] = strawberry.mutation(description=description)
    return decorator


@strawberry.type
class AuditQuery:
    @resolver("The org's audit log, newest first (admins; null for anyone else).")
    async def audit_entries(
        self,
        info: Info,
        kind: str | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[AuditEntry] | None:
        request = page_request(AUDIT_ENTRIES.connection, first=first, after=after, last=last, before=before)
        page = await absent_is_null(
            info.context.services.policy.audit_entries(service_page(request, AUDIT_ENTRIES), kind=kind)
        )
        if page is None:
            return None
        return keyset_connection(request, page.items, page.next_cursor, AUDIT_ENTRIES, AuditEntry.from_model)

    @resolver(
        "Walks the org's whole audit chain and reports the first changed or deleted entry (admins; null for "
        "anyone else). Its cost grows with the chain."
    )
    async def audit_verification(self, info: Info) -> AuditVerificationResult | None:
        data = await absent_is_null(info.context.services.policy.verify_audit_chain())
        return AuditVerificationResult.from_model(data) if data is not None else None

    @resolver("How long audit entries are kept (admins; null for anyone else).")
    async def audit_retention(self, info: Info) -> AuditRetention | None:
        data = await absent_is_null(info.context.services.policy.audit_retention())
        return AuditRetention.from_model(data) if data is not None else None

    @resolver("How near-duplicates of colleagues' posts are treated (admins and reviewers; null for others).")
    async def near_duplicate_settings(self, info: Info) -> NearDuplicateSettings | None:
        data = await absent_is_null(info.context.services.policy.near_duplicate_settings())
        return NearDuplicateSettings.from_model(data) if data is not None else None


@strawberry.type
class AuditMutation:
    @mutation("Sets the near-duplicate guard's threshold, window and action (admins); recorded in the audit log.")
    async def update_near_duplicate_settings(
        self, info: Info, input: UpdateNearDuplicateSettingsInput
    ) -> UpdateNearDuplicateSettingsPayload:
        data, errors = await attempt(
            info.context.services.policy.update_near_duplicate_settings(
                enabled=input.enabled,
                threshold=input.threshold,
                window_days=input.window_days,
                action=input.action.value,
            ),
            InputPaths(),
        )
        settings = NearDuplicateSettings.from_model(data) if data is not None else None
        return UpdateNearDuplicateSettingsPayload(near_duplicate_settings=settings, errors=errors)

    @mutation("Sets how long audit entries are kept (admins); recorded in the audit log.")
    async def update_audit_retention(self, info: Info, input: UpdateAuditRetentionInput) -> UpdateAuditRetentionPayload:
        data, errors = await attempt(
            info.context.services.policy.update_audit_retention(retention_days=input.retention_days), InputPaths()
        )
        retention = AuditRetention.from_model(data) if data is not None else None
        return UpdateAuditRetentionPayload(audit_retention=retention, errors=errors)
