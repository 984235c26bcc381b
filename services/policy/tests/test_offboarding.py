"""Policy's part of the kill-switch: one deactivation, its events in the outbox with the change, a
share requested before sharing heard of it rejected with a reason, and the member's token refused."""

import uuid

import httpx
import pytest

from condividi.contracts.policy_pb2 import DeactivationSource, DecisionOutcome, MemberDeactivated, MemberUpserted
from condividi.events import open_envelope, parse_envelope
from condividi.identity import Role
from condividi.testing import Infra, Issuer
from services.policy.tests.conftest import headers, new_org
from services.policy.tests.test_share_decisions import produce, read_until, share_requested, wait_for_decision

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def test_deactivation_announces_once_rejects_late_requests_and_refuses_the_token(
    client: httpx.AsyncClient, issuer: Issuer, infra: Infra
) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN, subject="it-admin")
    created = await client.post(
        "/api/v1/members",
        json={"subject": "leaver", "email": "leaver@acme.example", "name": "Leo Aver", "roles": ["employee"]},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    member_id = created.json()["id"]
    leaver = headers(issuer, org, Role.EMPLOYEE, subject="leaver")
    assert (await client.get("/api/v1/members/me", headers=leaver)).status_code == 200

    deactivated = await client.post(f"/api/v1/roster/members/{member_id}/deactivate", headers=admin)
    assert deactivated.status_code == 200 and deactivated.json()["active"] is False
    again = await client.post(f"/api/v1/roster/members/{member_id}/deactivate", headers=admin)
    assert again.status_code == 200

    refused = await client.get("/api/v1/members/me", headers=leaver)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "member_deactivated"

    def of_member(records: list) -> list:  # type: ignore[type-arg]
        opened = []
        for record in records:
            envelope = parse_envelope(record.value or b"")
            if envelope.aggregate_id != member_id:
                continue
            kind = {t.DESCRIPTOR.full_name: t for t in (MemberUpserted, MemberDeactivated)}[envelope.type]
            opened.append(open_envelope(envelope, kind).payload)
        return opened

    records = await read_until(infra, "condividi.policy", lambda rs: len(of_member(rs)) >= 3)
    upserted, upserted_inactive, killed = of_member(records)
    assert upserted.subject == "leaver" and upserted.active and list(upserted.roles) == ["employee"]
    assert not upserted_inactive.active
    assert isinstance(killed, MemberDeactivated)
    assert (killed.subject, killed.source) == ("leaver", DeactivationSource.DEACTIVATION_SOURCE_ADMIN)

    # A share the member requested just before sharing learnt of the deactivation.
    share_id = str(uuid.uuid4())
    await produce(infra, share_requested(org, share_id, network="linkedin", text="Last words", member="leaver"))
    decision = await wait_for_decision(infra, share_id)
    assert decision.payload.outcome == DecisionOutcome.DECISION_OUTCOME_REJECTED
    assert [v.code for v in decision.payload.violations] == ["member_deactivated"]


async def test_roster_roles_cap_the_tokens_roles(client: httpx.AsyncClient, issuer: Issuer) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN, subject="it-admin")
    created = await client.post(
        "/api/v1/members",
        json={"subject": "climber", "email": "climber@acme.example", "name": "Cli Mber", "roles": ["employee"]},
        headers=admin,
    )
    assert created.status_code == 201
    # The token claims admin; the roster grants employee only.
    climber = headers(issuer, org, Role.ADMIN, Role.EMPLOYEE, subject="climber")
    assert (await client.get("/api/v1/roster/members", headers=climber)).status_code == 403
    # Someone the roster does not know keeps the token's roles.
    stranger = headers(issuer, org, Role.ADMIN, subject="not-on-the-roster")
    assert (await client.get("/api/v1/roster/members", headers=stranger)).status_code == 200


async def test_shares_waiting_for_a_reviewer_are_rejected_with_the_deactivation(infra: Infra) -> None:
    """No rule asks for a reviewer yet, so the waiting decision is written here as one will be."""
    from datetime import UTC, datetime

    from sqlmodel import select

    from condividi.contracts.policy_pb2 import ShareDecision
    from condividi.db import Database
    from services.policy.members import reject_waiting_shares
    from services.policy.models import Member, ShareDecisionRecord

    db = Database(infra.new_database("policy"), producer="policy")
    org, waiting, decided = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    member = Member(org_id=org, subject="leaver", email="l@acme.example", name="L", roles=["employee"], created_at=now)
    try:
        async with db.unit_of_work() as uow:
            uow.session.add(member)
            for share_id, outcome in ((waiting, "needs_review"), (decided, "approved")):
                uow.session.add(
                    ShareDecisionRecord(
                        share_id=share_id,
                        org_id=org,
                        member_id="leaver",
                        network="x",
                        outcome=outcome,
                        violations=[],
                        decided_at=now,
                    )
                )
        async with db.unit_of_work() as uow:
            assert await reject_waiting_shares(uow, member) == 1
            (event,) = uow.outbox
            assert event[3] == ShareDecision.DESCRIPTOR.full_name and event[2] == str(waiting)
        async with db.read() as session:
            rows = {r.share_id: r for r in await session.scalars(select(ShareDecisionRecord))}
        assert rows[waiting].outcome == "rejected"
        assert [v["code"] for v in rows[waiting].violations] == ["member_deactivated"]
        assert rows[decided].outcome == "approved"  # a decided share stays decided
    finally:
        await db.dispose()
