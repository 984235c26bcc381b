"""The GraphQL object types and enums. Each object type is made from the service's own answer model
(``from_model``); each type with an identity is a Relay ``Node`` with an opaque global id.

The enums are in ``gateway/enums.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, TypeVar

import strawberry

from condividi.audience import Audience as AudienceModel
from condividi.networks import NETWORKS, NetworkSpec
from gateway.context import GatewayContext
from gateway.enums import Action, ContentStatus, Counting, Network, Outcome, PublishMethod, Role, ShareStatus
from gateway.errors import GatewayError
from gateway.relay import Node, to_global_id
from services.content.feed import FeedItem
from services.content.models import ContentItemPublic
from services.metrics import models as metrics_models
from services.policy.compliance_models import FindingPublic
from services.policy.models import MemberPublic, PolicyCheckResult, ShareDecisionPublic, TeamPublic, ViolationPublic
from services.sharing.models import ConnectionPublic, SharePublic
from services.sharing.models import Violation as ShareViolation

if TYPE_CHECKING:  # gateway.governance, gateway.campaigns and gateway.captions build on this module
    from gateway.campaigns import Audience
    from gateway.captions import Caption, OfferedCaption
    from gateway.governance import PolicyStanding, TrainingStanding
    from gateway.library import ContentRevision
    from gateway.previews import LinkPreview

Info: TypeAlias = strawberry.Info[GatewayContext, None]

# Shown when metrics has no row for an item (nobody shared it yet) and so sent no note of its own.
REACH_NOTE = (
    "potentialReach is the sum of the sharing employees' audiences on each network at share time. "
    "It counts audience slots, not unique people: colleagues' audiences overlap."
)

_Resolver = TypeVar("_Resolver", bound=Callable[..., Awaitable[Any]])


def resolver(description: str) -> Callable[[_Resolver], _Resolver]:
    """``@resolver(...)``, typed for mypy (strawberry types that form ``Any``)."""
    decorator: Callable[[_Resolver], _Resolver] = strawberry.field(description=description)
    return decorator


T = TypeVar("T")


async def absent_is_null(call: Awaitable[T]) -> T | None:
    """What a service cannot show the caller (missing, another org's, not theirs to see) is null, the
    same for each reason, so that a field never tells them apart."""
    try:
        return await call
    except GatewayError as exc:
        if exc.status in (403, 404, 422):
            return None
        raise


def roles_of(values: Any) -> list[Role]:
    known = {role.value: role for role in Role}
    return sorted((known[v] for v in values if v in known), key=lambda r: r.value)


# --- types --------------------------------------------------------------------------------------


@strawberry.type(description="One network of the networks table: what it allows and how it is shared to.")
class NetworkInfo:
    name: Network
    display_name: str
    max_length: int = strawberry.field(description="The longest post the network takes, counted as `counting` says.")
    counting: Counting
    intent_keeps_text: bool = strawberry.field(
        description="Whether the network's share link keeps pre-filled text; when not, offer to copy the text first."
    )
    api_publisher: bool = strawberry.field(description="Whether a share can be posted from a connected account.")

    @classmethod
    def from_spec(cls, spec: NetworkSpec) -> NetworkInfo:
        return cls(
            name=spec.network,
            display_name=spec.display_name,
            max_length=spec.max_length,
            counting=spec.counting,
            intent_keeps_text=spec.intent_keeps_text,
            api_publisher=spec.api_publisher,
        )


def network_infos() -> list[NetworkInfo]:
    return [NetworkInfo.from_spec(spec) for spec in NETWORKS.values()]


@strawberry.type(description="Measured results and potential reach of a content item, each its own figure.")
class ContentStats:
    shares: int = strawberry.field(description="Shares published through the program.")
    clicks: int = strawberry.field(description="Clicks on the shares' tracking links (crawlers excluded).")
    unique_clicks: int = strawberry.field(
        description="Distinct (tracking link, visitor) pairs per UTC day; link-preview crawlers never count."
    )
    potential_reach: int = strawberry.field(description="Sum of the audiences of the sharing accounts.")
    reach_note: str = strawberry.field(description="How to read potentialReach.")

    @classmethod
    def from_model(cls, data: metrics_models.ContentStats | None) -> ContentStats:
        if data is None:
            return cls(shares=0, clicks=0, unique_clicks=0, potential_reach=0, reach_note=REACH_NOTE)
        return cls(
            shares=data.shares,
            clicks=data.clicks,
            unique_clicks=data.unique_clicks,
            potential_reach=data.potential_reach,
            reach_note=data.reach_note,
        )


@strawberry.type(description="The org's totals over all its content items (admins, managers, curators).")
class OrgSummary:
    content_items: int = strawberry.field(description="Content items that have been shared or clicked.")
    shares: int
    clicks: int
    unique_clicks: int
    potential_reach: int
    reach_note: str = strawberry.field(description="How to read potentialReach.")

    @classmethod
    def from_model(cls, data: metrics_models.OrgSummary) -> OrgSummary:
        return cls(
            content_items=data.content_items,
            shares=data.shares,
            clicks=data.clicks,
            unique_clicks=data.unique_clicks,
            potential_reach=data.potential_reach,
            reach_note=data.reach_note,
        )


@strawberry.type(description="Something the company curated for employees to share in their own words.")
class ContentItem(Node):
    title: str
    url: str
    summary: str
    suggested_caption: str = strawberry.field(description="A starting point; the post should be the employee's own.")
    status: ContentStatus
    created_by: str
    created_at: datetime
    published_at: datetime | None
    shared_by_me: bool | None = strawberry.field(
        default=None, description="In the feed: whether the caller already shared it (those come last); else null."
    )
    campaign_id: strawberry.ID | None = strawberry.field(
        default=None, description="The global id of its campaign; null when in none."
    )
    pinned: bool | None = strawberry.field(
        default=None, description="In the feed: whether a curator pinned it (those come first); else null."
    )
    suggested_by: str | None = strawberry.field(
        description="The employee whose suggestion became this item (their subject); null: a curator's own."
    )
    raw_id: strawberry.Private[uuid.UUID]
    # The library (issue 7).
    updated_at: datetime | None = None
    revision: int = strawberry.field(
        default=0, description="0 until first published; each edit of a published item publishes the next."
    )
    publish_at: datetime | None = strawberry.field(default=None, description="When a SCHEDULED item is published.")
    expires_at: datetime | None = strawberry.field(
        default=None, description="After this the item leaves the feed and can no longer be shared."
    )
    archived_at: datetime | None = None
    topics: list[str] = strawberry.field(default_factory=list)
    image_url: str | None = None
    image_alt: str = strawberry.field(default="", description="What the image shows (set whenever imageUrl is).")
    pinned_position: int | None = strawberry.field(
        default=None, description="Its place among the pins at the top of the feed (1 = top); null: not pinned."
    )
    pinned_until: datetime | None = strawberry.field(default=None, description="When the pin ends; null: never.")
    utm_campaign: str = strawberry.field(default="", description="Its campaign's UTM name; empty without one.")
    required_disclosure: str = strawberry.field(
        default="", description="What every share of it must contain (its campaign's); empty: nothing."
    )
    audience_keys: strawberry.Private[AudienceModel | None] = None

    @resolver("Whom it is for (with its campaign's audience); every list empty: everyone.")
    async def audience(self) -> Annotated[Audience, strawberry.lazy("gateway.campaigns")] | None:
        from gateway.campaigns import Audience  # the campaigns module builds on this one

        return Audience.from_model(self.audience_keys) if self.audience_keys is not None else None

    @resolver(
        "The caption the caller is offered on `network`, in their language (falling back to the language "
        "without its region, then to a caption for every language, then to the item's default); null when "
        "there is none. One content call per network for all the items of a response."
    )
    async def caption(
        self, info: Info, network: Network
    ) -> Annotated[OfferedCaption, strawberry.lazy("gateway.captions")] | None:
        from gateway.captions import offered_caption

        return await offered_caption(info, self.raw_id, network)

    @resolver("Every suggested caption per network and language (curators and admins; null for anyone else).")
    async def captions(self, info: Info) -> list[Annotated[Caption, strawberry.lazy("gateway.captions")]] | None:
        from gateway.captions import item_captions

        return await item_captions(info, self.raw_id)

    @resolver(
        "Shares, clicks and potential reach (one metrics call for all items of a response). Null, with an "
        "error, when metrics cannot answer: the items themselves still arrive."
    )
    async def stats(self, info: Info) -> ContentStats | None:
        return ContentStats.from_model(await info.context.loaders.content_stats.load(self.raw_id))

    @resolver(
        "The card networks will show for the link, and what the link-preview doctor found wrong with it "
        "(null when the caller cannot see the item)."
    )
    async def link_preview(self, info: Info) -> Annotated[LinkPreview, strawberry.lazy("gateway.previews")] | None:
        from gateway.previews import link_preview_of

        return await link_preview_of(info, self.raw_id)

    @resolver("Each revision it was published in, newest first (curators and admins; null for anyone else).")
    async def revisions(
        self, info: Info
    ) -> list[Annotated[ContentRevision, strawberry.lazy("gateway.library")]] | None:
        from gateway.library import revisions_of  # the library's module imports this one

        return await absent_is_null(revisions_of(info, self.raw_id))

    @classmethod
    def from_model(cls, data: ContentItemPublic) -> ContentItem:
        return cls(
            id=to_global_id("ContentItem", data.id),
            raw_id=data.id,
            title=data.title,
            url=data.url,
            summary=data.summary,
            suggested_caption=data.suggested_caption,
            status=data.status,
            created_by=data.created_by,
            created_at=data.created_at,
            published_at=data.published_at,
            updated_at=data.updated_at,
            revision=data.revision,
            publish_at=data.publish_at,
            expires_at=data.expires_at,
            archived_at=data.archived_at,
            topics=list(data.topics),
            image_url=data.image_url,
            image_alt=data.image_alt,
            pinned_position=data.pinned_position,
            pinned_until=data.pinned_until,
            campaign_id=to_global_id("Campaign", data.campaign_id) if data.campaign_id else None,
            utm_campaign=data.utm_campaign,
            required_disclosure=data.required_disclosure,
            audience_keys=data.audience,
            shared_by_me=data.shared_by_me if isinstance(data, FeedItem) else None,
            pinned=data.pinned if isinstance(data, FeedItem) else None,
            suggested_by=data.suggested_by,
        )


@strawberry.type(description="A rule a post breaks, with a message to show the employee.")
class Violation:
    code: str
    message: str

    @classmethod
    def from_model(cls, data: ViolationPublic | ShareViolation) -> Violation:
        return cls(code=data.code, message=data.message)


@strawberry.type(
    description="One thing a rule found in a post: what it does to the decision and, where it is a piece of the "
    "text, where (offsets in UTF-16 code units, as JavaScript strings index, so a client can underline it)."
)
class PolicyFinding:
    code: str
    message: str = strawberry.field(description="Ready to show to the employee.")
    action: Action
    start: int | None = strawberry.field(description="Null when the finding concerns the post as a whole.")
    end: int | None = strawberry.field(description="Excluded.")
    rule_id: strawberry.ID | None = strawberry.field(description="The ComplianceRule; null for built-in rules.")

    @classmethod
    def from_model(cls, data: FindingPublic) -> PolicyFinding:
        return cls(
            code=data.code,
            message=data.message,
            action=data.action,
            start=data.start,
            end=data.end,
            rule_id=to_global_id("ComplianceRule", data.rule_id) if data.rule_id is not None else None,
        )


@strawberry.type(description="The live policy check of a post being written.")
class PolicyCheck:
    allowed: bool
    outcome: Outcome
    violations: list[Violation] = strawberry.field(description="What rejects the post or holds it for review.")
    length: int = strawberry.field(description="The post's length as the network counts it.")
    limit: int = strawberry.field(description="The network's maximum length.")
    findings: list[PolicyFinding] = strawberry.field(
        description="Every finding, warnings included, with its action and span."
    )

    @classmethod
    def from_model(cls, data: PolicyCheckResult) -> PolicyCheck:
        return cls(
            allowed=data.allowed,
            outcome=data.outcome,
            violations=[Violation.from_model(v) for v in data.violations],
            length=data.length,
            limit=data.limit,
            findings=[PolicyFinding.from_model(f) for f in data.findings],
        )


@strawberry.type(description="What the policy decided about a share, and why.")
class ShareDecision(Node):
    share_id: strawberry.ID = strawberry.field(description="The global id of the share decided.")
    outcome: Outcome
    violations: list[Violation] = strawberry.field(description="The reasons of a rejection or a review.")
    decided_at: datetime
    findings: list[PolicyFinding] = strawberry.field(
        description="Every finding, warnings included, with its action and span."
    )

    @classmethod
    def from_model(cls, data: ShareDecisionPublic) -> ShareDecision:
        return cls(
            id=to_global_id("ShareDecision", data.share_id),
            share_id=to_global_id("Share", data.share_id),
            outcome=data.outcome,
            violations=[Violation.from_model(v) for v in data.violations],
            decided_at=data.decided_at,
            findings=[PolicyFinding.from_model(f) for f in data.findings],
        )


@strawberry.type(description="An employee's share of a content item on one network.")
class Share(Node):
    content_id: strawberry.ID = strawberry.field(description="The global id of the content item shared.")
    member_subject: str = strawberry.field(description="The sharing employee, as their identity provider names them.")
    network: Network
    text: str
    status: ShareStatus
    violations: list[Violation]
    publish_method: PublishMethod | None
    intent_url: str | None = strawberry.field(description="For INTENT: the link that opens the network's composer.")
    intent_keeps_text: bool = strawberry.field(
        description="False when the network ignores pre-filled text: offer to copy the text first."
    )
    tracking_url: str | None = strawberry.field(description="Null while pending and for a rejected share.")
    potential_reach: int = strawberry.field(description="The sharing account's audience at share time.")
    personal_touch: float | None = strawberry.field(
        description="How much of the text is the employee's own rather than the caption offered, 0 (the caption "
        "as it was) to 1 (none of its words kept); null when no caption was offered (docs/content.md)."
    )
    created_at: datetime
    updated_at: datetime
    raw_id: strawberry.Private[uuid.UUID]
    raw_content_id: strawberry.Private[uuid.UUID]

    @resolver("The content item shared; null once the caller can no longer see it.")
    async def content(self, info: Info) -> ContentItem | None:
        item = await info.context.loaders.content_items.load(self.raw_content_id)
        return ContentItem.from_model(item) if item is not None else None

    @resolver("The policy's decision with its reasons; null until policy has decided.")
    async def decision(self, info: Info) -> ShareDecision | None:
        data = await info.context.loaders.share_decisions.load(self.raw_id)
        return ShareDecision.from_model(data) if data is not None else None

    @classmethod
    def from_model(cls, data: SharePublic) -> Share:
        tracking_url: str | None = data.tracking_url
        return cls(
            id=to_global_id("Share", data.id),
            raw_id=data.id,
            content_id=to_global_id("ContentItem", data.content_id),
            raw_content_id=data.content_id,
            member_subject=data.member_id,
            network=Network(data.network),
            text=data.text,
            status=data.status,
            violations=[Violation.from_model(v) for v in data.violations],
            publish_method=data.publish_method,
            intent_url=data.intent_url,
            intent_keeps_text=data.intent_keeps_text,
            tracking_url=tracking_url,
            potential_reach=data.potential_reach,
            personal_touch=data.personal_touch,
            created_at=data.created_at,
            updated_at=data.updated_at,
        )


# The sharing service calls these social connections; GraphQL calls them accounts because Relay tooling
# takes any type named ...Connection for a cursor connection.
@strawberry.type(
    description="An employee's connected account on a network; its audience is the potential reach of a share."
)
class SocialAccount(Node):
    network: Network
    handle: str
    audience_size: int
    created_at: datetime

    @classmethod
    def from_model(cls, data: ConnectionPublic) -> SocialAccount:
        return cls(
            id=to_global_id("SocialAccount", data.id),
            network=Network(data.network),
            handle=data.handle,
            audience_size=data.audience_size,
            created_at=data.created_at,
        )


@strawberry.type(description="A team of the org's roster.")
class Team(Node):
    name: str
    created_at: datetime

    @classmethod
    def from_model(cls, data: TeamPublic) -> Team:
        return cls(id=to_global_id("Team", data.id), name=data.name, created_at=data.created_at)


@strawberry.type(description="A person of the org's roster.")
class Member(Node):
    subject: str = strawberry.field(description="Their `sub` at the identity provider.")
    email: str
    name: str
    roles: list[Role]
    created_at: datetime
    raw_team_id: strawberry.Private[uuid.UUID | None]
    active: bool = strawberry.field(description="False once the member is deactivated (offboarded).")
    location: str | None
    language: str | None = strawberry.field(description="A BCP 47 tag, e.g. it-IT.")
    time_zone: str | None = strawberry.field(description="An IANA zone, e.g. Europe/Rome.")
    department: str | None
    title: str | None
    raw_manager_id: strawberry.Private[uuid.UUID | None]

    @resolver("The member's manager on the roster, if any.")
    async def manager(self, info: Info) -> Member | None:
        if self.raw_manager_id is None:
            return None
        data = await absent_is_null(info.context.services.policy.get_member(self.raw_manager_id))
        return Member.from_model(data) if data is not None else None

    @resolver("The member's team, if any.")
    async def team(self, info: Info) -> Team | None:
        if self.raw_team_id is None:
            return None
        data = await absent_is_null(info.context.services.policy.get_team(self.raw_team_id))
        return Team.from_model(data) if data is not None else None

    @classmethod
    def from_model(cls, data: MemberPublic) -> Member:
        return cls(
            id=to_global_id("Member", data.id),
            subject=data.subject,
            email=data.email,
            name=data.name,
            roles=roles_of(data.roles),
            created_at=data.created_at,
            raw_team_id=data.team_id,
            active=data.active,
            location=data.location,
            language=data.language,
            time_zone=data.time_zone,
            department=data.department,
            title=data.title,
            raw_manager_id=data.manager_id,
        )


@strawberry.type(description="The authenticated caller, as their token names them.")
class Me:
    subject: str
    org_id: strawberry.ID
    token_roles: strawberry.Private[frozenset[str]]
    name: str
    email: str

    @resolver(
        "The caller's roles: the token's, but never more than the roster grants once they are on it (docs/roster.md)."
    )
    async def roles(self, info: Info) -> list[Role]:
        try:
            data = await info.context.services.policy.my_member()
        except GatewayError as exc:
            if exc.status != 404:
                raise  # a deactivated member is refused here as everywhere
            return roles_of(self.token_roles)
        return roles_of(self.token_roles & {role.value for role in data.roles})

    @resolver("The caller's entry in the org's roster; null until an admin has added them.")
    async def member(self, info: Info) -> Member | None:
        data = await absent_is_null(info.context.services.policy.my_member())
        return Member.from_model(data) if data is not None else None

    @resolver("The social-media policy in force and whether the caller must still accept it before sharing.")
    async def policy(self, info: Info) -> Annotated[PolicyStanding, strawberry.lazy("gateway.governance")]:
        from gateway.governance import my_policy

        return await my_policy(info)

    @resolver("Every training module of the org and the caller's standing with it (attempts, certification).")
    async def training(self, info: Info) -> list[Annotated[TrainingStanding, strawberry.lazy("gateway.governance")]]:
        from gateway.governance import my_training

        return await my_training(info)


# --- node lookup ---------------------------------------------------------------------------------


async def _content_item(info: Info, raw: uuid.UUID) -> Node | None:
    data = await absent_is_null(info.context.services.content.get_item(raw))
    return ContentItem.from_model(data) if data is not None else None


async def _share(info: Info, raw: uuid.UUID) -> Node | None:
    data = await absent_is_null(info.context.services.sharing.get_share(raw))
    return Share.from_model(data) if data is not None else None


async def _share_decision(info: Info, raw: uuid.UUID) -> Node | None:
    data = await absent_is_null(info.context.services.policy.share_decision(raw))
    return ShareDecision.from_model(data) if data is not None else None


async def _social_account(info: Info, raw: uuid.UUID) -> Node | None:
    # An employee has at most one connection a network: the whole list is one short answer.
    for data in await info.context.services.sharing.my_connections():
        if data.id == raw:
            return SocialAccount.from_model(data)
    return None


async def _team(info: Info, raw: uuid.UUID) -> Node | None:
    data = await absent_is_null(info.context.services.policy.get_team(raw))
    return Team.from_model(data) if data is not None else None


async def _member(info: Info, raw: uuid.UUID) -> Node | None:
    data = await absent_is_null(info.context.services.policy.get_member(raw))
    return Member.from_model(data) if data is not None else None


NodeFetcher = Callable[[Info, uuid.UUID], Awaitable[Node | None]]

# Every Node type and how to refetch it; the schema test checks that every Node type is here.
NODE_FETCHERS: dict[str, NodeFetcher] = {
    "ContentItem": _content_item,
    "Share": _share,
    "ShareDecision": _share_decision,
    "SocialAccount": _social_account,
    "Team": _team,
    "Member": _member,
}
