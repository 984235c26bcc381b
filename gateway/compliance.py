"""The compliance rules in GraphQL (issue 8): the ``ComplianceRule`` node, the reviewers' and admins'
``complianceRules`` connection, and the admins' create, replace and delete mutations. ``Query`` and
``Mutation`` in ``gateway/schema.py`` inherit ``ComplianceQuery`` and ``ComplianceMutation``.

The policy service decides who may do what and refuses a rule that cannot work (an empty phrase, a
pattern that does not compile or runs too long, one that would block every post, overlapping quiet
periods); its reasons come back as ``ValidationError``s at the input field concerned.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any, TypeVar

import strawberry

from gateway.enums import Action, CapPeriod, Network, RuleKind
from gateway.payloads import InputPaths, UserError, attempt, invalid
from gateway.relay import (
    Connection,
    KeysetList,
    Node,
    global_id_of,
    keyset_connection,
    page_request,
    service_page,
    to_global_id,
)
from gateway.types import Info, absent_is_null, resolver
from services.policy.compliance_models import ComplianceRulePublic


@strawberry.type(
    description="A rule the org's admins configured: its kind, what it does when it meets a post, the message the "
    "employee sees, where it applies (null: everywhere), and the fields of its kind (null for the other kinds)."
)
class ComplianceRule(Node):
    kind: RuleKind
    action: Action
    message: str = strawberry.field(description="Empty: the kind's own words, which name what was found.")
    network: Network | None
    campaign_id: str | None = strawberry.field(description="The campaign's id as content names it.")
    team_id: strawberry.ID | None = strawberry.field(description="The Team's global id.")
    phrases: list[str] | None
    pattern: str | None
    case_sensitive: bool | None
    allowed_domains: list[str] | None
    blocked_domains: list[str] | None
    max_hashtags: int | None
    max_mentions: int | None
    required_hashtags: list[str] | None
    forbidden_hashtags: list[str] | None
    starts_on: date | None
    ends_on: date | None
    time_zone: str | None
    max_shares: int | None
    period: CapPeriod | None
    per_network: bool | None
    minimum_personal_touch: float | None
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, data: ComplianceRulePublic) -> ComplianceRule:
        fields = data.model_dump(exclude={"id", "network", "campaign_id", "team_id"})
        return cls(
            id=to_global_id("ComplianceRule", data.id),
            network=Network(data.network) if data.network is not None else None,
            campaign_id=str(data.campaign_id) if data.campaign_id is not None else None,
            team_id=to_global_id("Team", data.team_id) if data.team_id is not None else None,
            **fields,
        )


async def _compliance_rule(info: Info, raw: uuid.UUID) -> Node | None:
    data = await absent_is_null(info.context.services.policy.get_compliance_rule(raw))
    return ComplianceRule.from_model(data) if data is not None else None


FETCHERS = {"ComplianceRule": _compliance_rule}

# --- inputs and payloads -------------------------------------------------------------------------


@strawberry.input(description="A rule: its kind, action and scope, and the fields of its kind only.")
class ComplianceRuleInput:
    kind: RuleKind
    action: Action
    message: str = strawberry.field(default="", description="What the employee is told; empty: the kind's words.")
    network: Network | None = None
    campaign_id: str | None = strawberry.field(default=None, description="Only shares of this campaign (its id).")
    team_id: strawberry.ID | None = strawberry.field(default=None, description="Only members of this team.")
    phrases: list[str] | None = strawberry.field(
        default=None, description="PHRASES: words or phrases, matched as whole words ignoring case and accents."
    )
    pattern: str | None = strawberry.field(default=None, description="PATTERN: a regular expression.")
    case_sensitive: bool | None = None
    allowed_domains: list[str] | None = strawberry.field(default=None, description="LINKS: only these domains.")
    blocked_domains: list[str] | None = None
    max_hashtags: int | None = strawberry.field(default=None, description="HASHTAGS: at most this many.")
    max_mentions: int | None = None
    required_hashtags: list[str] | None = None
    forbidden_hashtags: list[str] | None = None
    starts_on: date | None = strawberry.field(default=None, description="QUIET_PERIOD: the first day.")
    ends_on: date | None = strawberry.field(default=None, description="QUIET_PERIOD: the last day (included).")
    time_zone: str | None = strawberry.field(default=None, description="QUIET_PERIOD: the org's IANA time zone.")
    max_shares: int | None = strawberry.field(default=None, description="CAP: at most this many shares a period.")
    period: CapPeriod | None = None
    per_network: bool | None = None
    minimum_personal_touch: float | None = strawberry.field(
        default=None, description="PERSONAL_TOUCH: 0 to 1, the least share of the post in the employee's words."
    )


@strawberry.input
class CreateComplianceRuleInput:
    rule: ComplianceRuleInput


@strawberry.input
class ReplaceComplianceRuleInput:
    id: strawberry.ID = strawberry.field(description="The ComplianceRule's global id.")
    rule: ComplianceRuleInput


@strawberry.input
class DeleteComplianceRuleInput:
    id: strawberry.ID = strawberry.field(description="The ComplianceRule's global id.")


@strawberry.type
class CreateComplianceRulePayload:
    compliance_rule: ComplianceRule | None
    errors: list[UserError]


@strawberry.type
class ReplaceComplianceRulePayload:
    compliance_rule: ComplianceRule | None
    errors: list[UserError]


@strawberry.type
class DeleteComplianceRulePayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The global id of the rule removed.")
    errors: list[UserError]


# --- operations ---------------------------------------------------------------------------------

COMPLIANCE_RULES = KeysetList[ComplianceRulePublic]("complianceRules", lambda r: r.created_at, lambda r: r.id)

_Resolver = TypeVar("_Resolver", bound=Callable[..., Awaitable[Any]])


def mutation(description: str) -> Callable[[_Resolver], _Resolver]:
    decorator: Callable[[_Resolver], _Resolver] = strawberry.mutation(description=description)
    return decorator


# The service's names for the rule's fields, under ``rule`` in the input.
_PATHS = InputPaths(renames={"rule_id": "id"}, not_found=("input", "id"))


def _fields(rule: ComplianceRuleInput) -> tuple[dict[str, Any], list[UserError]]:
    """The REST body of ``rule``, or why not (a team id that is not a Team's global id)."""
    values = {name: getattr(rule, name) for name in ComplianceRuleInput.__annotations__}
    errors: list[UserError] = []
    if rule.team_id is not None:
        team = global_id_of("Team", rule.team_id)
        if team is None:
            errors += invalid(["input", "rule", "teamId"], "is not the global id of a Team")
        values["team_id"] = team
    for name in ("kind", "action", "network", "period"):
        if values[name] is not None:
            values[name] = values[name].value
    if values["team_id"] is not None:
        values["team_id"] = str(values["team_id"])
    return values, errors


def _under_rule(errors: list[UserError]) -> list[UserError]:
    """The service's field names sit under ``input.rule`` in GraphQL."""
    for error in errors:
        path = getattr(error, "path", None)
        if path and path[:1] == ["input"] and path[1:2] not in (["id"], ["rule"]):
            error.path = ["input", "rule", *path[1:]]
    return errors


@strawberry.type
class ComplianceQuery:
    @resolver("The org's compliance rules, oldest first (reviewers and admins; null for anyone else).")
    async def compliance_rules(
        self,
        info: Info,
        kind: RuleKind | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[ComplianceRule] | None:
        request = page_request(COMPLIANCE_RULES.connection, first=first, after=after, last=last, before=before)
        page = await absent_is_null(
            info.context.services.policy.compliance_rules(
                service_page(request, COMPLIANCE_RULES), kind.value if kind is not None else None
            )
        )
        if page is None:
            return None
        return keyset_connection(request, page.items, page.next_cursor, COMPLIANCE_RULES, ComplianceRule.from_model)


@strawberry.type
class ComplianceMutation:
    @mutation(
        "Adds a compliance rule (admins). One that cannot work or would block every post is refused with the reason "
        "at the field concerned, and nothing is saved."
    )
    async def create_compliance_rule(self, info: Info, input: CreateComplianceRuleInput) -> CreateComplianceRulePayload:
        fields, errors = _fields(input.rule)
        if errors:
            return CreateComplianceRulePayload(compliance_rule=None, errors=errors)
        data, errors = await attempt(info.context.services.policy.create_compliance_rule(fields), _PATHS)
        rule = ComplianceRule.from_model(data) if data is not None else None
        return CreateComplianceRulePayload(compliance_rule=rule, errors=_under_rule(errors))

    @mutation("Replaces a compliance rule whole (admins), with the same checks as on creation.")
    async def replace_compliance_rule(
        self, info: Info, input: ReplaceComplianceRuleInput
    ) -> ReplaceComplianceRulePayload:
        raw = global_id_of("ComplianceRule", input.id)
        fields, errors = _fields(input.rule)
        if raw is None:
            errors = invalid(["input", "id"], "is not the global id of a ComplianceRule") + errors
        if errors or raw is None:
            return ReplaceComplianceRulePayload(compliance_rule=None, errors=errors)
        data, errors = await attempt(info.context.services.policy.replace_compliance_rule(raw, fields), _PATHS)
        rule = ComplianceRule.from_model(data) if data is not None else None
        return ReplaceComplianceRulePayload(compliance_rule=rule, errors=_under_rule(errors))

    @mutation("Removes a compliance rule (admins): shares decided from now on are not judged by it.")
    async def delete_compliance_rule(self, info: Info, input: DeleteComplianceRuleInput) -> DeleteComplianceRulePayload:
        raw = global_id_of("ComplianceRule", input.id)
        if raw is None:
            return DeleteComplianceRulePayload(
                deleted_id=None, errors=invalid(["input", "id"], "is not the global id of a ComplianceRule")
            )
        _, errors = await attempt(info.context.services.policy.delete_compliance_rule(raw), _PATHS)
        return DeleteComplianceRulePayload(deleted_id=None if errors else input.id, errors=errors)
