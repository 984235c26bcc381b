"""The GraphQL schema the frontends use. Every field is answered by a service's REST API, called with
the caller's token; the services decide who may do what (the gateway only checks that a caller is
authenticated).

Conventions: Python names are snake_case, GraphQL names camelCase (strawberry converts); every
resolver is ``async def`` (a synchronous one would block the event loop, engineering.md trap 1); lists
are paginated (``first`` at most 100, ``after`` a cursor handed out as ``nextCursor``); errors carry
``extensions {code, status, details}`` (see ``gateway/errors.py``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any, Generic, TypeAlias, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.types import ExecutionContext

from gateway import clients, live
from gateway.clients import ContentStatus, PolicyOutcome, PublishMethod, ShareStatus
from gateway.context import GatewayContext
from gateway.errors import GatewayError, validation_failed
from gateway.loaders import PerOperationLoaders
from gateway.protocol import RequestChecks

log = logging.getLogger(__name__)

Info: TypeAlias = strawberry.Info[GatewayContext, None]

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

# Shown when metrics has no row for an item (nobody shared it yet) and so sent no note of its own.
REACH_NOTE = (
    "potentialReach is the sum of the sharing employees' audiences on each network at share time. "
    "It counts audience slots, not unique people: colleagues' audiences overlap."
)

# --- enums (the contract's values; GraphQL shows them upper-case) ---------------------------------

strawberry.enum(ContentStatus, description="A content item's lifecycle.")
strawberry.enum(PolicyOutcome, description="What the policy decides for a post.")
strawberry.enum(ShareStatus, description="Where a share is in its lifecycle.")
strawberry.enum(
    PublishMethod,
    description="INTENT: the employee posts through the network's share link; API: from a connected account.",
)

_Resolver = TypeVar("_Resolver", bound=Callable[..., Awaitable[Any]])
_Watcher = TypeVar("_Watcher", bound=Callable[..., AsyncGenerator[Any, None]])


def resolver(description: str) -> Callable[[_Resolver], _Resolver]:
    """``@resolver(...)``, typed for mypy (strawberry types that form ``Any``)."""
    decorator: Callable[[_Resolver], _Resolver] = strawberry.field(description=description)
    return decorator


def mutation(description: str) -> Callable[[_Resolver], _Resolver]:
    """``@mutation(...)``, typed for mypy."""
    decorator: Callable[[_Resolver], _Resolver] = strawberry.mutation(description=description)
    return decorator


def subscription(description: str) -> Callable[[_Watcher], _Watcher]:
    """``@subscription(...)``, typed for mypy."""
    decorator: Callable[[_Watcher], _Watcher] = strawberry.subscription(description=description)
    return decorator


# --- types --------------------------------------------------------------------------------------

T = TypeVar("T")


@strawberry.type(description="One page of a list; pass `nextCursor` as `after` for the next one.")
class Connection(Generic[T]):
    items: list[T]
    next_cursor: str | None = strawberry.field(description="Null on the last page.")


@strawberry.type(description="The authenticated caller, as their token names them.")
class Me:
    subject: str
    org_id: strawberry.ID
    roles: list[str]
    name: str
    email: str


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
    def from_data(cls, data: clients.ContentStatsData) -> ContentStats:
        return cls(
            shares=data.shares,
            clicks=data.clicks,
            unique_clicks=data.unique_clicks,
            potential_reach=data.potential_reach,
            reach_note=data.reach_note or REACH_NOTE,
        )


@strawberry.type(description="Something the company curated for employees to share in their own words.")
class ContentItem:
    id: strawberry.ID
    title: str
    url: str
    summary: str
    suggested_caption: str = strawberry.field(description="A starting point; the post should be the employee's own.")
    status: ContentStatus
    created_by: str
    created_at: datetime
    published_at: datetime | None

    @resolver(
        "Shares, clicks and potential reach (one metrics call for all items of a response). Null, with an "
        "error, when metrics cannot answer: the feed itself still arrives."
    )
    async def stats(self, info: Info) -> ContentStats | None:
        data = await info.context.loaders.content_stats.load(str(self.id))
        return ContentStats.from_data(data)

    @classmethod
    def from_data(cls, data: clients.ContentItemData) -> ContentItem:
        return cls(
            id=strawberry.ID(data.id),
            title=data.title,
            url=data.url,
            summary=data.summary,
            suggested_caption=data.suggested_caption,
            status=data.status,
            created_by=data.created_by,
            created_at=data.created_at,
            published_at=data.published_at,
        )


@strawberry.type(description="A rule a post breaks, with a message to show the employee.")
class Violation:
    code: str
    message: str

    @classmethod
    def from_data(cls, data: clients.ViolationData) -> Violation:
        return cls(code=data.code, message=data.message)


@strawberry.type(description="The live policy check of a post being written.")
class PolicyCheck:
    allowed: bool
    outcome: PolicyOutcome
    violations: list[Violation]
    length: int = strawberry.field(description="The post's length as the network counts it.")
    limit: int = strawberry.field(description="The network's maximum length.")


@strawberry.type(description="An employee's share of a content item on one network.")
class Share:
    id: strawberry.ID
    content_id: strawberry.ID
    network: str
    text: str
    status: ShareStatus
    violations: list[Violation]
    publish_method: PublishMethod | None
    intent_url: str | None = strawberry.field(description="For INTENT: the link that opens the network's composer.")
    intent_keeps_text: bool | None = strawberry.field(
        description="False when the network ignores pre-filled text: offer to copy the text first."
    )
    tracking_url: str | None
    potential_reach: int | None = strawberry.field(description="The sharing account's audience, once known.")
    created_at: datetime

    @classmethod
    def from_data(cls, data: clients.ShareData) -> Share:
        return cls(
            id=strawberry.ID(data.id),
            content_id=strawberry.ID(data.content_id),
            network=data.network,
            text=data.text,
            status=data.status,
            violations=[Violation.from_data(v) for v in data.violations],
            publish_method=data.publish_method,
            intent_url=data.intent_url,
            intent_keeps_text=data.intent_keeps_text,
            tracking_url=data.tracking_url,
            potential_reach=data.potential_reach,
            created_at=data.created_at,
        )


@strawberry.input
class CreateContentItemInput:
    title: str
    url: str
    summary: str | None = None
    suggested_caption: str | None = None


@strawberry.input
class ShareContentInput:
    content_id: strawberry.ID
    network: str
    text: str = strawberry.field(description="The employee's own words; the suggested caption is only a start.")


# --- argument checks ----------------------------------------------------------------------------


def page_size(first: int | None) -> int:
    size = DEFAULT_PAGE_SIZE if first is None else first
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise validation_failed("first", f"must be between 1 and {MAX_PAGE_SIZE}")
    return size


def parse_id(value: str, field: str = "id") -> uuid.UUID:
    # Checked here so that an id never becomes a path segment of a service URL unchecked.
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise validation_failed(field, "is not a valid id") from exc


# --- operations ---------------------------------------------------------------------------------


@strawberry.type
class Query:
    @resolver("Who the token says the caller is.")
    async def me(self, info: Info) -> Me | None:
        caller = info.context.require_caller()
        return Me(
            subject=caller.subject,
            org_id=strawberry.ID(str(caller.org_id)),
            roles=sorted(caller.roles),
            name=caller.name,
            email=caller.email,
        )

    @resolver("The caller's feed: the org's published items, newest first.")
    async def feed(
        self, info: Info, first: int | None = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Connection[ContentItem] | None:
        limit = page_size(first)
        page = await info.context.services.content.feed(limit=limit, cursor=after)
        return Connection(items=[ContentItem.from_data(i) for i in page.items], next_cursor=page.next_cursor)

    @resolver("One content item (drafts only for curators and admins).")
    async def content_item(self, info: Info, id: strawberry.ID) -> ContentItem | None:
        item_id = parse_id(id)
        return ContentItem.from_data(await info.context.services.content.get_item(item_id))

    @resolver("One share: the caller's own, or any in the org for reviewers and admins.")
    async def share(self, info: Info, id: strawberry.ID) -> Share | None:
        share_id = parse_id(id)
        return Share.from_data(await info.context.services.sharing.get_share(share_id))

    @resolver("The caller's own shares, newest first; of one content item with `contentId`.")
    async def my_shares(
        self,
        info: Info,
        first: int | None = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        content_id: strawberry.ID | None = None,
    ) -> Connection[Share] | None:
        limit = page_size(first)
        content = parse_id(content_id, "contentId") if content_id is not None else None
        page = await info.context.services.sharing.my_shares(limit=limit, cursor=after, content_id=content)
        return Connection(items=[Share.from_data(s) for s in page.items], next_cursor=page.next_cursor)

    @resolver("Checks a post against the org's policy while it is being written.")
    async def check_post(self, info: Info, network: str, text: str, url: str | None = None) -> PolicyCheck | None:
        data = await info.context.services.policy.check(network=network, text=text, url=url)
        return PolicyCheck(
            allowed=data.allowed,
            outcome=data.outcome,
            violations=[Violation.from_data(v) for v in data.violations],
            length=data.length,
            limit=data.limit,
        )


@strawberry.type
class Mutation:
    @mutation("Creates a draft (curators and admins).")
    async def create_content_item(self, info: Info, input: CreateContentItemInput) -> ContentItem | None:
        data = await info.context.services.content.create_item(
            title=input.title, url=input.url, summary=input.summary, suggested_caption=input.suggested_caption
        )
        return ContentItem.from_data(data)

    @mutation("Publishes a draft to the employees' feeds (curators and admins).")
    async def publish_content_item(self, info: Info, id: strawberry.ID) -> ContentItem | None:
        item_id = parse_id(id)
        return ContentItem.from_data(await info.context.services.content.publish_item(item_id))

    @mutation("Submits a share; it starts PENDING_POLICY and the policy decides it (poll `share`).")
    async def share_content(self, info: Info, input: ShareContentInput) -> Share | None:
        content_id = parse_id(input.content_id, "contentId")
        data = await info.context.services.sharing.create_share(
            content_id=content_id, network=input.network, text=input.text
        )
        return Share.from_data(data)


# --- errors -------------------------------------------------------------------------------------


class ErrorShaping(SchemaExtension):
    """Gives every error of an executed operation ``extensions {code, status, details}`` and hides what
    must not leave the process (see ``shape_error``). Errors raised before the operation starts (a
    document that does not parse) bypass extensions; the router shapes those (``GatewayGraphQLRouter``)."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = [shape_error(e) for e in errors]


def shape_error(error: GraphQLError) -> GraphQLError:
    """An error the gateway raised on purpose keeps its message and extensions; a document the schema
    refuses gets ``graphql_parse_failed`` or ``graphql_validation_failed``; anything else (a bug) becomes
    ``internal`` with a fixed message, the schema having logged it with its traceback. Idempotent."""
    original = error.original_error
    extensions: dict[str, Any]
    if isinstance(original, GatewayError):
        extensions, message = original.extensions, original.message
    elif error.extensions and "code" in error.extensions:
        return error
    elif original is None and error.path is None:
        # Refused before execution: the document does not parse, or breaks a validation rule (unknown
        # field, depth or alias limit, a variable of the wrong type).
        parse_failed = error.message.startswith("Syntax Error")
        code = "graphql_parse_failed" if parse_failed else "graphql_validation_failed"
        extensions, message = {"code": code, "status": 400, "details": []}, error.message
    else:
        extensions = {"code": "internal", "status": 500, "details": []}
        message = "an unexpected error occurred; it has been logged"
    if error.message == message and error.extensions == extensions:
        return error
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=original,
        extensions=extensions,
    )


class GatewaySchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Expected failures (a service's 4xx, a bad token, an invalid query) are the caller's business
        and are logged briefly; anything else with its traceback."""
        for error in errors:
            original = error.original_error
            if isinstance(original, GatewayError):
                level = logging.WARNING if original.status >= 500 else logging.INFO
                log.log(
                    level,
                    "graphql error",
                    extra={"code": original.code, "error": original.message, "path": error.path},
                )
            elif original is None and error.path is None:
                log.info("graphql document refused", extra={"error": error.message})
            else:
                log.error("graphql resolver failed", exc_info=original or error, extra={"path": error.path})


# A share waits in PENDING_POLICY for policy's decision; these states are where it rests.
_SETTLED = {ShareStatus.REJECTED, ShareStatus.NEEDS_REVIEW, ShareStatus.PUBLISHED}
SHARE_WATCH_SECONDS = 120.0
_WATCH_HICCUPS = 3  # consecutive "service unavailable" answers a watch rides out
_HICCUP_PAUSE_SECONDS = 0.5


@strawberry.type
class Subscription:
    @subscription(
        "The share now, then each time its status changes, until it settles (published, rejected or "
        "waiting for a reviewer) or two minutes pass. Replaces polling `share(id)` after `shareContent`."
    )
    async def share_updated(self, info: Info, id: strawberry.ID) -> AsyncGenerator[Share, None]:
        share_id = parse_id(id)
        caller = info.context.require_caller()
        services = info.context.services
        runtime = info.context.runtime
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SHARE_WATCH_SECONDS
        last: ShareStatus | None = None
        hiccups = 0
        follow_ups: list[float] = []
        # Watching starts before the first read, so that an event between the read and the wait still
        # rings. Events only say "look again": the share is always re-read with the subscriber's token.
        with runtime.hub.watch(share_id, caller.org_id) as watch:
            while True:
                try:
                    share = Share.from_data(await services.sharing.get_share(share_id))
                except GatewayError as exc:
                    # A passing outage of sharing need not end the watch; anything else (not found) does.
                    hiccups += 1
                    if exc.code != "service_unavailable" or hiccups > _WATCH_HICCUPS or loop.time() > deadline:
                        raise
                    await asyncio.sleep(_HICCUP_PAUSE_SECONDS)
                    continue
                except Exception as exc:
                    # Streamed results skip the error shaping of queries: shape this one here, never leak it.
                    log.exception("share watch failed", extra={"share_id": str(share_id)})
                    raise GatewayError(
                        "internal", "an unexpected error occurred; it has been logged", status=500
                    ) from exc
                hiccups = 0
                if share.status != last:
                    last = share.status
                    follow_ups = []
                    yield share
                if share.status in _SETTLED or loop.time() > deadline:
                    return
                if watch.decision_pending:
                    # Policy decided, and sharing may not have applied it yet: look again shortly.
                    watch.decision_pending = False
                    follow_ups = list(live.DECISION_FOLLOW_UPS)
                # Without events, the slow safety re-read (a broker outage, an event missed on reconnect).
                wait = follow_ups.pop(0) if follow_ups else runtime.settings.GRAPHQL_SUBSCRIPTION_REREAD_SECONDS
                await watch.wait(min(wait, max(deadline - loop.time(), 0.0)))


def build_schema(
    *,
    max_depth: int = 10,
    max_aliases: int = 30,
    max_cost: int = 1000,
    max_list_size: int = 100,
    default_list_size: int = 20,
    trusted_documents: frozenset[str] | None = None,
) -> strawberry.Schema:
    # The limiters' validation rules are made once here, not per request: a limiter builds a new rule
    # class each time it is constructed, and ValidationCache keys its entries on the rule classes, so
    # a per-request limiter would make every validation a cache miss.
    limits = [
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
    ]
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            # Parses and validates through the shared caches (in place of ParserCache and
            # ValidationCache), gives request errors their codes, checks variables, the cost budget
            # and, when configured, the trusted documents. After AddValidationRules: it validates.
            lambda: AddValidationRules(limits),
            lambda: RequestChecks(
                max_cost=max_cost,
                max_list_size=max_list_size,
                default_list_size=default_list_size,
                trusted=trusted_documents,
            ),
            PerOperationLoaders,
            ErrorShaping,
        ],
    )


# For ``strawberry export-schema gateway.schema:schema``; the app builds its own from its settings.
schema = build_schema()
