"""The audit log, its retention and the near-duplicate settings through GraphQL, against the stand-ins
(which validate with the policy service's own models): admins read and change them, anyone else reads
null or hears PermissionDeniedError, and a bad value names its input field."""

from __future__ import annotations

from condividi.identity import Role
from condividi.testing import Issuer
from gateway.tests.conftest import ORG, Gql, employee_headers
from gateway.tests.fakes import Downstream, add_audit_entry
from services.policy.audit_models import AuditVerification, ChainBreak

UPDATE_SETTINGS = """mutation($input: UpdateNearDuplicateSettingsInput!) {
  updateNearDuplicateSettings(input: $input) {
    nearDuplicateSettings { enabled threshold windowDays action updatedBy }
    errors { __typename message path ... on ValidationError { code } }
  }
}"""
UPDATE_RETENTION = """mutation($input: UpdateAuditRetentionInput!) {
  updateAuditRetention(input: $input) {
    auditRetention { retentionDays updatedBy }
    errors { __typename message path }
  }
}"""
READ = """{
  nearDuplicateSettings { action threshold windowDays updatedBy }
  auditRetention { retentionDays }
  auditVerification { ok entriesChecked headSeq firstBreak { seq reason } }
  auditEntries(first: 2) { edges { node { seq kind actor payload prevHash hash } } pageInfo { hasNextPage } }
}"""


def admin(issuer: Issuer) -> dict[str, str]:
    return issuer.headers(org=ORG, roles=[Role.ADMIN], subject="admin-1")


async def test_admins_set_the_guard_and_see_it_in_the_log(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    before = await gql(READ, headers=admin(issuer))
    assert before["data"]["nearDuplicateSettings"] == {
        "action": "WARN",
        "threshold": 0.8,
        "windowDays": 30,
        "updatedBy": None,
    }
    assert before["data"]["auditRetention"] == {"retentionDays": 2557}
    changed = await gql(
        UPDATE_SETTINGS, {"input": {"action": "REVIEW", "threshold": 0.9, "windowDays": 14}}, headers=admin(issuer)
    )
    assert changed["data"]["updateNearDuplicateSettings"] == {
        "nearDuplicateSettings": {
            "enabled": True,
            "threshold": 0.9,
            "windowDays": 14,
            "action": "REVIEW",
            "updatedBy": "admin-1",
        },
        "errors": [],
    }
    kept = await gql(UPDATE_RETENTION, {"input": {"retentionDays": 3650}}, headers=admin(issuer))
    assert kept["data"]["updateAuditRetention"]["auditRetention"] == {"retentionDays": 3650, "updatedBy": "admin-1"}
    add_audit_entry(downstream, "share.decided", "policy", {"text": "Ciao", "outcome": "approved"})

    after = await gql(READ, headers=admin(issuer))
    data = after["data"]
    assert data["nearDuplicateSettings"]["action"] == "REVIEW"
    assert data["auditVerification"] == {"ok": True, "entriesChecked": 3, "headSeq": 3, "firstBreak": None}
    nodes = [edge["node"] for edge in data["auditEntries"]["edges"]]
    assert [(n["seq"], n["kind"]) for n in nodes] == [(3, "share.decided"), (2, "retention.changed")]
    assert nodes[0]["payload"] == {"text": "Ciao", "outcome": "approved"} and nodes[0]["prevHash"] == nodes[1]["hash"]
    assert data["auditEntries"]["pageInfo"]["hasNextPage"] is True
    kinds = await gql('{ auditEntries(kind: "retention.changed") { edges { node { seq } } } }', headers=admin(issuer))
    assert kinds["data"]["auditEntries"]["edges"] == [{"node": {"seq": 2}}]


async def test_a_broken_chain_is_reported(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    downstream.audit_settings["verification"] = AuditVerification(
        ok=False,
        entries_checked=7,
        first_seq=1,
        head_seq=9,
        head_hash="a" * 64,
        first_break=ChainBreak(seq=7, reason="entry 7 is missing (deleted)"),
    )
    result = await gql("{ auditVerification { ok firstBreak { seq reason } } }", headers=admin(issuer))
    assert result["data"]["auditVerification"] == {
        "ok": False,
        "firstBreak": {"seq": 7, "reason": "entry 7 is missing (deleted)"},
    }


async def test_bad_values_name_their_field_and_change_nothing(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    for variables, path in (
        ({"threshold": 0.2}, ["input", "threshold"]),
        ({"windowDays": 365}, ["input", "windowDays"]),
    ):
        refused = await gql(UPDATE_SETTINGS, {"input": variables}, headers=admin(issuer))
        payload = refused["data"]["updateNearDuplicateSettings"]
        assert payload["nearDuplicateSettings"] is None
        assert [(e["__typename"], e["path"]) for e in payload["errors"]] == [("ValidationError", path)]
    short = await gql(UPDATE_RETENTION, {"input": {"retentionDays": 30}}, headers=admin(issuer))
    assert short["data"]["updateAuditRetention"]["errors"][0]["path"] == ["input", "retentionDays"]
    assert downstream.audit_entries == [] and downstream.calls_to("policy") == []


async def test_others_read_null_and_may_not_change_anything(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    employee = employee_headers(issuer)
    result = await gql(READ, headers=employee)
    assert "errors" not in result
    assert result["data"] == {
        "nearDuplicateSettings": None,
        "auditRetention": None,
        "auditVerification": None,
        "auditEntries": None,
    }
    reviewer = issuer.headers(org=ORG, roles=[Role.REVIEWER], subject="reviewer-1")
    seen = await gql("{ nearDuplicateSettings { action } auditEntries { edges { node { seq } } } }", headers=reviewer)
    assert seen["data"] == {"nearDuplicateSettings": {"action": "WARN"}, "auditEntries": None}
    denied = await gql(UPDATE_SETTINGS, {"input": {"action": "REJECT"}}, headers=reviewer)
    assert [e["__typename"] for e in denied["data"]["updateNearDuplicateSettings"]["errors"]] == [
        "PermissionDeniedError"
    ]
    assert downstream.audit_entries == []
