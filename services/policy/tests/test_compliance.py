"""The compliance rules as pure functions: one table per kind, the decision they make, and the rules
refused when saved (issue 8, items 1-8, 11 and 16)."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.policy import compliance, rules
from services.policy.compliance import (
    Cap,
    CapPeriod,
    Context,
    Disclosure,
    Hashtags,
    Links,
    Pattern,
    PersonalTouch,
    Phrases,
    QuietPeriod,
    RecentShare,
    Rule,
)
from services.policy.rules import Action, Outcome

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def judge(rule: Rule, text: str, network: str = "linkedin", **context: object) -> list[rules.Violation]:
    return rules.evaluate(network, text, None, None, Context(now=NOW, rules=(rule,), **context))  # type: ignore[arg-type]


def spans(found: list[rules.Violation], text: str) -> list[str]:
    """The underlined pieces, cut as a JavaScript client would (UTF-16 offsets)."""
    units = text.encode("utf-16-le")
    return [
        units[2 * f.start : 2 * f.end].decode("utf-16-le") for f in found if f.start is not None and f.end is not None
    ]


# --- 1. phrases ------------------------------------------------------------------------------------

GARANTITO = Rule(Phrases(("garantito",)), Action.REJECT)


@pytest.mark.parametrize(
    ("text", "underlined"),
    [
        ("Rendimento garantito!", ["garantito"]),
        ("Rendimento GARANTITO!", ["GARANTITO"]),
        ("Rendimento garantitò.", ["garantitò"]),
        ("Rendimento garantito\u0300 (decomposed)", ["garantito\u0300"]),
        ("I garantitori del prestito", []),
        ("ungarantito", []),
        ("😀😀 garantito", ["garantito"]),  # spans in UTF-16 units after astral characters
        ("#garantito", ["garantito"]),
        ("garantito, garantito", ["garantito", "garantito"]),
    ],
)
def test_a_phrase_matches_whole_words_ignoring_case_and_accents(text: str, underlined: list[str]) -> None:
    assert spans(judge(GARANTITO, text), text) == underlined


@pytest.mark.parametrize(
    ("phrase", "text", "underlined"),
    [
        ("sans risque", "Un placement SANS   RISQUE.", ["SANS   RISQUE"]),  # any run of spaces
        ("Gewinn", "Großer GEWINN für alle", ["GEWINN"]),
        ("straße", "Die STRASSE ist frei", ["STRASSE"]),  # ß folds to ss
        ("İstanbul", "istanbul ofisimiz", ["istanbul"]),
        ("доход", "Гарантированный ДОХОД", ["ДОХОД"]),
        ("保证收益", "我们保证收益很高", ["保证收益"]),  # no spaces in Chinese: no word boundary asked
        ("利益", "利益確定", ["利益"]),
        ("ربح", "ربح مضمون", ["ربح"]),
        ("café", "Cafe gratuit", ["Cafe"]),
    ],
)
def test_phrases_in_every_language(phrase: str, text: str, underlined: list[str]) -> None:
    assert spans(judge(Rule(Phrases((phrase,)), Action.REJECT), text), text) == underlined


def test_a_review_phrase_sends_to_review_and_a_warning_never_blocks() -> None:
    review = Rule(Phrases(("outperform",)), Action.REVIEW, message="Forward-looking claim: a reviewer checks it.")
    found = judge(review, "We will outperform")
    assert [(f.code, f.action, f.message) for f in found] == [
        ("phrase_found", Action.REVIEW, "Forward-looking claim: a reviewer checks it.")
    ]
    assert rules.outcome_of(found) is Outcome.NEEDS_REVIEW
    warn = judge(Rule(Phrases(("amazing",)), Action.WARN), "An amazing day")
    assert [f.action for f in warn] == [Action.WARN]
    assert rules.outcome_of(warn) is Outcome.APPROVED


def test_any_reject_wins_over_review_and_warn() -> None:
    findings = [
        rules.Violation("a", "a", action=Action.WARN),
        rules.Violation("b", "b", action=Action.REVIEW),
        rules.Violation("c", "c", action=Action.REJECT),
    ]
    assert rules.outcome_of(findings) is Outcome.REJECTED
    assert rules.outcome_of(findings[:2]) is Outcome.NEEDS_REVIEW
    assert rules.outcome_of(findings[:1]) is Outcome.APPROVED
    assert rules.outcome_of([]) is Outcome.APPROVED


# --- 2. patterns -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "underlined"),
    [
        (r"\d+([.,]\d+)?\s?%", "Un rendimento del 7,5 % annuo", ["7,5 %"]),
        (r"\$[A-Z]{1,5}\b", "Buy $ACME now", ["$ACME"]),
        (r"€\s?\d+", "Solo €99 🎉 e €  5", ["€99"]),
        (r"rendite", "RENDITE hoch", ["RENDITE"]),  # case-insensitive unless asked
    ],
)
def test_a_pattern_underlines_what_it_matches(pattern: str, text: str, underlined: list[str]) -> None:
    assert spans(judge(Rule(Pattern(pattern), Action.REJECT), text), text) == underlined


def test_a_case_sensitive_pattern() -> None:
    assert judge(Rule(Pattern("ACME", case_sensitive=True), Action.REJECT), "acme") == []


def test_a_pattern_that_runs_out_of_time_sends_the_post_to_review() -> None:
    slow = Rule(Pattern(r"(x+x+)+y"), Action.REJECT)
    found = judge(slow, "x" * 2900)
    assert [(f.code, f.action) for f in found] == [("pattern_timeout", Action.REVIEW)]


# --- 3. disclosure ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("disclosure", "text", "missing"),
    [
        ("#ad", "Great product #ad", False),
        ("#ad", "Great product #AD", False),
        ("#ad", "Great product #adventure", True),
        ("#ad", "Great product", True),
        ("#dipendente", "Sono #Dipendente di Acme", False),
        ("Sono un dipendente di Acme", "Bel prodotto. Sono un dipendente di ACME.", False),
        ("Je suis employé d'Acme", "je suis employe d'acme", False),
    ],
)
def test_the_campaign_disclosure_must_be_in_the_post(disclosure: str, text: str, missing: bool) -> None:
    rule = Rule(Disclosure(), Action.REVIEW)
    found = judge(rule, text, required_disclosure=disclosure)
    assert [f.code for f in found] == (["disclosure_missing"] if missing else [])


def test_a_disclosure_is_required_even_without_a_rule_and_then_rejects() -> None:
    found = rules.evaluate("x", "Great product", None, None, Context(now=NOW, required_disclosure="#ad"))
    assert [(f.code, f.action) for f in found] == [("disclosure_missing", Action.REJECT)]
    assert found[0].message == "Add “#ad” to the post: the campaign requires it."


# --- 4. links --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "text", "codes"),
    [
        (Links(blocked_domains=("competitor.com",)), "See https://www.competitor.com/x", ["link_blocked"]),
        (Links(blocked_domains=("competitor.com",)), "See notcompetitor.com", []),
        (Links(allowed_domains=("acme.com",)), "See https://news.acme.com/a and acme.com", []),
        (Links(allowed_domains=("acme.com",)), "See https://blog.example.org/x", ["link_not_allowed"]),
        (Links(allowed_domains=("acme.com",)), "See bit.ly/3xYz", ["link_not_allowed"]),
        # The tracking link is always allowed, written in the text or appended.
        (Links(allowed_domains=("acme.com",)), "See https://go.condividi.com/r/abc12345", []),
    ],
)
def test_links_to_allowed_and_blocked_domains(config: Links, text: str, codes: list[str]) -> None:
    found = judge(Rule(config, Action.REJECT), text, tracking_host="go.condividi.com")
    assert [f.code for f in found] == codes


def test_a_blocked_link_is_underlined() -> None:
    text = "🚀 Vedi https://competitor.com/offerta oggi"
    found = judge(Rule(Links(blocked_domains=("competitor.com",)), Action.REJECT), text)
    assert spans(found, text) == ["https://competitor.com/offerta"]


# --- 5. hashtags and mentions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "text", "codes"),
    [
        (Hashtags(max_hashtags=2), "#a1 #b2", []),
        (Hashtags(max_hashtags=2), "#a1 #b2 #c3", ["too_many_hashtags"]),
        (Hashtags(max_hashtags=1), "#1 #2 #ok", []),  # digits alone are no hashtag
        (Hashtags(max_mentions=1), "@anna @bruno", ["too_many_mentions"]),
        (Hashtags(max_mentions=1), "anna@acme.com @bruno", []),
        (Hashtags(required_hashtags=("AcmeLife",)), "Proud #acmelife", []),
        (Hashtags(required_hashtags=("#AcmeLife",)), "Proud", ["hashtag_required"]),
        (Hashtags(forbidden_hashtags=("crypto",)), "New #Crypto fund #acme", ["hashtag_forbidden"]),
        (Hashtags(forbidden_hashtags=("crypto",)), "New #cryptography", []),
        (Hashtags(forbidden_hashtags=("città",)), "Bella #citta", ["hashtag_forbidden"]),
        (Hashtags(max_hashtags=1), "\uff03東京 #大阪", ["too_many_hashtags"]),
    ],
)
def test_hashtags_and_mentions(config: Hashtags, text: str, codes: list[str]) -> None:
    assert [f.code for f in judge(Rule(config, Action.REJECT), text)] == codes


def test_the_hashtags_over_the_maximum_are_underlined() -> None:
    text = "#uno #due #tre"
    found = judge(Rule(Hashtags(max_hashtags=1), Action.WARN), text)
    assert spans(found, text) == ["#due", "#tre"]


# --- 6. quiet periods ------------------------------------------------------------------------------

RESULTS = QuietPeriod(date(2026, 12, 3), date(2026, 12, 10), "Europe/Rome")


@pytest.mark.parametrize(
    ("now", "quiet"),
    [
        (datetime(2026, 12, 2, 22, 59, tzinfo=UTC), False),  # 23:59 on the 2nd in Rome
        (datetime(2026, 12, 2, 23, 0, tzinfo=UTC), True),  # midnight on the 3rd in Rome
        (datetime(2026, 12, 10, 22, 59, tzinfo=UTC), True),
        (datetime(2026, 12, 10, 23, 0, tzinfo=UTC), False),
    ],
)
def test_a_quiet_period_runs_in_its_time_zone(now: datetime, quiet: bool) -> None:
    found = rules.evaluate("x", "Hello", None, None, Context(now=now, rules=(Rule(RESULTS, Action.REVIEW),)))
    assert [f.code for f in found] == (["quiet_period"] if quiet else [])


# --- 7. caps ---------------------------------------------------------------------------------------


def test_a_daily_cap_tells_when_the_member_can_share_again() -> None:
    recent = (
        RecentShare(NOW - timedelta(hours=20), "x"),
        RecentShare(NOW - timedelta(hours=3), "linkedin"),
        RecentShare(NOW - timedelta(hours=30), "x"),  # outside the day
    )
    cap = Rule(Cap(2, CapPeriod.DAY), Action.REJECT)
    found = judge(cap, "Hello", recent_shares=recent, member_time_zone="Europe/Rome")
    assert [f.code for f in found] == ["cap_reached"]
    # The older of the two leaves the 24 hours in 4 hours: 13:00 UTC, 14:00 in Rome.
    assert found[0].message == (
        "You can share at most 2 times in 24 hours. You can share again from 02 Dec 2026 14:00 (Europe/Rome)."
    )
    assert judge(cap, "Hello", recent_shares=recent[:1]) == []


def test_a_cap_per_network_counts_that_network_only() -> None:
    recent = (RecentShare(NOW - timedelta(days=2), "x"), RecentShare(NOW - timedelta(days=1), "linkedin"))
    weekly_x = Rule(Cap(1, CapPeriod.WEEK, per_network=True), Action.REJECT)
    assert [f.code for f in judge(weekly_x, "Hi", network="x", recent_shares=recent)] == ["cap_reached"]
    assert judge(weekly_x, "Hi", network="bluesky", recent_shares=recent) == []


@pytest.mark.parametrize(
    ("ago_hours", "limit", "again_in_hours"),
    [([], 1, None), ([1], 1, 23), ([1, 5], 2, 19), ([1, 5, 10], 2, 19), ([25], 1, None)],
)
def test_next_share_time(ago_hours: list[int], limit: int, again_in_hours: int | None) -> None:
    times = [NOW - timedelta(hours=h) for h in ago_hours]
    again = compliance.next_share_time(times, limit, timedelta(days=1), NOW)
    assert again == (NOW + timedelta(hours=again_in_hours) if again_in_hours is not None else None)


# --- 8. personal touch -----------------------------------------------------------------------------


@pytest.mark.parametrize(("score", "codes"), [(None, []), (0.1, ["personal_touch_low"]), (0.3, []), (0.9, [])])
def test_personal_touch_below_the_minimum(score: float | None, codes: list[str]) -> None:
    found = judge(Rule(PersonalTouch(0.3), Action.REVIEW), "Hello", personal_touch=score)
    assert [f.code for f in found] == codes


# --- scope -----------------------------------------------------------------------------------------


def test_a_rule_narrowed_to_a_network_a_campaign_or_a_team_applies_there_only() -> None:
    team = uuid.uuid4()
    for rule, applies, misses in [
        (Rule(Phrases(("promo",)), Action.REJECT, network="x"), {"network": "x"}, {"network": "linkedin"}),
        (Rule(Phrases(("promo",)), Action.REJECT, campaign_id="c1"), {"campaign_id": "c1"}, {"campaign_id": "c2"}),
        (Rule(Phrases(("promo",)), Action.REJECT, team_id=team), {"team_ids": frozenset({team})}, {}),
    ]:
        for context, expected in ((applies, 1), (misses, 0)):
            network = str(context.pop("network", "linkedin"))
            found = rules.evaluate(network, "promo", None, None, Context(now=NOW, rules=(rule,), **context))  # type: ignore[arg-type]
            assert len(found) == expected, (rule, context)


def test_the_live_check_and_the_decision_return_the_same_findings() -> None:
    context = Context(now=NOW, rules=(GARANTITO, Rule(Hashtags(max_hashtags=0), Action.WARN)))
    verdict = rules.check("x", "Rendimento garantito #acme", "https://go.condividi.com/r/x", None, context)
    assert verdict.findings == rules.evaluate(
        "x", "Rendimento garantito #acme", "https://go.condividi.com/r/x", None, context
    )
    assert [(f.code, f.action) for f in verdict.findings] == [
        ("phrase_found", Action.REJECT),
        ("too_many_hashtags", Action.WARN),
    ]
    assert [v.code for v in verdict.violations] == ["phrase_found"]  # warnings do not block


# --- 16. rules refused when saved ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "loc", "reason"),
    [
        (Rule(Phrases(("",)), Action.REJECT), ("phrases", 0), "empty"),
        (Rule(Phrases(("   ",)), Action.REJECT), ("phrases", 0), "empty"),
        (Rule(Phrases(("ok", "!!")), Action.REJECT), ("phrases", 1), "no letter"),
        (Rule(Phrases(("e",)), Action.REJECT), ("phrases", 0), "single letter"),
        (Rule(Phrases(()), Action.REJECT), ("phrases",), "at least one"),
        (Rule(Pattern("([a-z"), Action.REJECT), ("pattern",), "does not compile"),
        (Rule(Pattern("(x+x+)+y"), Action.REJECT), ("pattern",), "runs too long"),
        (Rule(Pattern("(acme|acmee)+z"), Action.REJECT), ("pattern",), None),  # fast enough: saved
        (Rule(Pattern("x*"), Action.REJECT), ("pattern",), "empty text"),
        (Rule(Pattern("."), Action.REJECT), ("pattern",), "every ordinary post"),
        (Rule(Pattern("."), Action.WARN), ("pattern",), None),  # a warning blocks nothing
        (Rule(Links(), Action.REJECT), ("allowed_domains",), "checks nothing"),
        (Rule(Links(blocked_domains=("https://x.com",)), Action.REJECT), ("blocked_domains", 0), "not a domain"),
        (Rule(Hashtags(), Action.REJECT), ("max_hashtags",), "checks nothing"),
        (Rule(Hashtags(max_hashtags=0, required_hashtags=("ad",)), Action.REJECT), ("max_hashtags",), "every post"),
        (Rule(Hashtags(forbidden_hashtags=("two words",)), Action.REJECT), ("forbidden_hashtags", 0), "not a hashtag"),
        (Rule(QuietPeriod(date(2026, 1, 1), date(2027, 6, 1), "UTC"), Action.REJECT), ("ends_on",), "block everything"),
        (Rule(QuietPeriod(date(1, 1, 1), date(9999, 12, 31), "UTC"), Action.REJECT), ("ends_on",), "block everything"),
        (Rule(QuietPeriod(date(2026, 2, 1), date(2026, 1, 1), "UTC"), Action.REJECT), ("ends_on",), "ends before"),
        (Rule(QuietPeriod(date(2026, 2, 1), date(2026, 2, 2), "Mars/Olympus"), Action.REJECT), ("time_zone",), "IANA"),
        (Rule(Cap(0, CapPeriod.DAY), Action.REJECT), ("max_shares",), "block everything"),
        (Rule(PersonalTouch(1.5), Action.REJECT), ("minimum_personal_touch",), "above 0"),
        (Rule(Phrases(("garantito", "保")), Action.REJECT), ("phrases",), None),  # one Han character is a word
    ],
)
def test_rules_that_cannot_work_are_refused_with_the_reason(
    rule: Rule, loc: tuple[str | int, ...], reason: str | None
) -> None:
    refused = compliance.refusals(rule)
    if reason is None:
        assert refused == []
    else:
        assert [r.loc for r in refused] == [loc]
        assert reason in refused[0].message


def test_overlapping_quiet_periods_of_the_same_scope_are_refused() -> None:
    existing = Rule(QuietPeriod(date(2026, 3, 1), date(2026, 3, 10), "Europe/Rome"), Action.REJECT, id=uuid.uuid4())
    overlapping = Rule(QuietPeriod(date(2026, 3, 10), date(2026, 3, 20), "Europe/Rome"), Action.REVIEW)
    after = Rule(QuietPeriod(date(2026, 3, 11), date(2026, 3, 20), "Europe/Rome"), Action.REVIEW)
    other_network = Rule(QuietPeriod(date(2026, 3, 5), date(2026, 3, 6), "Europe/Rome"), Action.REVIEW, network="x")
    refused = compliance.refusals(overlapping, [existing])
    assert [r.loc for r in refused] == [("starts_on",)]
    assert "overlaps the quiet period 2026-03-01 to 2026-03-10" in refused[0].message
    assert compliance.refusals(after, [existing]) == []
    assert compliance.refusals(other_network, [existing]) == []
    # Replacing a period with itself is no overlap.
    assert compliance.refusals(existing, [existing]) == []


def test_the_demo_seeds_rules_of_every_kind_that_would_all_be_saved() -> None:
    from condividi.devstack.seed import compliance_rules
    from services.policy.compliance_models import (
        ComplianceRuleRecord,
        ComplianceRuleWrite,
        config_of,
        config_problems,
        rule_of,
    )

    seeded = compliance_rules(date(2026, 12, 2), {"Sales": str(uuid.uuid4())})
    assert {r["kind"] for r in seeded} == {kind.value for kind in compliance.RuleKind}
    saved: list[Rule] = []
    for body in seeded:
        write = ComplianceRuleWrite.model_validate(body)
        assert config_problems(write) == [], body
        record = ComplianceRuleRecord(
            org_id=uuid.uuid4(),
            kind=write.kind.value,
            action=write.action.value,
            message=write.message,
            network=write.network.value if write.network else None,
            team_id=write.team_id,
            config=config_of(write),
            created_by="seed",
            created_at=NOW,
            updated_at=NOW,
        )
        assert compliance.refusals(rule_of(record), saved) == [], body
        saved.append(rule_of(record))
    quiet = next(r for r in saved if isinstance(r.config, QuietPeriod))
    assert isinstance(quiet.config, QuietPeriod) and quiet.config.starts_on == date(2027, 1, 1)


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        (Rule(Pattern("(" * 3000 + ")" * 3000), Action.REJECT), "nested too deeply"),
        (Rule(Pattern("a{99999999999999999999}"), Action.REJECT), "repeat count too big"),
        (Rule(QuietPeriod(date(2026, 2, 1), date(2026, 2, 2), "Europe"), Action.REJECT), "IANA"),
        (Rule(QuietPeriod(date(2026, 2, 1), date(2026, 2, 2), "../etc/passwd"), Action.REJECT), "IANA"),
    ],
)
def test_odd_input_is_refused_not_crashed_on(rule: Rule, reason: str) -> None:
    assert reason in compliance.refusals(rule)[0].message
