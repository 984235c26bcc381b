"""The mutations' input types: one ``input`` argument each (docs/graphql.md)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gateway.enums import Network, Role


@strawberry.input
class ContentPinInput:
    position: int = strawberry.field(default=1, description="1 is the top; the pins from there move down one.")
    pinned_until: datetime | None = strawberry.field(default=None, description="When the pin ends; null: never.")


@strawberry.input
class CreateContentItemInput:
    title: str
    url: str
    summary: str | None = None
    suggested_caption: str | None = None
    topics: list[str] | None = strawberry.field(default=None, description="Tags (trimmed, lower case, each once).")
    image_url: str | None = None
    image_alt: str | None = strawberry.field(default=None, description="What the image shows; required with one.")
    expires_at: datetime | None = strawberry.field(
        default=None, description="After this the item leaves the feed and can no longer be shared."
    )
    pin: ContentPinInput | None = None


@strawberry.input
class PublishContentItemInput:
    id: strawberry.ID = strawberry.field(description="The draft's global id.")
    publish_at: datetime | None = strawberry.field(
        default=None, description="Schedule it at this (future) time instead of publishing now."
    )


@strawberry.input
class ShareContentInput:
    content_id: strawberry.ID = strawberry.field(description="The content item's global id.")
    network: Network
    text: str = strawberry.field(description="The employee's own words; the suggested caption is only a start.")
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Makes a retry safe: a repeat with the same key answers the first share instead of a new one "
        "(1-255 visible ASCII characters; a fresh one per share the employee means).",
    )


@strawberry.input
class CreateSocialAccountInput:
    network: Network
    handle: str
    audience_size: int = strawberry.field(description="Followers or connections.")


@strawberry.input
class DeleteSocialAccountInput:
    id: strawberry.ID = strawberry.field(description="The connection's global id.")


@strawberry.input
class CreateTeamInput:
    name: str


@strawberry.input
class CreateMemberInput:
    subject: str = strawberry.field(description="The person's `sub` at the identity provider, exactly.")
    email: str
    name: str
    roles: list[Role]
    team_id: strawberry.ID | None = strawberry.field(default=None, description="A team's global id.")
