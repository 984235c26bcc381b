"""The audit log and the near-duplicate guard through the running policy service: settings over REST,
real ``ShareRequested`` events decided with the guard, every decision and publication in the chain, the
verification and the streamed export."""

import json
import uuid

import httpx
import pytest

from condividi.contracts.policy_pb2 import DecisionOutcome
from condividi.identity import Role
from condividi.testing import Infra, Issuer
from services.policy import audit
from services.policy.tests.conftest import headers, new_org
from services.policy.tests.test_share_decisions import produce, share_requested, wait_for_decision

pytestmark = pytest.mark.asyncio(loop_scope="package")

POST = "Great news: we're hiring engineers in Milano! Join our team and build the future of advocacy with us."
SETTINGS = "/api/v1/compliance/near-duplicates"


async def decide(infra: Infra, org: uuid.UUID, member: str, text: str) -> tuple[str, DecisionOutcome, list[str]]:
    share_id = str(uuid.uuid4())
    await produce(infra, share_requested(org, share_id, network="linkedin", text=text, member=member))
    decision = await wait_for_decision(infra, share_id)
    return share_id, decision.payload.outcome, [v.code for v in decision.payload.violations]


async def test_near_duplicate_settings_are_validated_and_for_admins(client: httpx.AsyncClient, issuer: Issuer) -> None:
    org = new_org()
    admin, employee = headers(issuer, org, Role.ADMIN), headers(issuer, org, Role.EMPLOYEE)
    defaults = (await client.get(SETTINGS, headers=admin)).json()
    assert defaults == {
        "enabled": True,
        "threshold": 0.8,
        "window_days": 30,
        "action": "warn",
        "updated_by": None,
        "updated_at": None,
    }
    assert (await client.put(SETTINGS, json={"action": "reject"}, headers=employee)).status_code == 403
    for bad, field in (
        ({"threshold": 0.3}, "threshold"),
        ({"window_days": 0}, "window_days"),
        ({"window_days": 91}, "window_days"),
        ({"action": "delete"}, "action"),
        ({"member": "x"}, "member"),
    ):
        response = await client.put(SETTINGS, json=bad, headers=admin)
        assert response.status_code == 422, bad
        assert response.json()["error"]["details"][0]["loc"] == ["body", field]
    assert (await client.get(SETTINGS, headers=admin)).json()["updated_at"] is None  # nothing saved
    assert (await client.get("/api/v1/audit/entries", headers=admin)).json()["items"] == []


async def test_a_colleagues_copy_goes_to_review_and_every_decision_is_in_the_chain(
    client: httpx.AsyncClient, issuer: Issuer, infra: Infra
) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN, subject="admin-1")
    saved = await client.put(SETTINGS, json={"action": "review", "threshold": 0.8, "window_days": 7}, headers=admin)
    assert saved.status_code == 200 and saved.json()["updated_by"] == "admin-1"

    first, outcome, codes = await decide(infra, org, "ada", POST)
    assert (outcome, codes) == (DecisionOutcome.DECISION_OUTCOME_APPROVED, [])
    # Ada again: her own earlier post is no colleague's.
    _, outcome, codes = await decide(infra, org, "ada", POST + " Really.")
    assert (outcome, codes) == (DecisionOutcome.DECISION_OUTCOME_APPROVED, [])
    copy, outcome, codes = await decide(infra, org, "bob", POST.upper())
    assert (outcome, codes) == (DecisionOutcome.DECISION_OUTCOME_NEEDS_REVIEW, ["near_duplicate"])
    # The live check while Dan types says what the decision will say; for Ada it is her own post.
    for subject, outcome_now, found in (("dan", "needs_review", ["near_duplicate"]), ("ada", "approved", [])):
        live = await client.post(
            "/api/v1/policy-checks",
            json={"network": "linkedin", "text": POST.lower()},
            headers=headers(issuer, org, Role.EMPLOYEE, subject=subject),
        )
        assert live.json()["outcome"] == outcome_now
        assert [v["code"] for v in live.json()["violations"]] == found
    # Bob's copy is not remembered (it was not approved); Carl's own words go through.
    _, outcome, _ = await decide(infra, org, "carl", "Quarterly results are out: revenue grew in every region.")
    assert outcome == DecisionOutcome.DECISION_OUTCOME_APPROVED

    page = (await client.get("/api/v1/audit/entries", params={"kind": "share.decided"}, headers=admin)).json()
    decided = {e["subject_id"]: e for e in page["items"]}
    assert len(decided) == 4
    assert decided[copy]["payload"]["outcome"] == "needs_review"
    assert decided[copy]["payload"]["text"] == POST.upper()
    assert decided[copy]["payload"]["findings"][0]["code"] == "near_duplicate"
    assert decided[first]["actor"] == "policy" and decided[first]["payload"]["member_id"] == "ada"

    verification = (await client.get("/api/v1/audit/verification", headers=admin)).json()
    assert verification["ok"] and verification["entries_checked"] == 5 and verification["first_break"] is None

    export = await client.get(
        "/api/v1/audit/export",
        params={"since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"},
        headers=admin,
    )
    assert export.status_code == 422  # longer than a year at a time
    since = min(e["recorded_at"] for e in page["items"])
    async with client.stream(
        "GET",
        "/api/v1/audit/export",
        params={"since": "2026-01-01T00:00:00Z", "until": "2026-12-31T00:00:00Z"},
        headers=admin,
    ) as streamed:
        assert streamed.status_code == 200 and streamed.headers["content-type"] == "application/x-ndjson"
        records = [json.loads(line) async for line in streamed.aiter_lines() if line]
    assert since >= "2026-01-01"
    assert [r["kind"] for r in records] == ["near_duplicates.changed"] + ["share.decided"] * 4
    assert audit.verify_export(records) is None
    csv_export = await client.get(
        "/api/v1/audit/export",
        params={"since": "2026-01-01T00:00:00Z", "until": "2026-12-31T00:00:00Z", "format": "csv"},
        headers=admin,
    )
    assert csv_export.headers["content-type"].startswith("text/csv")
    assert csv_export.text.splitlines()[0].startswith("org_id,seq,recorded_at,kind")
    assert len(csv_export.text.splitlines()) == 6


async def test_the_log_is_for_admins_and_bad_ranges_are_refused(client: httpx.AsyncClient, issuer: Issuer) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN)
    for path in ("/api/v1/audit/entries", "/api/v1/audit/verification", "/api/v1/audit/retention"):
        assert (await client.get(path, headers=headers(issuer, org, Role.REVIEWER))).status_code == 403
    for params, field in (
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"since": "2026-01-01T00:00:00", "until": "2026-02-01T00:00:00Z"}, "since"),
        ({"since": "yesterday", "until": "2026-02-01T00:00:00Z"}, "since"),
        ({"since": "2026-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z", "format": "xml"}, "format"),
    ):
        response = await client.get("/api/v1/audit/export", params=params, headers=admin)
        assert response.status_code == 422, params
        assert response.json()["error"]["details"][0]["loc"] == ["query", field]


async def test_retention_and_publication_are_recorded(client: httpx.AsyncClient, issuer: Issuer) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN, subject="admin-1")
    assert (await client.get("/api/v1/audit/retention", headers=admin)).json()["retention_days"] == 2557
    refused = await client.put("/api/v1/audit/retention", json={"retention_days": 30}, headers=admin)
    assert refused.status_code == 422
    saved = await client.put("/api/v1/audit/retention", json={"retention_days": 400}, headers=admin)
    assert saved.status_code == 200 and saved.json()["retention_days"] == 400

    draft = await client.post("/api/v1/policy-versions", json={"title": "Policy", "body": "Be kind."}, headers=admin)
    version = draft.json()["id"]
    published = await client.post(f"/api/v1/policy-versions/{version}/publish", json={}, headers=admin)
    assert published.status_code == 200
    again = await client.post(f"/api/v1/policy-versions/{version}/publish", json={}, headers=admin)
    assert again.status_code == 409  # refused, and so not recorded

    items = (await client.get("/api/v1/audit/entries", headers=admin)).json()["items"]
    assert [(e["kind"], e["actor"]) for e in items] == [
        ("policy.published", "admin-1"),
        ("retention.changed", "admin-1"),
    ]
    assert items[0]["subject_id"] == version and items[0]["payload"]["content_hash"] == draft.json()["content_hash"]
    assert items[0]["prev_hash"] == items[1]["hash"]
