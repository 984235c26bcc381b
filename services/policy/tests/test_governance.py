"""The governance rules, table by table: no database, no HTTP."""

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.policy import governance, rules
from services.policy.governance import (
    AnswerError,
    ModuleRule,
    PolicyRequirement,
    Question,
    RosterEntry,
    Standing,
    Target,
    TeamProgress,
)

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
SALES, ENGINEERING, LEGAL = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
HASH_V3 = governance.content_hash("Social media policy", "Be kind.")
EVERYONE_V3 = PolicyRequirement(3, HASH_V3)
SALES_V3 = PolicyRequirement(3, HASH_V3, Target.of({SALES}))
MILAN_V3 = PolicyRequirement(3, HASH_V3, Target.of(locations={"Milan"}))
SALES_OR_MILAN_V3 = PolicyRequirement(3, HASH_V3, Target.of({SALES}, {" MILAN ", "Paris"}))
ACCEPT_V3 = "Read and accept the social media policy (v3) before sharing."


@pytest.mark.parametrize(
    ("requirement", "teams", "acknowledged", "expected"),
    [
        (None, set(), set(), []),
        (EVERYONE_V3, set(), set(), [ACCEPT_V3]),
        (EVERYONE_V3, {SALES}, {HASH_V3}, []),
        # An acknowledgement of another text (an older version) does not count.
        (EVERYONE_V3, set(), {governance.content_hash("Social media policy", "Be nice.")}, [ACCEPT_V3]),
        # Targeted: asked of the sales team only.
        (SALES_V3, {SALES}, set(), [ACCEPT_V3]),
        (SALES_V3, {SALES, ENGINEERING}, set(), [ACCEPT_V3]),
        (SALES_V3, {ENGINEERING}, set(), []),
        (SALES_V3, set(), set(), []),
        (SALES_V3, {SALES}, {HASH_V3}, []),
    ],
    ids=[
        "no policy",
        "everyone, not accepted",
        "everyone, accepted",
        "accepted another text",
        "targeted, in the team",
        "targeted, one of two teams",
        "targeted, another team",
        "targeted, no team",
        "targeted, accepted",
    ],
)
def test_policy_violations(
    requirement: PolicyRequirement | None, teams: set[uuid.UUID], acknowledged: set[str], expected: list[str]
) -> None:
    violations = governance.policy_violations(requirement, teams, acknowledged)
    assert [v.message for v in violations] == expected
    assert all(v.code == governance.POLICY_NOT_ACKNOWLEDGED for v in violations)


@pytest.mark.parametrize(
    ("requirement", "teams", "location", "asked"),
    [
        (EVERYONE_V3, set(), None, True),
        (EVERYONE_V3, set(), "Milan", True),
        (MILAN_V3, set(), "Milan", True),
        (MILAN_V3, set(), "mILAN", True),
        (MILAN_V3, set(), "  milan ", True),
        (MILAN_V3, {SALES}, "Paris", False),
        (MILAN_V3, set(), None, False),
        (MILAN_V3, set(), "Milano", False),
        (SALES_OR_MILAN_V3, {SALES}, None, True),
        (SALES_OR_MILAN_V3, {ENGINEERING}, "milan", True),
        (SALES_OR_MILAN_V3, {ENGINEERING}, "PARIS", True),
        (SALES_OR_MILAN_V3, {ENGINEERING}, "Berlin", False),
        (SALES_OR_MILAN_V3, set(), None, False),
        (SALES_V3, {ENGINEERING}, "Milan", False),
    ],
    ids=[
        "everyone, nowhere",
        "everyone, somewhere",
        "location, same spelling",
        "location, other case",
        "location, padded",
        "location, elsewhere though in a team",
        "location, member has none",
        "location, a longer name is another place",
        "teams or locations, by team",
        "teams or locations, by location",
        "teams or locations, by the other location",
        "teams or locations, neither",
        "teams or locations, no team and no location",
        "teams only, a location does not count",
    ],
)
def test_policy_asks_the_members_of_its_teams_or_at_its_locations(
    requirement: PolicyRequirement, teams: set[uuid.UUID], location: str | None, asked: bool
) -> None:
    violations = governance.policy_violations(requirement, teams, set(), location)
    assert [v.message for v in violations] == ([ACCEPT_V3] if asked else [])
    standing = Standing(now=NOW, policy=requirement, team_ids=frozenset(teams), location=location)
    assert [v.message for v in standing.violations("bluesky")] == ([ACCEPT_V3] if asked else [])


def test_distinct_locations_keep_the_first_spelling_once() -> None:
    assert governance.distinct_locations(["Milan", "Paris", "MILAN", "paris ", "Berlin"]) == [
        "Milan",
        "Paris",
        "Berlin",
    ]


BRAND = ModuleRule(uuid.uuid4(), "Brand basics", frozenset({"linkedin"}))
DISCLOSURE = ModuleRule(uuid.uuid4(), "Disclosure", frozenset({"x", "linkedin"}))
CAMPAIGN_ONLY = ModuleRule(uuid.uuid4(), "Financial results")


@pytest.mark.parametrize(
    ("network", "also", "expected"),
    [
        ("linkedin", set(), [BRAND, DISCLOSURE]),
        ("x", set(), [DISCLOSURE]),
        ("bluesky", set(), []),
        ("bluesky", {CAMPAIGN_ONLY.module_id}, [CAMPAIGN_ONLY]),
        ("x", {DISCLOSURE.module_id}, [DISCLOSURE]),  # required twice, asked once
    ],
)
def test_required_modules(network: str, also: set[uuid.UUID], expected: list[ModuleRule]) -> None:
    assert governance.required_modules(network, [BRAND, DISCLOSURE, CAMPAIGN_ONLY], also) == expected


@pytest.mark.parametrize(
    ("held", "expected"),
    [
        (
            {},
            [
                (
                    "certification_missing",
                    "Complete the training \u201cBrand basics\u201d and pass its quiz before sharing.",
                )
            ],
        ),
        ({BRAND.module_id: None}, []),
        ({BRAND.module_id: NOW + timedelta(seconds=1)}, []),
        (
            {BRAND.module_id: NOW},
            [
                (
                    "certification_expired",
                    "Your certification for \u201cBrand basics\u201d expired on 2026-12-02; take the training again "
                    "before sharing.",
                )
            ],
        ),
        # A certification of another module does not stand in.
        (
            {DISCLOSURE.module_id: None},
            [
                (
                    "certification_missing",
                    "Complete the training \u201cBrand basics\u201d and pass its quiz before sharing.",
                )
            ],
        ),
    ],
    ids=["missing", "never expires", "not yet expired", "expired now", "another module"],
)
def test_certification_violations(held: dict[uuid.UUID, datetime | None], expected: list[tuple[str, str]]) -> None:
    violations = governance.certification_violations([BRAND], held, NOW)
    assert [(v.code, v.message) for v in violations] == expected


def test_the_decision_puts_what_the_member_must_do_before_what_is_wrong_with_the_post() -> None:
    standing = Standing(now=NOW, policy=EVERYONE_V3, modules=(DISCLOSURE,))
    violations = rules.evaluate("x", "a" * 300, None, standing)
    assert [v.code for v in violations] == ["policy_not_acknowledged", "certification_missing", "too_long"]
    assert rules.outcome_of(violations) == rules.Outcome.REJECTED
    verdict = rules.check("x", "hello", None, standing)
    assert verdict.outcome == rules.Outcome.REJECTED and verdict.violations == violations[:2]


def test_a_member_in_good_standing_is_judged_on_the_post_alone() -> None:
    standing = Standing(
        now=NOW,
        policy=EVERYONE_V3,
        acknowledged_hashes=frozenset({HASH_V3}),
        modules=(DISCLOSURE,),
        certifications={DISCLOSURE.module_id: None},
    )
    assert rules.evaluate("x", "hello", None, standing) == []
    assert rules.evaluate("x", "hello", None, None) == []


def test_the_campaigns_certifications_enter_the_decision() -> None:
    standing = Standing(now=NOW, modules=(CAMPAIGN_ONLY,), also_required=frozenset({CAMPAIGN_ONLY.module_id}))
    assert [v.code for v in rules.evaluate("bluesky", "hello", None, standing)] == ["certification_missing"]


QUIZ = [
    Question("Can you share a draft?", ("yes", "no"), frozenset({1})),
    Question("What must a post disclose?", ("employer", "salary", "nothing"), frozenset({0})),
    Question("Which are fine?", ("own words", "secrets", "public news"), frozenset({0, 2})),
]


@pytest.mark.parametrize(
    ("answers", "pass_mark", "correct", "score", "passed"),
    [
        ([[1], [0], [0, 2]], 100, 3, 100, True),
        ([[1], [0], [2, 0]], 100, 3, 100, True),  # order of the options chosen does not matter
        ([[1], [0], [0]], 67, 2, 66, False),  # 2 of 3 is 66%, rounded down: it does not meet 67
        ([[1], [0], [0]], 66, 2, 66, True),
        ([[1], [0], [0, 1, 2]], 66, 2, 66, True),  # choosing every option is wrong
        ([[0], [1], [1]], 1, 0, 0, False),
    ],
)
def test_grade(answers: list[list[int]], pass_mark: int, correct: int, score: int, passed: bool) -> None:
    assert governance.grade(QUIZ, answers, pass_mark) == governance.Grade(correct, 3, score, passed)


@pytest.mark.parametrize(
    ("answers", "index", "message"),
    [
        ([[1], [0]], None, "the quiz has 3 questions; 2 answers were given"),
        ([[1], [0], [0], [1]], None, "the quiz has 3 questions; 4 answers were given"),
        ([[1], [], [0]], 1, "choose at least one option"),
        ([[1], [0], [0, 0]], 2, "an option is chosen twice"),
        ([[2], [0], [0]], 0, "options are numbered 0 to 1"),
        ([[1], [-1], [0]], 1, "options are numbered 0 to 2"),
    ],
)
def test_an_answer_sheet_that_does_not_fit_the_quiz_is_refused(
    answers: list[list[int]], index: int | None, message: str
) -> None:
    with pytest.raises(AnswerError, match=message) as raised:
        governance.grade(QUIZ, answers, 50)
    assert raised.value.index == index


def test_certification_expiry() -> None:
    assert governance.certification_expiry(NOW, None) is None
    assert governance.certification_expiry(NOW, 365) == NOW + timedelta(days=365)
    assert governance.is_current(None, NOW)
    assert not governance.is_current(NOW, NOW)


ROSTER = [
    RosterEntry("ada", frozenset({SALES})),
    RosterEntry("bob", frozenset({SALES, ENGINEERING})),
    RosterEntry("cy", frozenset({ENGINEERING})),
    RosterEntry("dee", frozenset()),
]
NAMES = {SALES: "Sales", ENGINEERING: "engineering", LEGAL: "Legal"}


def test_progress_for_everyone_counts_each_team_and_each_member_once() -> None:
    figures = governance.progress(ROSTER, NAMES, {"bob", "dee", "stranger"})
    assert (figures.members, figures.done) == (4, 2)
    assert figures.teams == [
        TeamProgress(ENGINEERING, "engineering", 2, 1),
        TeamProgress(SALES, "Sales", 2, 1),
        TeamProgress(None, governance.NO_TEAM, 1, 1),
    ]


def test_progress_of_a_targeted_version_counts_only_the_targeted_teams() -> None:
    figures = governance.progress(ROSTER, NAMES, {"bob"}, Target.of({SALES, LEGAL}))
    assert (figures.members, figures.done) == (2, 1)
    assert figures.teams == [TeamProgress(SALES, "Sales", 2, 1)]


PLACED = [
    RosterEntry("ada", frozenset({SALES}), "Milan"),
    RosterEntry("bob", frozenset({SALES, ENGINEERING}), "Paris"),
    RosterEntry("cy", frozenset({ENGINEERING}), "milan"),
    RosterEntry("dee", frozenset(), "MILAN"),
    RosterEntry("eve", frozenset({ENGINEERING}), None),
]


@pytest.mark.parametrize(
    ("target", "members", "done", "teams"),
    [
        # At Milan, whatever the case: ada, cy, dee, each in all their teams.
        (
            Target.of(locations={"Milan"}),
            3,
            2,
            [
                TeamProgress(ENGINEERING, "engineering", 1, 1),
                TeamProgress(SALES, "Sales", 1, 0),
                TeamProgress(None, governance.NO_TEAM, 1, 1),
            ],
        ),
        # Sales (ada, bob) or Milan (ada, cy, dee): bob counts in Sales only, the Milanese everywhere.
        (
            Target.of({SALES}, {"milan"}),
            4,
            2,
            [
                TeamProgress(ENGINEERING, "engineering", 1, 1),
                TeamProgress(SALES, "Sales", 2, 0),
                TeamProgress(None, governance.NO_TEAM, 1, 1),
            ],
        ),
        (Target.of(locations={"Rome"}), 0, 0, []),
    ],
    ids=["a location", "a team or a location", "a location where nobody is"],
)
def test_progress_of_a_version_targeting_locations(
    target: Target, members: int, done: int, teams: list[TeamProgress]
) -> None:
    figures = governance.progress(PLACED, NAMES, {"cy", "dee"}, target)
    assert (figures.members, figures.done, figures.teams) == (members, done, teams)


def test_the_csv_export_is_rfc_4180_and_defuses_formulas() -> None:
    at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    version = uuid.uuid4()
    document = governance.acknowledgements_csv(
        [
            governance.AcknowledgementRow("ada", "ada@acme.example", "Ada, Countess", version, 3, HASH_V3, at),
            governance.AcknowledgementRow(
                "eve", "eve@acme.example", '=HYPERLINK("http://evil")', version, 3, HASH_V3, at
            ),
        ]
    )
    assert document.startswith("member,email,name,policy_version_id,version,content_hash,acknowledged_at\r\n")
    rows = list(csv.reader(io.StringIO(document)))
    assert rows[1] == [
        "ada",
        "ada@acme.example",
        "Ada, Countess",
        str(version),
        "3",
        HASH_V3,
        "2026-12-01T09:30:00+00:00",
    ]
    assert rows[2][2] == '\'=HYPERLINK("http://evil")'


def test_the_content_hash_changes_with_the_text() -> None:
    assert governance.content_hash("T", "body") == governance.content_hash("T", "body")
    assert governance.content_hash("T", "body") != governance.content_hash("T", "body ")
    assert len(governance.content_hash("T", "body")) == 64
