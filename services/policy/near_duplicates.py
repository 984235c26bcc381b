"""Near-duplicates across colleagues (issue 8, item 9): a post nearly identical to one another member of
the org posted on the same network in the last days is flagged, with the org's action.

Comparing a post with every recent post would cost as much as the window is long (millions of posts at
233,000 employees). Instead each post is sketched once:

1. normalised: links removed (the tracking link differs from one share to the next), diacritics, case,
   punctuation and runs of spaces folded, so "Great news: we're hiring!" and "great news - WE'RE
   hiring" are one text;
2. cut into overlapping 4-character shingles, which work for every script, with or without spaces
   between words (Chinese, Japanese and Thai have none);
3. summarised by a MinHash signature of 64 values (datasketch): the share of equal values between two
   signatures estimates the Jaccard similarity of the two shingle sets;
4. cut into 12 bands of 5 values (LSH banding): two posts share at least one band with probability
   1 - (1 - s^5)^12 at similarity s: 0.9999 at 0.9, 0.99 at 0.8, 0.62 at 0.6, 0.03 at 0.3.

An approved post is remembered as one row per band, ``bucket -> share``, where the bucket hashes the
org, the network, the band's number and its values; indexed on ``(bucket, posted_at DESC)`` with the
member and the share included, so the look-up reads the index alone. A check is one statement: for each
of the 12 buckets, the few newest colleagues' rows inside the window (an index range, stopped early);
the candidates sharing the most buckets first; the signatures of at most 8 of them compared. Its cost is
bounded by those numbers, not by the size of the window (``bench/near_duplicates.py``).

The scheme (shingle length, number of permutations, seed, banding) is fixed: the stored rows were made
with it. Changing it means clearing ``near_duplicate_posts`` and ``near_duplicate_bands`` (they only hold
the window, at most 90 days).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from datasketch import MinHash
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.policy import rules
from services.policy.audit_models import DuplicateAction, NearDuplicateSettingsRecord

NEAR_DUPLICATE = "near_duplicate"
SHINGLE = 4
NUM_PERM = 64
SEED = 1
BANDS = 12
ROWS = 5  # BANDS * ROWS <= NUM_PERM; the 4 values left over still count in the estimated similarity
# Fewer normalised characters than this carry too few shingles for a similarity to mean anything ("Proud!",
# "Congrats to the team"): such posts are neither checked nor remembered.
MIN_CHARACTERS = 20
# Candidates read per band: a bucket many colleagues share (hundreds posting the same caption) must not
# turn the look-up into a scan of all of them; the newest few are enough to find one that matches.
PER_BUCKET = 8
MAX_WINDOW_DAYS = 90

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_PERMUTATIONS = MinHash(num_perm=NUM_PERM, seed=SEED).permutations


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    threshold: float = 0.8
    window_days: int = 30
    action: DuplicateAction = DuplicateAction.WARN


DEFAULTS = Settings()


@dataclass(frozen=True)
class Sketch:
    signature: bytes  # NUM_PERM little-endian uint32


@dataclass(frozen=True)
class Match:
    share_id: uuid.UUID
    member_id: str
    similarity: float
    posted_at: datetime


@dataclass(frozen=True)
class Finding:
    action: DuplicateAction
    violation: rules.Violation
    match: Match


# --- pure part ------------------------------------------------------------------------------------


def normalise(post: str) -> str:
    """The text two posts are compared on: no links, no diacritics, case-folded, punctuation and
    spacing reduced to single spaces. Letters, digits and symbols (emoji) of every script are kept."""
    without_links = _URL.sub(" ", post)
    decomposed = unicodedata.normalize("NFKD", without_links)
    kept = []
    for char in decomposed:
        category = unicodedata.category(char)
        if category == "Mn":
            continue  # accents, and other non-spacing marks
        kept.append(" " if category[0] in "PZC" else char)
    return " ".join(unicodedata.normalize("NFC", "".join(kept)).casefold().split())


def shingles(normalised: str) -> set[bytes]:
    if len(normalised) <= SHINGLE:
        return {normalised.encode()}
    return {normalised[i : i + SHINGLE].encode() for i in range(len(normalised) - SHINGLE + 1)}


def sketch(post: str) -> Sketch | None:
    """The post's signature and bands; None when the post is too short to compare."""
    normalised = normalise(post)
    if len(normalised) < MIN_CHARACTERS:
        return None
    minhash = MinHash(num_perm=NUM_PERM, seed=SEED, permutations=_PERMUTATIONS, scheme="affine32")
    minhash.update_batch(list(shingles(normalised)))
    return Sketch(np.asarray(minhash.hashvalues, dtype="<u4").tobytes())


def buckets(org_id: uuid.UUID, network: str, signature: bytes) -> list[int]:
    """The LSH bucket of each band: a hash of the org, the network, the band's number and its values, so
    one index on the bucket serves every org and network."""
    width = ROWS * 4
    scope = org_id.bytes + network.encode() + b"\x00"
    return [_hash64(scope + bytes([band]) + signature[band * width : (band + 1) * width]) for band in range(BANDS)]


def similarity(a: bytes, b: bytes) -> float:
    """The estimated Jaccard similarity of the two posts' shingle sets."""
    return float(np.mean(np.frombuffer(a, dtype="<u4") == np.frombuffer(b, dtype="<u4")))


def member_key(subject: str) -> int:
    return _hash64(subject.encode())


def _hash64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def best_match(candidates: list[Match], threshold: float) -> Match | None:
    above = [c for c in candidates if c.similarity >= threshold]
    return max(above, key=lambda c: (c.similarity, c.posted_at)) if above else None


def finding_for(settings: Settings, match: Match | None) -> Finding | None:
    if match is None or not settings.enabled:
        return None
    percent = round(match.similarity * 100)
    days = "day" if settings.window_days == 1 else f"{settings.window_days} days"
    message = (
        f"This post is {percent}% the same as one a colleague shared on this network in the last {days}. "
        "Colleagues posting the same words looks automated and networks show it less: say it your own way."
    )
    return Finding(
        settings.action, rules.Violation(NEAR_DUPLICATE, message, rules.Action(settings.action.value)), match
    )


def apply(findings: list[rules.Violation], finding: Finding | None) -> rules.Outcome:
    """The decision with the near-duplicate finding added to the rules' ``findings`` (so the employee
    and the audit log see it), with the action the org set: ``reject`` refuses, ``review`` sends an
    otherwise approved post to a reviewer, ``warn`` never changes the outcome."""
    if finding is not None:
        findings.append(finding.violation)
    return rules.outcome_of(findings)


# --- storage --------------------------------------------------------------------------------------


async def load_settings(session: AsyncSession, org_id: uuid.UUID) -> Settings:
    record = await session.get(NearDuplicateSettingsRecord, org_id)
    if record is None:
        return DEFAULTS
    return Settings(record.enabled, record.threshold, record.window_days, DuplicateAction(record.action))


# Per bucket, the newest colleagues' rows inside the window (an index-only range scan, stopped after
# PER_BUCKET rows); the candidates sharing the most buckets first (the more bands two signatures share,
# the more alike they are), and only CANDIDATES of them fetched with their signatures.
_CANDIDATES = text(
    """
    SELECT p.share_id, p.member_id, p.signature, p.posted_at
    FROM (
        SELECT c.share_id, count(*) AS shared, max(c.posted_at) AS newest
        FROM unnest(CAST(:buckets AS bigint[])) AS k(bucket)
        CROSS JOIN LATERAL (
            SELECT b.share_id, b.posted_at FROM near_duplicate_bands b
            WHERE b.bucket = k.bucket AND b.posted_at >= :since AND b.member_key <> :member_key
            ORDER BY b.posted_at DESC
            LIMIT :per_bucket
        ) c
        GROUP BY c.share_id
        ORDER BY shared DESC, newest DESC
        LIMIT :candidates
    ) found
    JOIN near_duplicate_posts p ON p.share_id = found.share_id
    WHERE p.org_id = :org AND p.network = :network AND p.member_id <> :member
    """
)
CANDIDATES = 8


async def find_match(
    session: AsyncSession,
    org_id: uuid.UUID,
    network: str,
    member_id: str,
    post: Sketch,
    settings: Settings,
    now: datetime,
) -> Match | None:
    """The colleague's post most like ``post`` within the window, at or above the threshold."""
    rows = await session.execute(
        _CANDIDATES,
        {
            "buckets": buckets(org_id, network, post.signature),
            "org": org_id,
            "network": network,
            "since": now - timedelta(days=settings.window_days),
            "member_key": member_key(member_id),
            "member": member_id,
            "per_bucket": PER_BUCKET,
            "candidates": CANDIDATES,
        },
    )
    candidates = [
        Match(share_id, member, similarity(post.signature, bytes(signature)), posted_at)
        for share_id, member, signature, posted_at in rows
    ]
    return best_match(candidates, settings.threshold)


async def check(
    session: AsyncSession, org_id: uuid.UUID, network: str, member_id: str, post: str, now: datetime
) -> tuple[Finding | None, Sketch | None]:
    """The finding for ``post`` (None: nothing alike, too short, or the check is off) and its sketch,
    which ``remember`` takes once the share is approved."""
    sketched = sketch(post)
    if sketched is None:
        return None, None
    settings = await load_settings(session, org_id)
    if not settings.enabled:
        return None, sketched
    match = await find_match(session, org_id, network, member_id, sketched, settings, now)
    return finding_for(settings, match), sketched


async def remember(
    session: AsyncSession,
    org_id: uuid.UUID,
    network: str,
    member_id: str,
    share_id: uuid.UUID,
    post: Sketch,
    now: datetime,
) -> None:
    """Keeps an approved post for later checks, and clears a few of the org's posts past the longest
    window, so the memory stays bounded without a scheduled job."""
    inserted = await session.scalar(
        text(
            "INSERT INTO near_duplicate_posts (share_id, org_id, network, member_id, posted_at, signature) "
            "VALUES (:share, :org, :network, :member, :at, :signature) "
            "ON CONFLICT (share_id) DO NOTHING RETURNING share_id"
        ),
        {
            "share": share_id,
            "org": org_id,
            "network": network,
            "member": member_id,
            "at": now,
            "signature": post.signature,
        },
    )
    if inserted is None:
        return
    await session.execute(
        text(
            "INSERT INTO near_duplicate_bands (bucket, posted_at, member_key, share_id) "
            "SELECT k.bucket, :at, :member_key, :share FROM unnest(CAST(:buckets AS bigint[])) AS k(bucket)"
        ),
        {
            "at": now,
            "member_key": member_key(member_id),
            "share": share_id,
            "buckets": buckets(org_id, network, post.signature),
        },
    )
    # Two expired posts cleared for each one remembered: the table cannot grow past the window.
    await prune(session, org_id, now - timedelta(days=MAX_WINDOW_DAYS), limit=2)


async def prune(session: AsyncSession, org_id: uuid.UUID | None, before: datetime, *, limit: int | None = None) -> int:
    """Forgets posts older than ``before`` (of one org, or of all); returns how many."""
    where = "posted_at < :before" + (" AND org_id = :org" if org_id is not None else "")
    limited = " ORDER BY posted_at LIMIT :limit" if limit is not None else ""
    params: dict[str, Any] = {"before": before, "org": org_id, "limit": limit}
    result = await session.execute(
        text(
            "WITH gone AS (DELETE FROM near_duplicate_posts WHERE share_id IN "
            f"(SELECT share_id FROM near_duplicate_posts WHERE {where}{limited}) RETURNING share_id), "
            "bands AS (DELETE FROM near_duplicate_bands WHERE share_id IN (SELECT share_id FROM gone)) "
            "SELECT count(*) FROM gone"
        ),
        {k: v for k, v in params.items() if f":{k}" in where + limited},
    )
    return int(result.scalar_one())
