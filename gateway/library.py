"""The curators' library in GraphQL (issue 7): the library's connection with its filters (the pins
among them), each item's revisions, and the mutations that edit, unpublish, archive, delete, pin and unpin an item.
``Query`` and ``Mutation`` in ``gateway/schema.py`` inherit ``LibraryQuery`` and ``LibraryMutation``;
``createContentItem`` and ``publishContentItem`` (now or at ``publishAt``) stay in schema.py.

The content service decides who may do what (curators and admins); another org's id is a NotFoundError
like an unknown one."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import strawberry

from gateway.enums import ContentStatus
from gateway.payloads import InputPaths, UserError, attempt, invalid
from gateway.relay import (
    Connection,
    KeysetList,
    global_id_of,
    keyset_connection,
    page_request,
    service_page,
    to_global_id,
)
from gateway.types import ContentItem, Info, resolver
from services.content.models import ContentItemPublic, ContentRevisionPublic

# --- types --------------------------------------------------------------------------------------


@strawberry.type(description="A content item as one of its revisions was published.")
class ContentRevision:
    revision: int
    title: str
    url: str
    summary: str
    suggested_caption: str
    topics: list[str]
    image_url: str | None
    image_alt: str
    expires_at: datetime | None
    published_by: str
    published_at: datetime

    @classmethod
    def from_model(cls, data: ContentRevisionPublic) -> ContentRevision:
        return cls(
            revision=data.revision,
            title=data.title,
            url=data.url,
            summary=data.summary,
            suggested_caption=data.suggested_caption,
            topics=list(data.topics),
            image_url=data.image_url,
            image_alt=data.image_alt,
            expires_at=data.expires_at,
            published_by=data.published_by,
            published_at=data.published_at,
        )


async def revisions_of(info: Info, item_id: uuid.UUID) -> list[ContentRevision]:
    return [ContentRevision.from_model(r) for r in await info.context.services.content.revisions(item_id)]


# --- inputs and payloads -------------------------------------------------------------------------


@strawberry.input(description="What to look for in the library; every field given must match.")
class ContentItemFilter:
    statuses: list[ContentStatus] | None = strawberry.field(default=None, description="Any of these statuses.")
    campaign_id: strawberry.ID | None = strawberry.field(default=None, description="A campaign's global id.")
    topic: str | None = None
    author: str | None = strawberry.field(default=None, description="Who created it (their subject).")
    text: str | None = strawberry.field(
        default=None, description='Words in the title, summary or caption (all of them; "a phrase", -excluded, or).'
    )
    pinned: bool | None = strawberry.field(
        default=None, description="true: only the items pinned now (`pinnedPosition` orders them); false: the others."
    )


@strawberry.input
class UpdateContentItemInput:
    id: strawberry.ID = strawberry.field(description="The item's global id.")
    title: str | None = strawberry.UNSET
    url: str | None = strawberry.UNSET
    summary: str | None = strawberry.UNSET
    suggested_caption: str | None = strawberry.UNSET
    topics: list[str] | None = strawberry.UNSET
    image_url: str | None = strawberry.field(default=strawberry.UNSET, description="null removes the image.")
    image_alt: str | None = strawberry.UNSET
    expires_at: datetime | None = strawberry.field(default=strawberry.UNSET, description="null: no expiry.")


@strawberry.input
class ContentItemIdInput:
    id: strawberry.ID = strawberry.field(description="The item's global id.")


@strawberry.input
class PinContentItemInput:
    id: strawberry.ID = strawberry.field(description="The item's global id.")
    position: int = strawberry.field(default=1, description="1 is the top; the pins from there move down one.")
    pinned_until: datetime | None = strawberry.field(default=None, description="When the pin ends; null: never.")


@strawberry.type
class UpdateContentItemPayload:
    content_item: ContentItem | None
    errors: list[UserError]


@strawberry.type
class UnpublishContentItemPayload:
    content_item: ContentItem | None
    errors: list[UserError]


@strawberry.type
class ArchiveContentItemPayload:
    content_item: ContentItem | None
    errors: list[UserError]


@strawberry.type
class DeleteContentItemPayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The global id of the draft deleted.")
    errors: list[UserError]


@strawberry.type
class PinContentItemPayload:
    content_item: ContentItem | None
    errors: list[UserError]


@strawberry.type
class UnpinContentItemPayload:
    content_item: ContentItem | None
    errors: list[UserError]


# --- operations ---------------------------------------------------------------------------------

LIBRARY = KeysetList[ContentItemPublic]("contentItems", lambda i: i.created_at, lambda i: i.id)
_Resolver = TypeVar("_Resolver", bound=Callable[..., Awaitable[Any]])
_ITEM_PATHS = InputPaths(renames={"item_id": "id"}, not_found=("input", "id"))
_UPDATABLE = ("title", "url", "summary", "suggested_caption", "topics", "image_url", "image_alt", "expires_at")


def mutation(description: str) -> Callable[[_Resolver], _Resolver]:
    """``@mutation(...)``, typed for mypy (as in schema.py, which this module cannot import)."""
    decorator: Callable[[_Resolver], _Resolver] = strawberry.mutation(description=description)
    return decorator


def _item_id(value: str) -> tuple[uuid.UUID | None, list[UserError]]:
    raw = global_id_of("ContentItem", value)
    if raw is None:
        return None, invalid(["input", "id"], "is not the global id of a ContentItem")
    return raw, []


def _item(data: ContentItemPublic | None) -> ContentItem | None:
    return ContentItem.from_model(data) if data is not None else None


@strawberry.type
class LibraryQuery:
    @resolver(
        "The org's library for curators and admins, newest first, filtered (null, with an error, for anyone else)."
    )
    async def content_items(
        self,
        info: Info,
        filter: ContentItemFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[ContentItem] | None:
        request = page_request(LIBRARY.connection, first=first, after=after, last=last, before=before)
        wanted = filter or ContentItemFilter()
        campaign = None
        if wanted.campaign_id is not None:
            campaign = global_id_of("Campaign", wanted.campaign_id)
            if campaign is None:
                # Nothing is in a campaign that is not one.
                return keyset_connection(request, [], None, LIBRARY, ContentItem.from_model)
        page = await info.context.services.content.library(
            service_page(request, LIBRARY),
            statuses=[s.value for s in wanted.statuses] if wanted.statuses else None,
            campaign_id=campaign,
            topic=wanted.topic,
            author=wanted.author,
            text=wanted.text,
            pinned=wanted.pinned,
        )
        return keyset_connection(request, page.items, page.next_cursor, LIBRARY, ContentItem.from_model)


@strawberry.type
class LibraryMutation:
    @mutation(
        "Changes the fields given (curators and admins). A draft or scheduled item changes in place; a "
        "published one publishes its next revision, while earlier shares keep what they shared."
    )
    async def update_content_item(self, info: Info, input: UpdateContentItemInput) -> UpdateContentItemPayload:
        raw, errors = _item_id(input.id)
        if raw is None:
            return UpdateContentItemPayload(content_item=None, errors=errors)
        changes = {name: getattr(input, name) for name in _UPDATABLE if getattr(input, name) is not strawberry.UNSET}
        data, errors = await attempt(info.context.services.content.update_item(raw, changes), _ITEM_PATHS)
        return UpdateContentItemPayload(content_item=_item(data), errors=errors)

    @mutation(
        "Takes a published item out of the feed back to a draft (it can no longer be shared), or cancels "
        "a schedule (curators and admins)."
    )
    async def unpublish_content_item(self, info: Info, input: ContentItemIdInput) -> UnpublishContentItemPayload:
        raw, errors = _item_id(input.id)
        if raw is None:
            return UnpublishContentItemPayload(content_item=None, errors=errors)
        data, errors = await attempt(info.context.services.content.unpublish_item(raw), _ITEM_PATHS)
        return UnpublishContentItemPayload(content_item=_item(data), errors=errors)

    @mutation("Archives an item for good: out of the feed, no longer shareable (curators and admins).")
    async def archive_content_item(self, info: Info, input: ContentItemIdInput) -> ArchiveContentItemPayload:
        raw, errors = _item_id(input.id)
        if raw is None:
            return ArchiveContentItemPayload(content_item=None, errors=errors)
        data, errors = await attempt(info.context.services.content.archive_item(raw), _ITEM_PATHS)
        return ArchiveContentItemPayload(content_item=_item(data), errors=errors)

    @mutation("Deletes a draft (curators and admins); anything else is a ConflictError: archive it instead.")
    async def delete_content_item(self, info: Info, input: ContentItemIdInput) -> DeleteContentItemPayload:
        raw, errors = _item_id(input.id)
        if raw is None:
            return DeleteContentItemPayload(deleted_id=None, errors=errors)
        _, errors = await attempt(info.context.services.content.delete_item(raw), _ITEM_PATHS)
        return DeleteContentItemPayload(deleted_id=None if errors else to_global_id("ContentItem", raw), errors=errors)

    @mutation(
        "Pins an item at the top of the feed at `position` (1 = top) until `pinnedUntil`; on a pinned "
        "item, moves it (curators and admins)."
    )
    async def pin_content_item(self, info: Info, input: PinContentItemInput) -> PinContentItemPayload:
        raw, errors = _item_id(input.id)
        if raw is None:
            return PinContentItemPayload(content_item=None, errors=errors)
        data, errors = await attempt(
            info.context.services.content.pin_item(raw, position=input.position, pinned_until=input.pinned_until),
            _ITEM_PATHS,
        )
        return PinContentItemPayload(content_item=_item(data), errors=errors)

    @mutation("Unpins an item; the pins below move up (curators and admins).")
    async def unpin_content_item(self, info: Info, input: ContentItemIdInput) -> UnpinContentItemPayload:
        raw, errors = _item_id(input.id)
        if raw is None:
            return UnpinContentItemPayload(content_item=None, errors=errors)
        data, errors = await attempt(info.context.services.content.unpin_item(raw), _ITEM_PATHS)
        return UnpinContentItemPayload(content_item=_item(data), errors=errors)
