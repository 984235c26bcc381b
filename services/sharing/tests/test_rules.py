import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.sharing import rules
from services.sharing.models import ShareStatus
from services.sharing.rules import Create, Duplicate, EarlierShare, KeyReused, Replay, ShareRequest

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
REQUEST = ShareRequest(content_id=uuid.UUID(int=1), network="x", text="My own words")
OTHER_TEXT = ShareRequest(content_id=uuid.UUID(int=1), network="x", text="Other words")
OTHER_ITEM = ShareRequest(content_id=uuid.UUID(int=2), network="x", text="My own words")
OTHER_NETWORK = ShareRequest(content_id=uuid.UUID(int=1), network="linkedin", text="My own words")

A, B, C = uuid.UUID(int=10), uuid.UUID(int=11), uuid.UUID(int=12)


def earlier(
    share_id: uuid.UUID, status: ShareStatus, ago: timedelta = timedelta(0), fingerprint: str | None = None
) -> EarlierShare:
    return EarlierShare(share_id, status, NOW - ago, fingerprint)


PENDING, REVIEW, PUBLISHED, REJECTED = (
    ShareStatus.PENDING_POLICY,
    ShareStatus.NEEDS_REVIEW,
    ShareStatus.PUBLISHED,
    ShareStatus.REJECTED,
)


@pytest.mark.parametrize(
    ("case", "key", "same_key", "same_post", "window", "verdict"),
    [
        # With a key: the key decides, never the duplicate rule.
        ("new key", "k", None, [], DAY, Create()),
        ("new key, a pending share of the post", "k", None, [earlier(A, PENDING)], DAY, Create()),
        ("same key, same request", "k", earlier(A, PENDING, fingerprint=REQUEST.fingerprint), [], DAY, Replay(A)),
        (
            "same key, same request, since published long ago",
            "k",
            earlier(A, PUBLISHED, 30 * DAY, REQUEST.fingerprint),
            [],
            DAY,
            Replay(A),
        ),
        ("same key, other text", "k", earlier(A, PENDING, fingerprint=OTHER_TEXT.fingerprint), [], DAY, KeyReused(A)),
        ("same key, other item", "k", earlier(A, PENDING, fingerprint=OTHER_ITEM.fingerprint), [], DAY, KeyReused(A)),
        (
            "same key, other network",
            "k",
            earlier(A, REJECTED, fingerprint=OTHER_NETWORK.fingerprint),
            [],
            DAY,
            KeyReused(A),
        ),
        # Without a key: what blocks a second share of the same post.
        ("first share of the post", None, None, [], DAY, Create()),
        ("pending", None, None, [earlier(A, PENDING)], DAY, Duplicate(A)),
        ("pending for a week", None, None, [earlier(A, PENDING, 7 * DAY)], DAY, Duplicate(A)),
        ("awaiting review", None, None, [earlier(A, REVIEW, 3 * DAY)], DAY, Duplicate(A)),
        ("published an hour ago", None, None, [earlier(A, PUBLISHED, timedelta(hours=1))], DAY, Duplicate(A)),
        (
            "published just inside the window",
            None,
            None,
            [earlier(A, PUBLISHED, DAY - timedelta(seconds=1))],
            DAY,
            Duplicate(A),
        ),
        ("published exactly a window ago", None, None, [earlier(A, PUBLISHED, DAY)], DAY, Create()),
        ("published two days ago", None, None, [earlier(A, PUBLISHED, 2 * DAY)], DAY, Create()),
        ("rejected a minute ago", None, None, [earlier(A, REJECTED, timedelta(minutes=1))], DAY, Create()),
        ("a shorter window", None, None, [earlier(A, PUBLISHED, timedelta(hours=2))], timedelta(hours=1), Create()),
        ("window 0: a published share never blocks", None, None, [earlier(A, PUBLISHED)], timedelta(0), Create()),
        ("window 0: a pending one still does", None, None, [earlier(A, PENDING)], timedelta(0), Duplicate(A)),
        (
            "the first blocking one is named (newest first)",
            None,
            None,
            [earlier(A, REJECTED), earlier(B, PUBLISHED, 3 * DAY), earlier(C, PENDING, 4 * DAY)],
            DAY,
            Duplicate(C),
        ),
        (
            "newest blocking one of two",
            None,
            None,
            [earlier(B, PUBLISHED, timedelta(hours=1)), earlier(A, PENDING, 2 * DAY)],
            DAY,
            Duplicate(B),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_admission(
    case: str,
    key: str | None,
    same_key: EarlierShare | None,
    same_post: list[EarlierShare],
    window: timedelta,
    verdict: rules.Verdict,
) -> None:
    assert (
        rules.admit(REQUEST, idempotency_key=key, same_key=same_key, same_post=same_post, now=NOW, window=window)
        == verdict
    ), case


def test_the_fingerprint_tells_requests_apart_and_only_them() -> None:
    prints = {r.fingerprint for r in (REQUEST, OTHER_TEXT, OTHER_ITEM, OTHER_NETWORK)}
    assert len(prints) == 4
    assert ShareRequest(uuid.UUID(int=1), "x", "My own words").fingerprint == REQUEST.fingerprint
    # A separator inside the text cannot make two different requests look alike.
    assert (
        ShareRequest(uuid.UUID(int=1), "x", 'a", "network": "y').fingerprint
        != ShareRequest(uuid.UUID(int=1), "y", "a").fingerprint
    )
    assert (
        ShareRequest(uuid.UUID(int=1), "x", "trailing ").fingerprint
        != ShareRequest(uuid.UUID(int=1), "x", "trailing").fingerprint
    )
