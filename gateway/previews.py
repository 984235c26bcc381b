"""Link previews in GraphQL (issue 7): ``ContentItem.linkPreview`` (what the networks will show for the
item's link, and the link-preview doctor's findings) and the curators' ``refreshLinkPreview``.
``Mutation`` in ``gateway/schema.py`` inherits ``PreviewsMutation``; ``ContentItem`` (gateway/types.py)
reaches ``link_preview_of`` here lazily, this module building on that one."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import strawberry

from gateway.payloads import InputPaths, UserError, attempt, invalid
from gateway.relay import global_id_of, to_global_id
from gateway.types import Info
from services.content.previews.doctor import Severity
from services.content.previews.models import LinkPreviewPublic, PreviewStatus

strawberry.enum(
    PreviewStatus,
    name="LinkPreviewStatus",
    description="PENDING until the link is fetched (seconds after it is set or refreshed); READY when the page "
    "answered (the findings say what is wrong with it); FAILED when it could not be fetched.",
)
strawberry.enum(
    Severity,
    name="FindingSeverity",
    description="ERROR: the preview will be missing or broken; WARNING: poorer than it could be; INFO: worth knowing.",
)


@strawberry.type(description="What will go wrong when the link is posted: a stable code and a sentence for people.")
class LinkPreviewFinding:
    severity: Severity
    code: str = strawberry.field(
        description="Stable: not_https, redirect_chain, fetch_failed, http_error, noindex, no_title, title_too_long, "
        "no_description, description_too_long, no_og_image, image_unreachable, image_size_unknown, image_too_small, "
        "image_small, canonical_differs, page_truncated."
    )
    message: str


@strawberry.type(description="One redirect on the way from the link to the page.")
class RedirectHop:
    url: str
    status: int


@strawberry.type(description="The card networks build from the link's Open Graph and Twitter-card tags, as fetched.")
class LinkPreview:
    content_item_id: strawberry.ID = strawberry.field(description="The item's global id.")
    url: str = strawberry.field(description="The link this preview is of (the item's link when it was fetched).")
    status: PreviewStatus
    requested_at: datetime
    fetched_at: datetime | None
    final_url: str | None = strawberry.field(description="Where the redirects end.")
    http_status: int | None = strawberry.field(description="What the page answered, after the redirects.")
    redirects: list[RedirectHop]
    title: str | None
    description: str | None
    image_url: str | None
    image_width: int | None = strawberry.field(description="As og:image:width says, else read from the image.")
    image_height: int | None
    canonical_url: str | None
    site_name: str | None
    robots: str | None = strawberry.field(description="The page's robots meta and X-Robots-Tag header.")
    findings: list[LinkPreviewFinding]
    error: str | None = strawberry.field(description="Why the page could not be fetched (status FAILED).")

    @classmethod
    def from_model(cls, data: LinkPreviewPublic) -> LinkPreview:
        return cls(
            content_item_id=to_global_id("ContentItem", data.item_id),
            url=data.url,
            status=data.status,
            requested_at=data.requested_at,
            fetched_at=data.fetched_at,
            final_url=data.final_url,
            http_status=data.http_status,
            redirects=[RedirectHop(url=r.url, status=r.status) for r in data.redirects],
            title=data.title,
            description=data.description,
            image_url=data.image_url,
            image_width=data.image_width,
            image_height=data.image_height,
            canonical_url=data.canonical_url,
            site_name=data.site_name,
            robots=data.robots,
            findings=[LinkPreviewFinding(severity=f.severity, code=f.code, message=f.message) for f in data.findings],
            error=data.error,
        )


async def link_preview_of(info: Info, item_id: uuid.UUID) -> LinkPreview | None:
    """One content call for the previews of all the items of an operation (a feed's page)."""
    data = await info.context.loaders.link_previews.load(item_id)
    return LinkPreview.from_model(data) if data is not None else None


@strawberry.input
class RefreshLinkPreviewInput:
    content_item_id: strawberry.ID = strawberry.field(description="The content item's global id.")


@strawberry.type
class RefreshLinkPreviewPayload:
    link_preview: LinkPreview | None = strawberry.field(description="PENDING: read it again in a few seconds.")
    errors: list[UserError]


_Resolver = TypeVar("_Resolver", bound=Callable[..., Awaitable[Any]])


def mutation(description: str) -> Callable[[_Resolver], _Resolver]:
    """``@mutation(...)``, typed for mypy (as in schema.py, which this module cannot import)."""
    decorator: Callable[[_Resolver], _Resolver] = strawberry.mutation(description=description)
    return decorator


@strawberry.type
class PreviewsMutation:
    @mutation("Fetches the item's link again, after the page was fixed (curators and admins).")
    async def refresh_link_preview(self, info: Info, input: RefreshLinkPreviewInput) -> RefreshLinkPreviewPayload:
        raw = global_id_of("ContentItem", input.content_item_id)
        if raw is None:
            errors = invalid(["input", "contentItemId"], "is not the global id of a ContentItem")
            return RefreshLinkPreviewPayload(link_preview=None, errors=errors)
        paths = InputPaths(renames={"item_id": "contentItemId"}, not_found=("input", "contentItemId"))
        data, errors = await attempt(info.context.services.content.refresh_link_preview(raw), paths)
        preview = LinkPreview.from_model(data) if data is not None else None
        return RefreshLinkPreviewPayload(link_preview=preview, errors=errors)
