"""Captions per network and language in GraphQL (issue 7, item 5): ``ContentItem.caption(network:)``,
the one the caller is offered (one content call per network for all the items of an operation),
``ContentItem.captions`` for curators, and ``setCaptions``. ``Mutation`` in ``gateway/schema.py``
inherits ``CaptionsMutation``; ``ContentItem`` (gateway/types.py) reaches the fields here.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import strawberry

from gateway.enums import Network
from gateway.payloads import InputPaths, UserError, attempt, invalid
from gateway.relay import global_id_of
from gateway.types import ContentItem, Info, absent_is_null
from services.content.models import CaptionChoice, CaptionPublic

# --- types --------------------------------------------------------------------------------------


@strawberry.type(description="A suggested caption of a content item for a network and a language.")
class Caption:
    network: Network | None = strawberry.field(description="Null: for every network.")
    language: str = strawberry.field(description='A BCP 47 tag ("it", "pt-BR"); empty: every language.')
    text: str
    updated_by: str
    updated_at: datetime

    @classmethod
    def from_model(cls, data: CaptionPublic) -> Caption:
        return cls(
            network=data.network,
            language=data.language,
            text=data.text,
            updated_by=data.updated_by,
            updated_at=data.updated_at,
        )


@strawberry.type(
    description="The caption offered to the caller on a network: a start, never the post (the share records how "
    "much of the posted text is the employee's own)."
)
class OfferedCaption:
    text: str
    network: Network | None = strawberry.field(
        description="The network the caption was written for; null: for every network, or the item's default."
    )
    language: str | None = strawberry.field(
        description="The caption's language (empty: every language); null: the item's default caption."
    )
    is_default: bool = strawberry.field(description="No caption fits the network and language: the item's default.")

    @classmethod
    def from_model(cls, data: CaptionChoice) -> OfferedCaption:
        return cls(
            text=data.text,
            network=data.caption_network,
            language=data.caption_language,
            is_default=data.caption_language is None,
        )


async def offered_caption(info: Info, content_id: uuid.UUID, network: Network) -> OfferedCaption | None:
    choice = await info.context.loaders.captions.load((content_id, network.value))
    return OfferedCaption.from_model(choice) if choice is not None else None


async def item_captions(info: Info, content_id: uuid.UUID) -> list[Caption] | None:
    """Null for anyone but curators and admins (and for an item the caller cannot see)."""
    found = await absent_is_null(info.context.services.content.captions(content_id))
    return [Caption.from_model(c) for c in found] if found is not None else None


# --- inputs and payloads -------------------------------------------------------------------------


@strawberry.input
class CaptionInput:
    network: Network | None = strawberry.field(default=None, description="Null: for every network.")
    language: str = strawberry.field(default="", description='A BCP 47 tag ("it", "pt-BR"); empty: every language.')
    text: str = strawberry.field(description="Within the network's limit, as the policy check counts it.")


@strawberry.input
class SetCaptionsInput:
    content_item_id: strawberry.ID
    captions: list[CaptionInput] = strawberry.field(
        description="The item's whole set: captions left out are deleted, an empty list deletes them all."
    )


@strawberry.type
class SetCaptionsPayload:
    content_item: ContentItem | None
    errors: list[UserError]


_Resolver = TypeVar("_Resolver", bound=Callable[..., Awaitable[Any]])


def mutation(description: str) -> Callable[[_Resolver], _Resolver]:
    """``@mutation(...)``, typed for mypy (as in schema.py, which this module cannot import)."""
    decorator: Callable[[_Resolver], _Resolver] = strawberry.mutation(description=description)
    return decorator


@strawberry.type
class CaptionsMutation:
    @mutation(
        "Sets a content item's suggested captions per network and language (curators and admins), replacing "
        "the whole set. A published item's new captions reach members' feeds and their shares' score at once."
    )
    async def set_captions(self, info: Info, input: SetCaptionsInput) -> SetCaptionsPayload:
        raw = global_id_of("ContentItem", input.content_item_id)
        if raw is None:
            errors = invalid(["input", "contentItemId"], "is not the global id of a ContentItem")
            return SetCaptionsPayload(content_item=None, errors=errors)
        content = info.context.services.content
        captions = [
            {"network": c.network.value if c.network else None, "language": c.language, "text": c.text}
            for c in input.captions
        ]
        paths = InputPaths(renames={"item_id": "contentItemId"}, not_found=("input", "contentItemId"))
        _, errors = await attempt(content.replace_captions(raw, captions), paths)
        if errors:
            return SetCaptionsPayload(content_item=None, errors=errors)
        item = await absent_is_null(content.get_item(raw))
        return SetCaptionsPayload(content_item=ContentItem.from_model(item) if item else None, errors=[])
