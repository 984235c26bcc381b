"""The library's rules, as pure functions: which status an action leads to from which status, what a
schedule and an expiry must satisfy, and where pins go. Routes and the scheduler only translate.

    draft --publish--> published          draft --schedule--> scheduled --(due)--> published
    scheduled --unpublish--> draft        published --unpublish--> draft (withdrawn from the feed)
    draft | scheduled | published --archive--> archived      published --expire--> expired
    expired --archive--> archived         draft --delete--> (gone)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from condividi.errors import ApiError
from services.content.models import ContentStatus


class Action(StrEnum):
    PUBLISH = "publish"  # now
    SCHEDULE = "schedule"  # at a time; again on a scheduled item: another time
    EDIT = "edit"
    UNPUBLISH = "unpublish"
    ARCHIVE = "archive"
    EXPIRE = "expire"
    DELETE = "delete"
    PIN = "pin"


# The one table of what is possible; anything else is a conflict with the item's state.
TRANSITIONS: dict[tuple[ContentStatus, Action], ContentStatus | None] = {
    (ContentStatus.DRAFT, Action.PUBLISH): ContentStatus.PUBLISHED,
    (ContentStatus.DRAFT, Action.SCHEDULE): ContentStatus.SCHEDULED,
    (ContentStatus.DRAFT, Action.EDIT): ContentStatus.DRAFT,
    (ContentStatus.DRAFT, Action.ARCHIVE): ContentStatus.ARCHIVED,
    (ContentStatus.DRAFT, Action.DELETE): None,
    (ContentStatus.DRAFT, Action.PIN): ContentStatus.DRAFT,
    (ContentStatus.SCHEDULED, Action.PUBLISH): ContentStatus.PUBLISHED,
    (ContentStatus.SCHEDULED, Action.SCHEDULE): ContentStatus.SCHEDULED,
    (ContentStatus.SCHEDULED, Action.EDIT): ContentStatus.SCHEDULED,
    (ContentStatus.SCHEDULED, Action.UNPUBLISH): ContentStatus.DRAFT,
    (ContentStatus.SCHEDULED, Action.ARCHIVE): ContentStatus.ARCHIVED,
    (ContentStatus.SCHEDULED, Action.PIN): ContentStatus.SCHEDULED,
    (ContentStatus.PUBLISHED, Action.EDIT): ContentStatus.PUBLISHED,
    (ContentStatus.PUBLISHED, Action.UNPUBLISH): ContentStatus.DRAFT,
    (ContentStatus.PUBLISHED, Action.ARCHIVE): ContentStatus.ARCHIVED,
    (ContentStatus.PUBLISHED, Action.EXPIRE): ContentStatus.EXPIRED,
    (ContentStatus.PUBLISHED, Action.PIN): ContentStatus.PUBLISHED,
    (ContentStatus.EXPIRED, Action.ARCHIVE): ContentStatus.ARCHIVED,
}

# Why an action is refused, in words a curator can act on.
_REFUSALS: dict[tuple[ContentStatus | None, Action], str] = {
    (ContentStatus.PUBLISHED, Action.PUBLISH): "the content item is already published",
    (ContentStatus.PUBLISHED, Action.SCHEDULE): "the content item is already published; unpublish it first",
    (ContentStatus.PUBLISHED, Action.DELETE): "only a draft can be deleted; archive a published item instead",
    (ContentStatus.SCHEDULED, Action.DELETE): "only a draft can be deleted; unpublish the scheduled item first",
    (ContentStatus.DRAFT, Action.UNPUBLISH): "the content item is a draft: it is not published or scheduled",
    (ContentStatus.SCHEDULED, Action.EXPIRE): "only a published item expires",
    (ContentStatus.DRAFT, Action.EXPIRE): "only a published item expires",
    (ContentStatus.EXPIRED, Action.EDIT): "the content item has expired; create a new item instead",
    (ContentStatus.EXPIRED, Action.PUBLISH): "the content item has expired; create a new item instead",
    (ContentStatus.EXPIRED, Action.SCHEDULE): "the content item has expired; create a new item instead",
    (ContentStatus.EXPIRED, Action.PIN): "the content item has expired: it cannot be pinned",
    (ContentStatus.EXPIRED, Action.DELETE): "only a draft can be deleted; this item has expired",
    (ContentStatus.EXPIRED, Action.UNPUBLISH): "the content item has expired: it is no longer published",
    (ContentStatus.EXPIRED, Action.EXPIRE): "the content item has already expired",
}


class LifecycleConflict(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(409, "conflict", message)


def transition(status: ContentStatus, action: Action) -> ContentStatus | None:
    """The status ``action`` leads to (None: the item is gone), or a 409 saying why it cannot."""
    if (status, action) in TRANSITIONS:
        return TRANSITIONS[(status, action)]
    if status == ContentStatus.ARCHIVED:
        raise LifecycleConflict(f"the content item is archived: it cannot {_verb(action)} any more")
    message = _REFUSALS.get((status, action), f"a {status} content item cannot {_verb(action)}")
    raise LifecycleConflict(message)


def _verb(action: Action) -> str:
    return {
        Action.PUBLISH: "be published",
        Action.SCHEDULE: "be scheduled",
        Action.EDIT: "be edited",
        Action.UNPUBLISH: "be unpublished",
        Action.ARCHIVE: "be archived",
        Action.EXPIRE: "expire",
        Action.DELETE: "be deleted",
        Action.PIN: "be pinned",
    }[action]


def withdrawn(status: ContentStatus | None) -> bool:
    """Whether reaching ``status`` takes the item out of the feed and out of sharing's reach."""
    return status in (None, ContentStatus.DRAFT, ContentStatus.ARCHIVED, ContentStatus.EXPIRED)


# --- dates --------------------------------------------------------------------------------------


def invalid(details: list[dict[str, Any]]) -> ApiError:
    return ApiError(422, "validation_failed", "; ".join(d["message"] for d in details), details)


def schedule_problems(
    now: datetime,
    *,
    publish_at: datetime | None,
    expires_at: datetime | None,
    expires_loc: Sequence[str | int] = ("body", "expires_at"),
    publish_loc: Sequence[str | int] = ("body", "publish_at"),
) -> list[dict[str, Any]]:
    """What is wrong with publishing at ``publish_at`` (None: now) an item expiring at ``expires_at``:
    a schedule must be in the future, an expiry after the publication (so, too, in the future)."""
    problems: list[dict[str, Any]] = []
    if publish_at is not None and publish_at <= now:
        problems.append({"loc": list(publish_loc), "message": "publish_at is in the past; give a future time"})
    starts = publish_at if publish_at is not None and publish_at > now else now
    if expires_at is not None:
        if expires_at <= now:
            problems.append({"loc": list(expires_loc), "message": "expires_at is in the past; give a future time"})
        elif expires_at <= starts:
            problems.append(
                {"loc": list(expires_loc), "message": "expires_at is before the item is published; give a later time"}
            )
    return problems


def image_problems(image_url: str | None, image_alt: str, loc: Sequence[str | int] = ("body",)) -> list[dict[str, Any]]:
    if image_url is not None and not image_alt.strip():
        return [
            {
                "loc": [*loc, "image_alt"],
                "message": "image_alt is required with an image: describe it for people who cannot see it",
            }
        ]
    return []


# --- pins ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    item_id: uuid.UUID
    position: int


def pin_at(current: Sequence[uuid.UUID], item_id: uuid.UUID, position: int) -> list[Pin]:
    """The org's pins, top first, once ``item_id`` is at ``position`` (moved there if pinned already;
    beyond the end: last). Positions are 1..n without gaps."""
    order = [i for i in current if i != item_id]
    order.insert(min(position, len(order) + 1) - 1, item_id)
    return [Pin(i, n) for n, i in enumerate(order, start=1)]


def unpin(current: Sequence[uuid.UUID], item_id: uuid.UUID) -> list[Pin]:
    """The org's pins, top first, without ``item_id`` (the ones below move up)."""
    return [Pin(i, n) for n, i in enumerate((i for i in current if i != item_id), start=1)]
