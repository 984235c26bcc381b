"""The GraphQL enums, registered once here (before any type uses them) from the closed sets the
services define, one definition each: the networks table, share statuses and publish methods (sharing),
decision outcomes (policy's rules), roles (identity), content statuses (content). GraphQL shows their
values upper-case; import the enums from here so their GraphQL descriptions are always attached."""

from __future__ import annotations

import strawberry

from condividi.identity import Role
from condividi.networks import Counting, Network
from services.content.models import ContentStatus
from services.policy.compliance import CapPeriod, RuleKind
from services.policy.models import PolicyStatus
from services.policy.rules import Action, Outcome
from services.sharing.models import PublishMethod, ShareStatus

strawberry.enum(Network, description="The networks employees can share to (the one networks table).")
strawberry.enum(Counting, name="LengthCounting", description="How a network counts a post's length.")
strawberry.enum(ContentStatus, description="A content item's lifecycle.")
strawberry.enum(Outcome, name="DecisionOutcome", description="What the policy decides for a post.")
strawberry.enum(ShareStatus, description="Where a share is in its lifecycle.")
strawberry.enum(
    PublishMethod,
    description="INTENT: the employee posts through the network's share link; API: from a connected account.",
)
strawberry.enum(Role, description="What a person may do in the org.")
strawberry.enum(PolicyStatus, description="A policy version is a DRAFT (admins only) until PUBLISHED.")
strawberry.enum(
    Action,
    name="RuleAction",
    description="What a finding does: REJECT the post, send it to REVIEW (a person decides), or WARN (never blocks).",
)
strawberry.enum(RuleKind, name="ComplianceRuleKind", description="What a compliance rule checks.")
strawberry.enum(CapPeriod, description="DAY: any 24 hours; WEEK: any 7 days.")

__all__ = [
    "Action",
    "CapPeriod",
    "ContentStatus",
    "Counting",
    "Network",
    "Outcome",
    "PolicyStatus",
    "PublishMethod",
    "Role",
    "RuleKind",
    "ShareStatus",
]
