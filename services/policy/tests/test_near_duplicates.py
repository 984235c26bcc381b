# ruff: noqa: RUF001  (full-width letters and punctuation are what these cases are about)
"""The near-duplicate guard: normalisation and similarity as table tests, the look-up on the real
database (colleagues only, same network, same org, inside the window)."""

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy import text

from condividi.db import Database, utcnow
from condividi.testing import Infra
from services.policy import near_duplicates as nd
from services.policy import rules
from services.policy.audit_models import DuplicateAction

POST = "Great news: we're hiring engineers in Milano! Join our team and build the future of advocacy with us."


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("GARANTITÒ   Garantito\n\tgarantito", "garantito garantito garantito"),
        ("Straße ÉTÉ", "strasse ete"),
        ("Read it: https://go.acme.example/r/abc12345?utm_source=x now", "read it now"),
        ("see www.acme.example/news.", "see"),
        ("We’re «hiring»—join!!!", "we re hiring join"),
        ("新製品を発表しました！", "新製品を発表しました"),
        ("Ｆｕｌｌｗｉｄｔｈ ﬁ", "fullwidth fi"),
        ("🚀 launch", "🚀 launch"),
    ],
)
def test_normalise(raw: str, normalised: str) -> None:
    assert nd.normalise(raw) == normalised


def similarity(a: str, b: str) -> float:
    first, second = nd.sketch(a), nd.sketch(b)
    assert first is not None and second is not None
    return nd.similarity(first.signature, second.signature)


@pytest.mark.parametrize(
    ("other", "low", "high"),
    [
        # Only the tracking link, the case, the accents and the spacing differ: the same post.
        (POST.upper().replace("MILANO", "MÌLANO") + "  https://go.acme.example/r/zz999999", 1.0, 1.0),
        # One word changed at the end: still nearly identical.
        (POST.replace("with us", "with me"), 0.8, 1.0),
        # Half rewritten: not a copy.
        ("Great news: we're hiring engineers in Milano! Honestly the best place I have ever worked at.", 0.2, 0.65),
        ("Quarterly results are out: revenue grew in every region, thanks to all of you.", 0.0, 0.15),
    ],
)
def test_similarity_of_latin_posts(other: str, low: float, high: float) -> None:
    assert low <= similarity(POST, other) <= high


def test_scripts_without_spaces_are_compared_by_characters() -> None:
    chinese = "我们很高兴地宣布，我们的新产品今天正式上市，欢迎大家试用并分享给朋友们。"
    assert similarity(chinese, chinese.replace("，", " ").replace("。", "!")) == 1.0
    assert similarity(chinese, chinese[:-4] + "同事们。") >= 0.7
    assert similarity(chinese, "今天天气很好，我们去公园散步吧，然后一起吃晚饭好不好呢。") < 0.2


def test_short_posts_are_neither_checked_nor_remembered() -> None:
    assert nd.sketch("Proud of the team! 🎉") is None
    assert nd.sketch("   https://go.acme.example/r/abc12345   ") is None


def test_identical_posts_share_every_band_of_their_org_and_network_only() -> None:
    first, second = nd.sketch(POST), nd.sketch(POST.lower())
    assert first is not None and second is not None
    org = uuid.uuid4()
    buckets = nd.buckets(org, "x", first.signature)
    assert buckets == nd.buckets(org, "x", second.signature) and len(set(buckets)) == nd.BANDS
    assert not set(buckets) & set(nd.buckets(org, "linkedin", first.signature))
    assert not set(buckets) & set(nd.buckets(uuid.uuid4(), "x", first.signature))


def violation() -> nd.Finding:
    match = nd.Match(uuid.uuid4(), "colleague", 0.9, utcnow())
    finding = nd.finding_for(nd.Settings(action=DuplicateAction.REVIEW), match)
    assert finding is not None
    return finding


@pytest.mark.parametrize(
    ("action", "before", "after"),
    [
        (DuplicateAction.REJECT, rules.Outcome.APPROVED, rules.Outcome.REJECTED),
        (DuplicateAction.REVIEW, rules.Outcome.APPROVED, rules.Outcome.NEEDS_REVIEW),
        (DuplicateAction.REVIEW, rules.Outcome.REJECTED, rules.Outcome.REJECTED),
        (DuplicateAction.WARN, rules.Outcome.APPROVED, rules.Outcome.APPROVED),
        (DuplicateAction.WARN, rules.Outcome.NEEDS_REVIEW, rules.Outcome.NEEDS_REVIEW),
    ],
)
def test_the_action_decides_what_the_finding_does(
    action: DuplicateAction, before: rules.Outcome, after: rules.Outcome
) -> None:
    match = nd.Match(uuid.uuid4(), "colleague", 0.93, utcnow())
    finding = nd.finding_for(nd.Settings(action=action, window_days=7), match)
    # The rules' own findings that gave ``before``.
    earlier = {
        rules.Outcome.APPROVED: [],
        rules.Outcome.REJECTED: [rules.Violation("too_long", "Too long.")],
        rules.Outcome.NEEDS_REVIEW: [rules.Violation("phrase", "Ask a reviewer.", rules.Action.REVIEW)],
    }[before]
    findings = list(earlier)
    assert nd.apply(findings, finding) is after
    added = findings[len(earlier) :]
    assert [v.code for v in added] == ["near_duplicate"] and added[0].action.value == action.value
    assert "93% the same" in added[0].message and "last 7 days" in added[0].message


def test_no_finding_when_off_or_nothing_alike() -> None:
    match = nd.Match(uuid.uuid4(), "colleague", 0.95, utcnow())
    assert nd.finding_for(nd.Settings(enabled=False), match) is None
    assert nd.finding_for(nd.Settings(), None) is None
    findings: list[rules.Violation] = []
    assert nd.apply(findings, None) is rules.Outcome.APPROVED and findings == []


def test_best_match_keeps_the_most_alike_above_the_threshold() -> None:
    now = utcnow()
    low, high = nd.Match(uuid.uuid4(), "a", 0.7, now), nd.Match(uuid.uuid4(), "b", 0.9, now)
    assert nd.best_match([low, high], 0.8) == high
    assert nd.best_match([low], 0.8) is None


# --- on the database ------------------------------------------------------------------------------

pytestmark_db = pytest.mark.asyncio(loop_scope="package")


@pytest_asyncio.fixture(scope="module", loop_scope="package")
async def db(infra: Infra) -> AsyncIterator[Database]:
    database = Database(infra.new_database("policy"), producer="policy")
    yield database
    await database.dispose()


async def remember(
    db: Database, org: uuid.UUID, member: str, post: str, at: datetime, network: str = "linkedin"
) -> uuid.UUID:
    share = uuid.uuid4()
    sketched = nd.sketch(post)
    assert sketched is not None
    async with db.unit_of_work() as uow:
        await nd.remember(uow.session, org, network, member, share, sketched, at)
    return share


async def look_up(db: Database, org: uuid.UUID, member: str, post: str, network: str = "linkedin") -> nd.Finding | None:
    async with db.read() as session:
        finding, _ = await nd.check(session, org, network, member, post, utcnow())
    return finding


@pytestmark_db
async def test_a_colleagues_post_in_the_window_is_found(db: Database) -> None:
    org = uuid.uuid4()
    share = await remember(db, org, "ada", POST, utcnow() - timedelta(days=2))
    finding = await look_up(db, org, "bob", POST.upper() + " https://go.acme.example/r/bob12345")
    assert finding is not None and finding.match.share_id == share and finding.match.member_id == "ada"
    assert finding.action is DuplicateAction.WARN  # the default until an admin sets one


@pytestmark_db
async def test_what_does_not_count(db: Database) -> None:
    org, other_org = uuid.uuid4(), uuid.uuid4()
    now = utcnow()
    await remember(db, org, "ada", POST, now - timedelta(days=1))
    await remember(db, org, "carl", POST, now - timedelta(days=31))  # past the default 30-day window
    await remember(db, other_org, "dora", POST, now - timedelta(days=1))
    assert await look_up(db, org, "ada", POST) is None  # the author's own post
    assert await look_up(db, org, "bob", POST, network="x") is None  # another network
    assert await look_up(db, uuid.uuid4(), "bob", POST) is None  # another org (nobody there posted it)
    assert await look_up(db, org, "bob", "Quarterly results are out: revenue grew in every region.") is None


@pytestmark_db
async def test_a_crowded_bucket_still_answers_from_a_few_rows(db: Database) -> None:
    org = uuid.uuid4()
    now = utcnow()
    for n in range(40):  # forty colleagues posted the caption as it was
        await remember(db, org, f"member-{n}", POST, now - timedelta(minutes=n))
    finding = await look_up(db, org, "newcomer", POST)
    assert finding is not None and finding.match.member_id == "member-0"  # the newest


@pytestmark_db
async def test_posts_past_the_window_are_forgotten(db: Database) -> None:
    org = uuid.uuid4()
    now = utcnow()
    shares: list[uuid.UUID] = []

    async def counts() -> tuple[int, int]:
        async with db.read() as session:
            posts = await session.scalar(
                text("SELECT count(*) FROM near_duplicate_posts WHERE org_id = :o"), {"o": org}
            )
            bands = await session.scalar(
                text("SELECT count(*) FROM near_duplicate_bands WHERE share_id = ANY(:s)"), {"s": shares}
            )
        return int(posts or 0), int(bands or 0)

    # Each post remembered clears expired ones: the next one remembered clears one past the longest window.
    shares.append(await remember(db, org, "ada", POST, now - timedelta(days=nd.MAX_WINDOW_DAYS + 1)))
    assert await counts() == (1, nd.BANDS)
    shares.append(await remember(db, org, "eve", POST.replace("Milano", "Torino"), now))
    assert await counts() == (1, nd.BANDS)
    shares.append(await remember(db, org, "bob", POST, now - timedelta(days=10)))
    async with db.unit_of_work() as uow:
        assert await nd.prune(uow.session, org, now - timedelta(days=5)) == 1
    assert await counts() == (1, nd.BANDS)  # eve's post and its bands only
    assert await look_up(db, org, "zoe", POST.replace("Milano", "Torino")) is not None
