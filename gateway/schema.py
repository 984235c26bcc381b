"""The GraphQL schema the frontends use: Query, Mutation and Subscription, assembled here from the types
in ``gateway/types.py`` (objects and enums), ``gateway/relay.py`` (global ids, connections),
``gateway/inputs.py`` and ``gateway/payloads.py`` (mutations). Every field is answered by a service's
REST API, called with the caller's token; the services decide who may do what (the gateway only checks
that a caller is authenticated). ``gateway/schema.graphql`` is this schema printed (``make schema``).

Conventions (docs/graphql.md): Python names are snake_case, GraphQL names camelCase (strawberry
converts); every resolver is ``async def`` (a synchronous one would block the event loop,
engineering.md trap 1); objects are Relay ``Node``s with opaque global ids; lists are cursor
connections; mutations take one ``input`` and answer a payload with typed user errors; other errors
carry ``extensions {code, status, details}`` (see ``gateway/errors.py``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import AddValidationRules, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from gateway import live, roster
from gateway.audit import AuditMutation, AuditQuery
from gateway.campaigns import (
    CAMPAIGN_FETCHERS,
    FEED,
    CampaignsMutation,
    CampaignsQuery,
    ranked_connection,
    ranked_page,
)
from gateway.captions import CaptionsMutation
from gateway.clients import Services
from gateway.compliance import FETCHERS as COMPLIANCE_FETCHERS
from gateway.compliance import ComplianceMutation, ComplianceQuery
from gateway.enums import Network, Outcome, ShareStatus
from gateway.errors import GatewayError, validation_failed
from gateway.execution import GatewayExecutionContext
from gateway.governance import FETCHERS as GOVERNANCE_FETCHERS
from gateway.governance import GovernanceMutation, GovernanceQuery
from gateway.inputs import (
    CreateContentItemInput,
    CreateMemberInput,
    CreateSocialAccountInput,
    CreateTeamInput,
    DeleteSocialAccountInput,
    PublishContentItemInput,
    ShareContentInput,
)
from gateway.library import LibraryMutation, LibraryQuery
from gateway.limits import DocumentLimits, depth_and_alias_rule
from gateway.loaders import PerOperationLoaders
from gateway.payloads import (
    USER_ERROR_TYPES,
    ConflictError,
    CreateContentItemPayload,
    CreateMemberPayload,
    CreateSocialAccountPayload,
    CreateTeamPayload,
    DeleteSocialAccountPayload,
    InputPaths,
    PolicyRejectedError,
    PublishContentItemPayload,
    ShareContentPayload,
    UserError,
    ValidationError,
    attempt,
    invalid,
    user_errors,
)
from gateway.previews import PreviewsMutation
from gateway.protocol import RequestChecks
from gateway.relay import (
    MAX_NODES,
    Connection,
    KeysetList,
    Node,
    from_global_id,
    global_id_of,
    keyset_connection,
    list_connection,
    page_request,
    service_page,
    to_global_id,
)
from gateway.roster import (
    DeactivateMemberInput,
    DeactivateMemberPayload,
    IssueProvisioningTokenInput,
    IssueProvisioningTokenPayload,
    ProvisioningToken,
)
from gateway.suggestions import FETCHERS as SUGGESTION_FETCHERS
from gateway.suggestions import SuggestionsMutation, SuggestionsQuery
from gateway.types import (
    NODE_FETCHERS,
    REACH_NOTE,
    ContentItem,
    Info,
    Me,
    Member,
    NetworkInfo,
    OrgSummary,
    PolicyCheck,
    Share,
    SocialAccount,
    Team,
    Violation,
    network_infos,
    resolver,
)
from services.policy.models import MemberPublic, TeamPublic
from services.sharing.models import SharePublic

log = logging.getLogger(__name__)

__all__ = ["REACH_NOTE", "build_schema", "schema", "shape_error"]

_Resolver = TypeVar("_Resolver", bound=Callable[..., Awaitable[Any]])
_Watcher = TypeVar("_Watcher", bound=Callable[..., AsyncGenerator[Any, None]])
_Result = TypeVar("_Result")


def mutation(description: str) -> Callable[[_Resolver], _Resolver]:
    """``@mutation(...)``, typed for mypy."""
    decorator: Callable[[_Resolver], _Resolver] = strawberry.mutation(description=description)
    return decorator


def subscription(description: str) -> Callable[[_Watcher], _Watcher]:
    """``@subscription(...)``, typed for mypy."""
    decorator: Callable[[_Watcher], _Watcher] = strawberry.subscription(description=description)
    return decorator


# --- lists ---------------------------------------------------------------------------------------

MY_SHARES = KeysetList[SharePublic]("myShares", lambda s: s.created_at, lambda s: s.id)
TEAMS = KeysetList[TeamPublic]("teams", lambda t: t.created_at, lambda t: t.id)
MEMBERS = KeysetList[MemberPublic]("members", lambda m: m.created_at, lambda m: m.id)


def parse_id(value: str, type_name: str, field: str = "id") -> uuid.UUID:
    """For arguments that must name an object of one type (not ``node``): anything else is the
    client's mistake, refused before any call."""
    raw = global_id_of(type_name, value)
    if raw is None:
        raise validation_failed(field, f"is not the global id of a {type_name}")
    return raw


async def fetch_node(info: Info, value: str) -> Node | None:
    """The object a global id names, or null: a malformed id, an unknown one and another org's all
    answer null alike."""
    decoded = from_global_id(value)
    if decoded is None:
        return None
    fetch = NODE_FETCHERS.get(decoded[0])
    return await fetch(info, decoded[1]) if fetch is not None else None


async def fetch_node_of(info: Info, type_name: str, value: str) -> Node | None:
    """Like ``node``, for a root field of one type: an id of another type is a miss too."""
    info.context.require_caller()
    raw = global_id_of(type_name, value)
    return await NODE_FETCHERS[type_name](info, raw) if raw is not None else None


# --- operations ---------------------------------------------------------------------------------


NODE_FETCHERS.update(GOVERNANCE_FETCHERS)
NODE_FETCHERS.update(CAMPAIGN_FETCHERS)
NODE_FETCHERS.update(COMPLIANCE_FETCHERS)
NODE_FETCHERS.update(SUGGESTION_FETCHERS)


@strawberry.type
class Query(GovernanceQuery, AuditQuery, LibraryQuery, CampaignsQuery, ComplianceQuery, SuggestionsQuery):
    @resolver("Refetches any object by its global id. Null when there is none the caller may see.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        info.context.require_caller()
        return await fetch_node(info, id)

    @resolver(f"Several objects by their global ids (at most {MAX_NODES}), in the order asked; null for each miss.")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        info.context.require_caller()
        if len(ids) > MAX_NODES:
            raise validation_failed("ids", f"at most {MAX_NODES} ids at once")
        return list(await asyncio.gather(*(fetch_node(info, i) for i in ids)))

    @resolver("Who the token says the caller is, and their roster entry.")
    async def me(self, info: Info) -> Me | None:
        caller = info.context.require_caller()
        return Me(
            subject=caller.subject,
            org_id=strawberry.ID(str(caller.org_id)),
            token_roles=caller.roles,
            name=caller.name,
            email=caller.email,
        )

    @resolver("The networks employees can share to, with their limits and how they are shared to.")
    async def networks(self, info: Info) -> list[NetworkInfo]:
        info.context.require_caller()
        return network_infos()

    @resolver(
        "The caller's feed: published items for them (their audience and their campaign's), pinned first, then "
        "by campaign priority, then newest; items the caller already shared come last (`sharedByMe`). "
        "`topic` and `campaignId` narrow it."
    )
    async def feed(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        topic: str | None = None,
        campaign_id: strawberry.ID | None = None,
    ) -> Connection[ContentItem] | None:
        request = page_request(FEED, first=first, after=after, last=last, before=before)
        campaign = parse_id(campaign_id, "Campaign", "campaignId") if campaign_id is not None else None
        page = await info.context.services.content.feed(ranked_page(request), topic=topic, campaign_id=campaign)
        return ranked_connection(request, page.items, page.next_cursor, ContentItem.from_model)

    @resolver("One content item (drafts only for curators and admins); null when the caller cannot see it.")
    async def content_item(self, info: Info, id: strawberry.ID) -> ContentItem | None:
        node = await fetch_node_of(info, "ContentItem", id)
        return node if isinstance(node, ContentItem) else None

    @resolver("One share: the caller's own, or any in the org for reviewers and admins; else null.")
    async def share(self, info: Info, id: strawberry.ID) -> Share | None:
        node = await fetch_node_of(info, "Share", id)
        return node if isinstance(node, Share) else None

    @resolver("The caller's own shares, newest first; of one content item with `contentId`.")
    async def my_shares(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        content_id: strawberry.ID | None = None,
    ) -> Connection[Share] | None:
        request = page_request(MY_SHARES.connection, first=first, after=after, last=last, before=before)
        content = parse_id(content_id, "ContentItem", "contentId") if content_id is not None else None
        page = await info.context.services.sharing.my_shares(service_page(request, MY_SHARES), content_id=content)
        return keyset_connection(request, page.items, page.next_cursor, MY_SHARES, Share.from_model)

    @resolver("The caller's accounts on the networks, by network name.")
    async def social_accounts(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[SocialAccount] | None:
        request = page_request("socialAccounts", first=first, after=after, last=last, before=before)
        items = await info.context.services.sharing.my_connections()
        ordered = sorted(items, key=lambda c: (c.network, str(c.id)))
        return list_connection(request, ordered, lambda c: c.network, SocialAccount.from_model)

    @resolver("The org's teams, oldest first.")
    async def teams(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Team] | None:
        request = page_request(TEAMS.connection, first=first, after=after, last=last, before=before)
        page = await info.context.services.policy.teams(service_page(request, TEAMS))
        return keyset_connection(request, page.items, page.next_cursor, TEAMS, Team.from_model)

    @resolver("The org's roster, oldest first (admins and managers).")
    async def members(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Member] | None:
        request = page_request(MEMBERS.connection, first=first, after=after, last=last, before=before)
        page = await info.context.services.policy.members(service_page(request, MEMBERS))
        return keyset_connection(request, page.items, page.next_cursor, MEMBERS, Member.from_model)

    @resolver(
        "Checks a post against the org's policy while it is being written: every finding with its action and span. "
        "`requiredDisclosure` and `personalTouch` are what the share will carry (the item's campaign disclosure, "
        "the caption score), so the check judges them as the decision will."
    )
    async def check_post(
        self,
        info: Info,
        network: Network,
        text: str,
        url: str | None = None,
        required_disclosure: str | None = None,
        personal_touch: float | None = None,
    ) -> PolicyCheck | None:
        try:
            data = await info.context.services.policy.check(
                network=network.value,
                text=text,
                url=url,
                required_disclosure=required_disclosure,
                personal_touch=personal_touch,
            )
        except GatewayError as exc:
            raise in_argument_terms(exc) from exc
        return PolicyCheck.from_model(data)

    @resolver("The org's totals: shares, clicks and potential reach (admins, managers, curators).")
    async def org_summary(self, info: Info) -> OrgSummary | None:
        return OrgSummary.from_model(await info.context.services.metrics.summary())

    @resolver("The org's SCIM provisioning tokens, oldest first, without their secrets (admins).")
    async def provisioning_tokens(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[ProvisioningToken] | None:
        request = page_request("provisioningTokens", first=first, after=after, last=last, before=before)
        items = await roster.provisioning_tokens(info)
        return list_connection(request, items, roster.token_position, ProvisioningToken.from_model)


# An Idempotency-Key is 1-255 visible ASCII characters (contract 2 of issue 5).
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


@strawberry.type
class Mutation(
    GovernanceMutation,
    PreviewsMutation,
    AuditMutation,
    LibraryMutation,
    CampaignsMutation,
    ComplianceMutation,
    CaptionsMutation,
    SuggestionsMutation,
):
    @mutation("Creates a draft (curators and admins), pinned if `pin` is given.")
    async def create_content_item(self, info: Info, input: CreateContentItemInput) -> CreateContentItemPayload:
        services = info.context.services
        pin = {"position": input.pin.position, "pinned_until": input.pin.pinned_until} if input.pin else None
        data, errors = await attempt(
            services.content.create_item(
                title=input.title,
                url=input.url,
                summary=input.summary,
                suggested_caption=input.suggested_caption,
                topics=input.topics,
                image_url=input.image_url,
                image_alt=input.image_alt,
                expires_at=input.expires_at,
                pin=pin,
            ),
            InputPaths(),
        )
        item = ContentItem.from_model(data) if data is not None else None
        return CreateContentItemPayload(content_item=item, errors=errors)

    @mutation("Publishes a draft to the employees' feeds now, or schedules it at `publishAt` (curators and admins).")
    async def publish_content_item(self, info: Info, input: PublishContentItemInput) -> PublishContentItemPayload:
        services = info.context.services
        paths = InputPaths(renames={"item_id": "id"}, not_found=("input", "id"))
        raw = global_id_of("ContentItem", input.id)
        if raw is None:
            return PublishContentItemPayload(content_item=None, errors=not_a("ContentItem", ["input", "id"]))
        data, errors = await attempt(services.content.publish_item(raw, publish_at=input.publish_at), paths)
        item = ContentItem.from_model(data) if data is not None else None
        return PublishContentItemPayload(content_item=item, errors=errors)

    @mutation(
        "Submits a share in the employee's own words. The post is checked against the policy first: a post the "
        "policy refuses answers PolicyRejectedError and records nothing. Otherwise the share starts "
        "PENDING_POLICY and the policy's decision follows (subscribe to `shareUpdated`)."
    )
    async def share_content(self, info: Info, input: ShareContentInput) -> ShareContentPayload:
        services = info.context.services
        content_id = global_id_of("ContentItem", input.content_id)
        errors: list[UserError] = []
        if content_id is None:
            errors += not_a("ContentItem", ["input", "contentId"])
        if not input.text.strip():
            errors += invalid(["input", "text"], "the text is empty or blank: write the post in your own words")
        if input.idempotency_key is not None and not _IDEMPOTENCY_KEY.match(input.idempotency_key):
            errors += invalid(["input", "idempotencyKey"], "must be 1-255 visible ASCII characters")
        if errors or content_id is None:
            return ShareContentPayload(share=None, errors=errors)
        paths = InputPaths(
            renames={"content_id": "contentId", "idempotency-key": "idempotencyKey"},
            not_found=("input", "contentId"),
        )
        check, errors = await attempt(
            services.policy.check(network=input.network.value, text=input.text, url=None), paths
        )
        if check is not None and check.outcome == Outcome.REJECTED:
            violations = [Violation.from_model(v) for v in check.violations]
            refusal = PolicyRejectedError(
                message="the policy refuses this post", path=["input", "text"], violations=violations
            )
            return ShareContentPayload(share=None, errors=[refusal])
        if errors:
            return ShareContentPayload(share=None, errors=errors)
        try:
            data = await services.sharing.create_share(
                content_id=content_id,
                network=input.network.value,
                text=input.text,
                idempotency_key=input.idempotency_key,
            )
        except GatewayError as exc:
            return ShareContentPayload(share=None, errors=await share_refused(info, exc, paths))
        return ShareContentPayload(share=Share.from_model(data), errors=[])

    @mutation("Declares the caller's account on a network and its audience (the potential reach of their shares).")
    async def create_social_account(self, info: Info, input: CreateSocialAccountInput) -> CreateSocialAccountPayload:
        services = info.context.services
        data, errors = await attempt(
            services.sharing.create_connection(
                network=input.network.value, handle=input.handle, audience_size=input.audience_size
            ),
            InputPaths(),
        )
        connection = SocialAccount.from_model(data) if data is not None else None
        if any(isinstance(e, ConflictError) for e in errors):
            errors = await connection_conflict(services, input.network, errors)
        return CreateSocialAccountPayload(social_account=connection, errors=errors)

    @mutation("Revokes one of the caller's connections at once; the employee owns their accounts.")
    async def delete_social_account(self, info: Info, input: DeleteSocialAccountInput) -> DeleteSocialAccountPayload:
        services = info.context.services
        raw = global_id_of("SocialAccount", input.id)
        if raw is None:
            return DeleteSocialAccountPayload(deleted_id=None, errors=not_a("SocialAccount", ["input", "id"]))
        paths = InputPaths(renames={"connection_id": "id"}, not_found=("input", "id"))
        _, errors = await attempt(services.sharing.delete_connection(raw), paths)
        deleted = None if errors else to_global_id("SocialAccount", raw)
        return DeleteSocialAccountPayload(deleted_id=deleted, errors=errors)

    @mutation("Adds a team to the org's roster (admins).")
    async def create_team(self, info: Info, input: CreateTeamInput) -> CreateTeamPayload:
        data, errors = await refused(
            info, info.context.services.policy.create_team(name=input.name), InputPaths(), "Team", ["input", "name"]
        )
        return CreateTeamPayload(team=Team.from_model(data) if data is not None else None, errors=errors)

    @mutation("Adds a person to the org's roster (admins).")
    async def create_member(self, info: Info, input: CreateMemberInput) -> CreateMemberPayload:
        services = info.context.services
        team_id = None
        if input.team_id is not None:
            team_id = global_id_of("Team", input.team_id)
            if team_id is None:
                return CreateMemberPayload(member=None, errors=not_a("Team", ["input", "teamId"]))
        paths = InputPaths(renames={"team_id": "teamId"}, not_found=("input", "teamId"))
        data, errors = await refused(
            info,
            services.policy.create_member(
                subject=input.subject,
                email=input.email,
                name=input.name,
                team_id=team_id,
                roles=[role.value for role in input.roles],
            ),
            paths,
            "Member",
            ["input", "subject"],
        )
        return CreateMemberPayload(member=Member.from_model(data) if data is not None else None, errors=errors)

    @mutation(
        "Offboards a member at once (admins): every service refuses their token from the next event, "
        "their social connections are deleted and their shares waiting for a decision are rejected."
    )
    async def deactivate_member(self, info: Info, input: DeactivateMemberInput) -> DeactivateMemberPayload:
        return await roster.deactivate_member(info, input)

    @mutation(
        "Issues a provisioning token for the org's identity provider (admins), or rotates one (`replaces`): "
        "the secret is in this answer only."
    )
    async def issue_provisioning_token(
        self, info: Info, input: IssueProvisioningTokenInput
    ) -> IssueProvisioningTokenPayload:
        return await roster.issue_provisioning_token(info, input)


def in_argument_terms(exc: GatewayError) -> GatewayError:
    """A service's 422 on a query's field names the field's arguments (``["url"]``), not the REST body
    it was sent in (``["body", "url"]``)."""
    if exc.status != 422 or not exc.details:
        return exc
    details = [{**d, "loc": InputPaths().of(d.get("loc", []))[1:]} for d in exc.details]
    return GatewayError(exc.code, exc.message, status=exc.status, details=details)


def not_a(type_name: str, path: list[str]) -> list[UserError]:
    return invalid(path, f"is not the global id of a {type_name}")


async def named_conflict(info: Info, exc: GatewayError, type_name: str, path: list[str] | None) -> list[UserError]:
    """A 409 as a ConflictError naming the existing object the service named (fetched, so that a client
    can show it), at the input field that clashes."""
    existing = None
    if exc.conflicting_id is not None:
        try:
            existing = await fetch_node(info, to_global_id(type_name, uuid.UUID(exc.conflicting_id)))
        except ValueError:
            existing = None
    return [ConflictError(message=exc.message, path=path, code=exc.code, conflicting=existing)]


async def refused(
    info: Info, call: Awaitable[_Result], paths: InputPaths, type_name: str, conflict_path: list[str]
) -> tuple[_Result | None, list[UserError]]:
    """``attempt``, with a conflict naming the existing object."""
    try:
        return await call, []
    except GatewayError as exc:
        if exc.status == 409:
            return None, await named_conflict(info, exc, type_name, conflict_path)
        return None, user_errors(exc, paths)


async def share_refused(info: Info, exc: GatewayError, paths: InputPaths) -> list[UserError]:
    """Sharing's refusals as user errors: a duplicate names the existing share, a reused idempotency key
    is the key's fault."""
    if exc.code == "idempotency_key_reused":
        return [ValidationError(message=exc.message, path=["input", "idempotencyKey"], code=exc.code)]
    if exc.status == 409:
        return await named_conflict(info, exc, "Share", None)
    return user_errors(exc, paths)


async def connection_conflict(services: Services, network: Network, errors: list[UserError]) -> list[UserError]:
    """A second connection to a network: the conflict names the caller's existing one (sharing allows
    one a network, so the caller's connections say which), at the input field that clashes."""
    try:
        mine = await services.sharing.my_connections()
    except GatewayError:
        mine = []
    existing = next((SocialAccount.from_model(c) for c in mine if c.network == network.value), None)
    return [
        ConflictError(message=e.message, path=["input", "network"], code=e.code, conflicting=existing)
        if isinstance(e, ConflictError)
        else e
        for e in errors
    ]


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
    refuses gets ``GRAPHQL_PARSE_FAILED`` or ``GRAPHQL_VALIDATION_FAILED`` (gateway/protocol.py's
    codes); anything else (a bug) becomes ``internal`` with a fixed message, the schema having logged it
    with its traceback. Idempotent."""
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
        code = "GRAPHQL_PARSE_FAILED" if parse_failed else "GRAPHQL_VALIDATION_FAILED"
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
    """The schema with the document limits it enforces (the HTTP endpoint checks them before parsing)."""

    limits: DocumentLimits = DocumentLimits()

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
        share_id = parse_id(id, "Share")
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
                    share = Share.from_model(await services.sharing.get_share(share_id))
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
    max_document_bytes: int = DocumentLimits.max_bytes,
    max_tokens: int = DocumentLimits.max_tokens,
    max_fragment_spreads: int = DocumentLimits.max_fragment_spreads,
    trusted_documents: frozenset[str] | None = None,
    unauthenticated_introspection: bool = True,
    field_suggestions: bool = True,
) -> GatewaySchema:
    limits = DocumentLimits(
        max_bytes=max_document_bytes,
        max_tokens=max_tokens,
        max_fragment_spreads=max_fragment_spreads,
        max_depth=max_depth,
        max_aliases=max_aliases,
    )
    # The rule class is made once here, not per request: the validation cache keys its entries on the
    # rule classes, so a class per request would make every validation a miss.
    rules: list[type[ASTValidationRule]] = [depth_and_alias_rule(max_depth, max_aliases)]
    schema = GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # Reached only through the UserError interface, so named here.
        types=list(USER_ERROR_TYPES),
        # Suggestions are also left out of validation and variable errors by RequestChecks.
        config=StrawberryConfig(disable_field_suggestions=not field_suggestions),
        # Frees each operation's objects when it ends instead of leaving them to the garbage collector.
        execution_context_class=GatewayExecutionContext,
        extensions=[
            # Parses and validates through the shared caches (in place of ParserCache and
            # ValidationCache) within the document limits, gives request errors their codes, checks
            # variables, introspection, the cost budget and, when configured, the trusted documents.
            # After AddValidationRules: it validates.
            lambda: AddValidationRules(rules),
            lambda: RequestChecks(
                max_cost=max_cost,
                max_list_size=max_list_size,
                default_list_size=default_list_size,
                limits=limits,
                trusted=trusted_documents,
                unauthenticated_introspection=unauthenticated_introspection,
                field_suggestions=field_suggestions,
            ),
            PerOperationLoaders,
            ErrorShaping,
        ],
    )
    schema.limits = limits
    return schema


# For ``strawberry export-schema gateway.schema:schema``; the app builds its own from its settings.
schema = build_schema()
