"""The social-media policy and training through GraphQL, against the stand-ins (which run the policy
service's own governance rules): the member's status, acknowledging for oneself, quizzes that never show
their answers, and the admins' views."""

from __future__ import annotations

from typing import Any

from condividi.identity import Role
from condividi.testing import Issuer
from gateway.relay import to_global_id
from gateway.tests.conftest import ORG, Gql, employee_headers
from gateway.tests.fakes import Downstream

DRAFT = """mutation($input: DraftPolicyVersionInput!) {
  draftPolicyVersion(input: $input) {
    policyVersion { id version status contentHash }
    errors { __typename message path }
  }
}"""
PUBLISH = """mutation($input: PublishPolicyVersionInput!) {
  publishPolicyVersion(input: $input) {
    policyVersion { id status requiresAcknowledgement targetTeamIds }
    errors { __typename message path ... on ConflictError { code } }
  }
}"""
ACKNOWLEDGE = """mutation($input: AcknowledgePolicyInput!) {
  acknowledgePolicy(input: $input) {
    acknowledgement { policyVersionId version contentHash acknowledgedAt }
    errors { __typename message path ... on ValidationError { code } ... on ConflictError { code } }
  }
}"""
MY_POLICY = "{ me { policy { required acknowledged current { id version title } } } }"
CHECK = '{ checkPost(network: X, text: "Proud of the team") { allowed violations { code message } } }'
PROGRESS = """query($id: ID!) { node(id: $id) { ... on PolicyVersion { version progress { members done
  teams { teamId teamName members done } } } } }"""
CREATE_MODULE = """mutation($input: CreateTrainingModuleInput!) {
  createTrainingModule(input: $input) {
    trainingModule { id title passMark requiredForNetworks questions { prompt options multiple } }
    errors { __typename message path }
  }
}"""
SUBMIT = """mutation($input: SubmitQuizAttemptInput!) {
  submitQuizAttempt(input: $input) {
    quizAttempt { id score passed correct total answers certification { moduleId expiresAt } }
    errors { __typename message path ... on ValidationError { code } }
  }
}"""
MODULE = {
    "title": "Sharing on LinkedIn",
    "lessons": [{"title": "Your voice", "body": "Write as you speak."}],
    "questions": [
        {"prompt": "May you share a draft?", "options": ["Yes", "No"], "correctOptions": [1]},
        {"prompt": "Which are fine?", "options": ["Own words", "Secrets", "News"], "correctOptions": [0, 2]},
    ],
    "passMark": 100,
    "certificationValidDays": 365,
    "requiredForNetworks": ["LINKEDIN"],
}


def admin(issuer: Issuer) -> dict[str, str]:
    return issuer.headers(org=ORG, roles=[Role.ADMIN], subject="admin-1")


async def publish(gql: Gql, issuer: Issuer, **publish: Any) -> dict[str, Any]:
    draft = await gql(DRAFT, {"input": {"title": "Social media policy", "body": "Be yourself."}}, headers=admin(issuer))
    version: dict[str, Any] = draft["data"]["draftPolicyVersion"]["policyVersion"]
    published = await gql(PUBLISH, {"input": {"id": version["id"], **publish}}, headers=admin(issuer))
    assert published["data"]["publishPolicyVersion"]["errors"] == [], published
    return version


async def test_a_member_accepts_the_policy_for_themselves_and_may_share_again(
    gql: Gql, issuer: Issuer, downstream: Downstream
) -> None:
    team = downstream.add_team("Sales")
    downstream.add_member("employee-1", team_id=team.id)
    assert (await gql(MY_POLICY))["data"]["me"]["policy"] == {"required": False, "acknowledged": False, "current": None}
    version = await publish(gql, issuer)
    assert version["version"] == 1

    assert (await gql(MY_POLICY))["data"]["me"]["policy"] == {
        "required": True,
        "acknowledged": False,
        "current": {"id": version["id"], "version": 1, "title": "Social media policy"},
    }
    assert (await gql(CHECK))["data"]["checkPost"] == {
        "allowed": False,
        "violations": [
            {
                "code": "policy_not_acknowledged",
                "message": "Read and accept the social media policy (v1) before sharing.",
            }
        ],
    }
    body = await gql(ACKNOWLEDGE, {"input": {"policyVersionId": version["id"], "contentHash": version["contentHash"]}})
    payload = body["data"]["acknowledgePolicy"]
    assert payload["errors"] == [] and payload["acknowledgement"]["version"] == 1
    assert payload["acknowledgement"]["policyVersionId"] == version["id"]
    # The service took the member from the token: the acknowledgement is employee-1's.
    assert [a.member_subject for a in downstream.acknowledgements] == ["employee-1"]
    assert "member" not in str(downstream.calls_to("policy", "/api/v1/policy-acknowledgements")[-1].body)
    assert (await gql(MY_POLICY))["data"]["me"]["policy"]["acknowledged"] is True
    assert (await gql(CHECK))["data"]["checkPost"]["allowed"] is True

    # The admins' figures: one of one in Sales; null for the member.
    progress = (await gql(PROGRESS, {"id": version["id"]}, headers=admin(issuer)))["data"]["node"]["progress"]
    assert progress == {
        "members": 1,
        "done": 1,
        "teams": [{"teamId": to_global_id("Team", team.id), "teamName": "Sales", "members": 1, "done": 1}],
    }
    assert (await gql(PROGRESS, {"id": version["id"]}))["data"]["node"]["progress"] is None


async def test_acknowledging_names_the_input_at_fault(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    version = await publish(gql, issuer)
    team_id = to_global_id("Team", downstream.add_team("Sales").id)
    for bad in ("nonsense", team_id):
        errors = (await gql(ACKNOWLEDGE, {"input": {"policyVersionId": bad}}))["data"]["acknowledgePolicy"]["errors"]
        assert [(e["__typename"], e["path"]) for e in errors] == [("ValidationError", ["input", "policyVersionId"])]
    stale = {"policyVersionId": version["id"], "contentHash": "0" * 64}
    errors = (await gql(ACKNOWLEDGE, {"input": stale}))["data"]["acknowledgePolicy"]["errors"]
    assert [(e["__typename"], e["code"]) for e in errors] == [("ConflictError", "policy_text_changed")]
    again = await gql(PUBLISH, {"input": {"id": version["id"]}}, headers=admin(issuer))
    assert again["data"]["publishPolicyVersion"]["errors"][0]["code"] == "already_published"
    # Nobody can be named as the member: the input has no such field, and the service takes the caller.
    fields = await gql('{ __type(name: "AcknowledgePolicyInput") { inputFields { name } } }')
    assert {f["name"] for f in fields["data"]["__type"]["inputFields"]} == {"policyVersionId", "contentHash"}
    denied = await gql(DRAFT, {"input": {"title": "Mine", "body": "No."}})
    assert denied["data"]["draftPolicyVersion"]["errors"][0]["__typename"] == "PermissionDeniedError"


async def test_a_quiz_never_shows_its_answers_and_a_pass_certifies(gql: Gql, issuer: Issuer) -> None:
    created = await gql(CREATE_MODULE, {"input": MODULE}, headers=admin(issuer))
    module = created["data"]["createTrainingModule"]["trainingModule"]
    assert module["requiredForNetworks"] == ["LINKEDIN"]
    assert module["questions"][1] == {
        "prompt": "Which are fine?",
        "options": ["Own words", "Secrets", "News"],
        "multiple": True,
    }
    fields = await gql('{ __type(name: "QuizQuestion") { fields { name } } }')
    assert {f["name"] for f in fields["data"]["__type"]["fields"]} == {"prompt", "options", "multiple"}

    linkedin = '{ checkPost(network: LINKEDIN, text: "Hello") { allowed violations { code message } } }'
    assert (await gql(linkedin))["data"]["checkPost"]["violations"] == [
        {
            "code": "certification_missing",
            "message": "Complete the training \u201cSharing on LinkedIn\u201d and pass its quiz before sharing.",
        }
    ]
    bad = await gql(SUBMIT, {"input": {"moduleId": module["id"], "answers": [[1], []]}})
    errors = bad["data"]["submitQuizAttempt"]["errors"]
    assert [(e["__typename"], e["path"]) for e in errors] == [("ValidationError", ["input", "answers", "1"])]

    passed = (await gql(SUBMIT, {"input": {"moduleId": module["id"], "answers": [[1], [2, 0]]}}))["data"]
    attempt = passed["submitQuizAttempt"]["quizAttempt"]
    assert (attempt["score"], attempt["passed"], attempt["answers"]) == (100, True, [[1], [0, 2]])
    assert attempt["certification"]["moduleId"] == module["id"]
    assert (await gql(linkedin))["data"]["checkPost"]["allowed"] is True
    training = (await gql("{ me { training { moduleId attempts bestScore certified } } }"))["data"]["me"]["training"]
    assert training == [{"moduleId": module["id"], "attempts": 1, "bestScore": 100, "certified": True}]

    # Only its author reads an attempt back.
    query = "query($id: ID!) { node(id: $id) { ... on QuizAttempt { answers } } }"
    assert (await gql(query, {"id": attempt["id"]}))["data"]["node"] == {"answers": [[1], [0, 2]]}
    for other in (employee_headers(issuer, subject="employee-2"), admin(issuer)):
        assert (await gql(query, {"id": attempt["id"]}, headers=other))["data"]["node"] is None


async def test_admins_list_versions_and_modules_as_connections(gql: Gql, issuer: Issuer) -> None:
    first = await publish(gql, issuer)
    draft = await gql(DRAFT, {"input": {"title": "Next", "body": "Draft."}}, headers=admin(issuer))
    second = draft["data"]["draftPolicyVersion"]["policyVersion"]
    query = "{ policyVersions(first: 10) { edges { node { id status } } pageInfo { hasNextPage } } }"
    mine = await gql(query, headers=admin(issuer))
    assert [e["node"] for e in mine["data"]["policyVersions"]["edges"]] == [
        {"id": second["id"], "status": "DRAFT"},
        {"id": first["id"], "status": "PUBLISHED"},
    ]
    member = await gql(query)
    assert [e["node"]["id"] for e in member["data"]["policyVersions"]["edges"]] == [first["id"]]
    await gql(CREATE_MODULE, {"input": MODULE}, headers=admin(issuer))
    modules = await gql("{ trainingModules(last: 1) { edges { node { title } } } }")
    assert modules["data"]["trainingModules"]["edges"] == [{"node": {"title": "Sharing on LinkedIn"}}]


async def test_an_unknown_team_names_the_teams_field(gql: Gql, issuer: Issuer, downstream: Downstream) -> None:
    draft = await gql(DRAFT, {"input": {"title": "Social media policy", "body": "Be yourself."}}, headers=admin(issuer))
    version = draft["data"]["draftPolicyVersion"]["policyVersion"]
    unknown_team = to_global_id("Team", "00000000-0000-4000-8000-000000000001")
    refused = await gql(PUBLISH, {"input": {"id": version["id"], "teamIds": [unknown_team]}}, headers=admin(issuer))

    payload = refused["data"]["publishPolicyVersion"]
    assert payload["policyVersion"] is None
    assert [(e["__typename"], e["path"]) for e in payload["errors"]] == [("NotFoundError", ["input", "teamIds"])]
