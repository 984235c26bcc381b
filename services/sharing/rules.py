"""Whether a share request creates a share: pure functions, no I/O, so the rules are tested as a table
and the route only translates the verdict.

Two things stop a second share of the same post, for two kinds of client:

- A client that may retry (a timeout, a double submit) sends an ``Idempotency-Key``. A request with
  a key already used by this member replays the first share if it asks for the same thing; asking for
  something else under the same key is a client bug, refused rather than guessed at. A new key is
  the client saying "this is a new share", so no duplicate check applies to it.
- Without a key, the member sharing the same item to the same network again while an earlier share
  of it is still being decided, or was published within the window, is almost always an accident
  (two tabs, an impatient second click): it answers a conflict naming the earlier share. A rejected
  share blocks nothing, since the employee is expected to fix the text and try again.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.sharing.models import ShareStatus

# Shares still waiting for a decision: a second one would be decided (and counted) twice.
IN_FLIGHT = frozenset({ShareStatus.PENDING_POLICY, ShareStatus.NEEDS_REVIEW})


@dataclass(frozen=True)
class ShareRequest:
    content_id: uuid.UUID
    network: str
    text: str

    @property
    def fingerprint(self) -> str:
        """What the request asked for, to tell a replay from a reuse of its key. Over the validated
        request, so a spelling the API takes as the same (``"X"`` for ``"x"``) is the same request."""
        canonical = json.dumps(
            {"content_id": str(self.content_id), "network": self.network, "text": self.text},
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class EarlierShare:
    id: uuid.UUID
    status: ShareStatus
    # When its status last changed: for a published share, when it was published.
    updated_at: datetime
    request_fingerprint: str | None = None


@dataclass(frozen=True)
class Create:
    pass


@dataclass(frozen=True)
class Replay:
    share_id: uuid.UUID


@dataclass(frozen=True)
class KeyReused:
    share_id: uuid.UUID


@dataclass(frozen=True)
class Duplicate:
    share_id: uuid.UUID


Verdict = Create | Replay | KeyReused | Duplicate


def blocks(earlier: EarlierShare, *, now: datetime, window: timedelta) -> bool:
    if earlier.status in IN_FLIGHT:
        return True
    return earlier.status == ShareStatus.PUBLISHED and now - earlier.updated_at < window


def admit(
    request: ShareRequest,
    *,
    idempotency_key: str | None,
    same_key: EarlierShare | None,
    same_post: Sequence[EarlierShare],
    now: datetime,
    window: timedelta,
) -> Verdict:
    """``same_key``: the member's share made under ``idempotency_key``, if any. ``same_post``: the
    member's earlier shares of the same item to the same network, newest first (read only when there
    is no key)."""
    if idempotency_key is not None:
        if same_key is None:
            return Create()
        if same_key.request_fingerprint == request.fingerprint:
            return Replay(same_key.id)
        return KeyReused(same_key.id)
    for earlier in same_post:
        if blocks(earlier, now=now, window=window):
            return Duplicate(earlier.id)
    return Create()
