"""Campaigns, audiences and the ranked feed in GraphQL (issue 7). ``Query`` and ``Mutation`` in
gateway/schema.py inherit ``CampaignsQuery`` and ``CampaignsMutation``.

The feed's cursors are the service's own rank keys.
The feed is not ordered by a time and an id like the other keyset lists (gateway/relay.py's
``KeysetList``): content ranks it (pins, campaign priority, freshness, what the caller shared) and hands
each item its own cursor, which the gateway wraps as the edge's cursor and unwraps on the way back.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import strawberry

from condividi.audience import Audience as AudienceModel
from gateway.clients import PageQuery
from gateway.enums import Role
from gateway.payloads import InputPaths, NotFoundError, UserError, attempt, invalid, not_found
from gateway.relay import (
    MAX_PAGE_SIZE,
    Connection,
    Edge,
    KeysetList,
    Node,
    PageInfo,
    PageRequest,
    decode_position,
    encode_position,
    global_id_of,
    keyset_connection,
    page_request,
    service_page,
    to_global_id,
)
from gateway.types import ContentItem, Info, absent_is_null, resolver
from services.content.campaigns import CampaignPublic
from services.content.feed import FeedItem
from services.content.models import ContentItemPublic

FEED = "feed"
# A feed cursor has the width of the other lists' (time, id), so that another list's cursor is told
# apart by its list's name ("belongs to another list") rather than by its shape.
_RANKED = "ranked"
T = TypeVar("T")


def ranked_page(request: PageRequest) -> PageQuery:
    """The content call for a feed page: after (or before) the item a gateway cursor names."""
    position = decode_position(FEED, request.cursor, 2)[0] if request.cursor is not None else None
    if request.backward:
        return PageQuery(limit=request.size, before=position or "")
    return PageQuery(limit=request.size, cursor=position)


def ranked_connection(
    request: PageRequest, items: Sequence[FeedItem], service_next: str | None, node: Callable[[FeedItem], T]
) -> Connection[T]:
    edges = [Edge(cursor=encode_position(FEED, [item.cursor, _RANKED]), node=node(item)) for item in items]
    more_ahead = service_next is not None
    from_cursor = request.cursor is not None
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=from_cursor if request.backward else more_ahead,
            has_previous_page=more_ahead if request.backward else from_cursor,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


# --- campaigns and audiences ---------------------------------------------------------------------


@strawberry.type(description="Whom an item or a campaign is for; every list empty: everyone (docs/content.md).")
class Audience:
    team_ids: list[strawberry.ID] = strawberry.field(description="Global ids of the teams it asks for.")
    locations: list[str] = strawberry.field(description="Locations, as compared: lower-case.")
    languages: list[str] = strawberry.field(description="BCP 47 tags, lower-case; `it` reaches `it-CH`.")
    roles: list[Role]

    @classmethod
    def from_model(cls, data: AudienceModel) -> Audience:
        return cls(
            team_ids=[to_global_id("Team", t) for t in data.team_ids],
            locations=list(data.locations),
            languages=list(data.languages),
            roles=list(data.roles),
        )


@strawberry.input(
    description="Whom it is for: teams AND locations AND languages AND roles; an empty list asks nothing."
)
class AudienceInput:
    team_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    locations: list[str] = strawberry.field(default_factory=list)
    languages: list[str] = strawberry.field(default_factory=list)
    roles: list[Role] = strawberry.field(default_factory=list)


@strawberry.type(description="A campaign's figures: the sum of its items' (shares, clicks, reach).")
class CampaignResults:
    items: int
    shares: int
    clicks: int
    unique_clicks: int
    potential_reach: int


CAMPAIGNS = KeysetList[CampaignPublic]("campaigns", lambda c: c.created_at, lambda c: c.id)
CAMPAIGN_ITEMS = KeysetList[ContentItemPublic]("campaignItems", lambda i: i.created_at, lambda i: i.id)


@strawberry.type(description="A group of items with a goal, dates, a UTM name, a disclosure and an audience.")
class Campaign(Node):
    name: str
    goal: str
    starts_at: datetime | None
    ends_at: datetime | None
    utm_campaign: str = strawberry.field(description="The `utm_campaign` its items' tracking links carry.")
    required_disclosure: str = strawberry.field(description="Text every share of its items must contain.")
    priority: int = strawberry.field(description="Higher first in the feed, after the pins.")
    audience: Audience
    archived_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    raw_id: strawberry.Private[uuid.UUID]

    @resolver("Its items, whatever their status, newest first (curators and admins).")
    async def items(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[ContentItem] | None:
        request = page_request(CAMPAIGN_ITEMS.connection, first=first, after=after, last=last, before=before)
        page = await info.context.services.content.campaign_items(self.raw_id, service_page(request, CAMPAIGN_ITEMS))
        return keyset_connection(request, page.items, page.next_cursor, CAMPAIGN_ITEMS, ContentItem.from_model)

    @resolver("The sum of its items' shares, clicks and reach (from metrics, one batch per 100 items).")
    async def results(self, info: Info) -> CampaignResults:
        ids: list[uuid.UUID] = []
        cursor: str | None = None
        while True:
            page = await info.context.services.content.campaign_items(
                self.raw_id, PageQuery(limit=MAX_PAGE_SIZE, cursor=cursor)
            )
            ids += [i.id for i in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        stats = [s for s in await info.context.loaders.content_stats.load_many(ids) if s is not None]
        return CampaignResults(
            items=len(ids),
            shares=sum(s.shares for s in stats),
            clicks=sum(s.clicks for s in stats),
            unique_clicks=sum(s.unique_clicks for s in stats),
            potential_reach=sum(s.potential_reach for s in stats),
        )

    @classmethod
    def from_model(cls, data: CampaignPublic) -> Campaign:
        return cls(
            id=to_global_id("Campaign", data.id),
            raw_id=data.id,
            name=data.name,
            goal=data.goal,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            utm_campaign=data.utm_campaign,
            required_disclosure=data.required_disclosure,
            priority=data.priority,
            audience=Audience.from_model(data.audience),
            archived_at=data.archived_at,
            created_by=data.created_by,
            created_at=data.created_at,
            updated_at=data.updated_at,
        )


async def _campaign(info: Info, raw: uuid.UUID) -> Campaign | None:
    data = await absent_is_null(info.context.services.content.campaign(raw))
    return Campaign.from_model(data) if data is not None else None


async def _fetch_campaign(info: Info, raw: uuid.UUID) -> Node | None:
    return await _campaign(info, raw)


CAMPAIGN_FETCHERS = {"Campaign": _fetch_campaign}


@strawberry.input
class CreateCampaignInput:
    name: str
    goal: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    utm_campaign: str | None = strawberry.field(default=None, description="Default: a slug of the name.")
    required_disclosure: str | None = None
    priority: int | None = None
    audience: AudienceInput | None = None


@strawberry.input(description="The fields to change; a date set to null is cleared, others left out stay.")
class UpdateCampaignInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    goal: str | None = strawberry.UNSET
    starts_at: datetime | None = strawberry.UNSET
    ends_at: datetime | None = strawberry.UNSET
    utm_campaign: str | None = strawberry.UNSET
    required_disclosure: str | None = strawberry.UNSET
    priority: int | None = strawberry.UNSET
    audience: AudienceInput | None = strawberry.UNSET


@strawberry.input
class ArchiveCampaignInput:
    id: strawberry.ID


@strawberry.input
class CampaignItemInput:
    campaign_id: strawberry.ID
    content_item_id: strawberry.ID


@strawberry.input(description="The item to take out of its campaign.")
class RemoveCampaignItemInput:
    content_item_id: strawberry.ID


@strawberry.input
class SetContentItemAudienceInput:
    id: strawberry.ID
    audience: AudienceInput


@strawberry.type
class CreateCampaignPayload:
    campaign: Campaign | None
    errors: list[UserError]


@strawberry.type
class UpdateCampaignPayload:
    campaign: Campaign | None
    errors: list[UserError]


@strawberry.type
class ArchiveCampaignPayload:
    campaign: Campaign | None
    errors: list[UserError]


@strawberry.type
class AddCampaignItemPayload:
    content_item: ContentItem | None
    errors: list[UserError]


@strawberry.type
class RemoveCampaignItemPayload:
    content_item: ContentItem | None
    errors: list[UserError]


@strawberry.type
class SetContentItemAudiencePayload:
    content_item: ContentItem | None
    errors: list[UserError]


_Resolver = TypeVar("_Resolver", bound=Callable[..., Awaitable[Any]])


def mutation(description: str) -> Callable[[_Resolver], _Resolver]:
    decorator: Callable[[_Resolver], _Resolver] = strawberry.mutation(description=description)
    return decorator


def _audience(value: AudienceInput, path: list[str]) -> tuple[dict[str, Any], list[UserError]]:
    teams = [global_id_of("Team", t) for t in value.team_ids]
    errors = invalid([*path, "teamIds"], "is not the global id of a Team") if any(t is None for t in teams) else []
    body = {
        "team_ids": [str(t) for t in teams if t],
        "locations": value.locations,
        "languages": value.languages,
        "roles": [r.value for r in value.roles],
    }
    return body, errors


def _teams_not_found(errors: list[UserError]) -> list[UserError]:
    """Content refuses team ids the org does not have with 422 ``unknown_teams``; in GraphQL an id of
    nothing the caller can see is a NotFoundError, whoever's it is."""
    return [
        NotFoundError(message=e.message, path=e.path) if getattr(e, "code", None) == "unknown_teams" else e
        for e in errors
    ]


_CAMPAIGN_PATHS = InputPaths(renames={"campaign_id": "id"}, not_found=("input", "id"))


@strawberry.type
class CampaignsQuery:
    @resolver("The org's campaigns, newest first (curators and admins); archived ones with includeArchived.")
    async def campaigns(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        include_archived: bool = False,
    ) -> Connection[Campaign] | None:
        request = page_request(CAMPAIGNS.connection, first=first, after=after, last=last, before=before)
        page = await info.context.services.content.campaigns(
            service_page(request, CAMPAIGNS), include_archived=include_archived
        )
        return keyset_connection(request, page.items, page.next_cursor, CAMPAIGNS, Campaign.from_model)

    @resolver("One campaign (curators and admins); null when the caller cannot see it.")
    async def campaign(self, info: Info, id: strawberry.ID) -> Campaign | None:
        info.context.require_caller()
        raw = global_id_of("Campaign", id)
        return await _campaign(info, raw) if raw is not None else None


@strawberry.type
class CampaignsMutation:
    @mutation("Creates a campaign (curators and admins). Team ids in its audience must name teams of the org.")
    async def create_campaign(self, info: Info, input: CreateCampaignInput) -> CreateCampaignPayload:
        audience, errors = _audience(input.audience, ["input", "audience"]) if input.audience else ({}, [])
        if errors:
            return CreateCampaignPayload(campaign=None, errors=errors)
        fields = {
            "name": input.name,
            "goal": input.goal,
            "starts_at": input.starts_at,
            "ends_at": input.ends_at,
            "utm_campaign": input.utm_campaign,
            "required_disclosure": input.required_disclosure,
            "priority": input.priority,
            "audience": audience or None,
        }
        data, errors = await attempt(info.context.services.content.create_campaign(**fields), InputPaths())
        errors = _teams_not_found(errors)
        return CreateCampaignPayload(campaign=Campaign.from_model(data) if data else None, errors=errors)

    @mutation("Changes a campaign's fields given (curators and admins).")
    async def update_campaign(self, info: Info, input: UpdateCampaignInput) -> UpdateCampaignPayload:
        raw = global_id_of("Campaign", input.id)
        errors: list[UserError] = (
            [] if raw is not None else invalid(["input", "id"], "is not the global id of a Campaign")
        )
        fields: dict[str, Any] = {}
        for name in ("name", "goal", "starts_at", "ends_at", "utm_campaign", "required_disclosure", "priority"):
            value = getattr(input, name)
            if value is not strawberry.UNSET:
                fields[name] = value
        if input.audience is not strawberry.UNSET and input.audience is not None:
            fields["audience"], more = _audience(input.audience, ["input", "audience"])
            errors += more
        if errors or raw is None:
            return UpdateCampaignPayload(campaign=None, errors=errors)
        data, errors = await attempt(info.context.services.content.update_campaign(raw, fields), _CAMPAIGN_PATHS)
        errors = _teams_not_found(errors)
        return UpdateCampaignPayload(campaign=Campaign.from_model(data) if data else None, errors=errors)

    @mutation("Archives a campaign: its items leave every feed (curators and admins).")
    async def archive_campaign(self, info: Info, input: ArchiveCampaignInput) -> ArchiveCampaignPayload:
        raw = global_id_of("Campaign", input.id)
        if raw is None:
            return ArchiveCampaignPayload(
                campaign=None, errors=invalid(["input", "id"], "is not the global id of a Campaign")
            )
        data, errors = await attempt(info.context.services.content.archive_campaign(raw), _CAMPAIGN_PATHS)
        return ArchiveCampaignPayload(campaign=Campaign.from_model(data) if data else None, errors=errors)

    @mutation("Puts a content item in a campaign, out of any other (curators and admins).")
    async def add_campaign_item(self, info: Info, input: CampaignItemInput) -> AddCampaignItemPayload:
        pair, errors = _pair(input)
        if pair is None:
            return AddCampaignItemPayload(content_item=None, errors=errors)
        data, errors = await attempt(info.context.services.content.add_campaign_item(*pair), _ITEM_PATHS)
        if data is None:
            return AddCampaignItemPayload(content_item=None, errors=errors)
        return AddCampaignItemPayload(content_item=ContentItem.from_model(data), errors=[])

    @mutation("Takes a content item out of its campaign (curators and admins).")
    async def remove_campaign_item(self, info: Info, input: RemoveCampaignItemInput) -> RemoveCampaignItemPayload:
        item = global_id_of("ContentItem", input.content_item_id)
        if item is None:
            errors = invalid(["input", "contentItemId"], "is not the global id of a ContentItem")
            return RemoveCampaignItemPayload(content_item=None, errors=errors)
        missing = not_found(["input", "contentItemId"], "content item")
        current, _ = await attempt(info.context.services.content.get_item(item), InputPaths())
        if current is None or current.campaign_id is None:
            return RemoveCampaignItemPayload(content_item=None, errors=missing)
        pair = (current.campaign_id, item)
        data, errors = await attempt(info.context.services.content.remove_campaign_item(*pair), _ITEM_PATHS)
        if data is None:
            return RemoveCampaignItemPayload(content_item=None, errors=errors)
        return RemoveCampaignItemPayload(content_item=ContentItem.from_model(data), errors=[])

    @mutation("Sets whom a content item is for (curators and admins); with its campaign's, both must reach a member.")
    async def set_content_item_audience(
        self, info: Info, input: SetContentItemAudienceInput
    ) -> SetContentItemAudiencePayload:
        raw = global_id_of("ContentItem", input.id)
        audience, errors = _audience(input.audience, ["input", "audience"])
        if raw is None:
            errors += invalid(["input", "id"], "is not the global id of a ContentItem")
        if errors or raw is None:
            return SetContentItemAudiencePayload(content_item=None, errors=errors)
        paths = InputPaths(renames={"item_id": "id"}, not_found=("input", "id"))
        data, errors = await attempt(info.context.services.content.set_item_audience(raw, audience), paths)
        if data is None:
            return SetContentItemAudiencePayload(content_item=None, errors=_teams_not_found(errors))
        return SetContentItemAudiencePayload(content_item=ContentItem.from_model(data), errors=[])


_ITEM_PATHS = InputPaths(renames={"campaign_id": "campaignId", "item_id": "contentItemId"})


def _pair(input: CampaignItemInput) -> tuple[tuple[uuid.UUID, uuid.UUID] | None, list[UserError]]:
    campaign = global_id_of("Campaign", input.campaign_id)
    item = global_id_of("ContentItem", input.content_item_id)
    errors: list[UserError] = []
    if campaign is None:
        errors += invalid(["input", "campaignId"], "is not the global id of a Campaign")
    if item is None:
        errors += invalid(["input", "contentItemId"], "is not the global id of a ContentItem")
    return ((campaign, item) if campaign and item else None), errors
