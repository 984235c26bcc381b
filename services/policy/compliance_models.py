"""The compliance rules' record and the shapes their API reads and answers (issue 8)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator
from pydantic import Field as PydanticField
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from condividi.networks import SupportedNetwork
from condividi.validation import SingleLine, StoredText
from services.policy import compliance
from services.policy.compliance import CapPeriod, RuleKind
from services.policy.rules import Action

MAX_LIST = 500
Phrase = Annotated[str, StringConstraints(max_length=200), SingleLine]
Domain = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=253), SingleLine]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), SingleLine]


class ComplianceRuleRecord(SQLModel, table=True):
    """A rule an admin configured. ``config`` holds the fields of its kind (``CONFIG_FIELDS``)."""

    __tablename__ = "compliance_rules"
    __table_args__ = (sa.Index("compliance_rules_page", "org_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID
    kind: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    action: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    message: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    network: str | None = Field(default=None, sa_column=sa.Column(sa.String(32)))
    campaign_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column(sa.Uuid))
    team_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column(sa.Uuid))
    config: dict[str, Any] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False))
    created_by: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


# Which fields of ``ComplianceRuleWrite`` each kind takes (the first ones required).
CONFIG_FIELDS: dict[RuleKind, tuple[tuple[str, ...], tuple[str, ...]]] = {
    RuleKind.PHRASES: (("phrases",), ()),
    RuleKind.PATTERN: (("pattern",), ("case_sensitive",)),
    RuleKind.DISCLOSURE: ((), ()),
    RuleKind.LINKS: ((), ("allowed_domains", "blocked_domains")),
    RuleKind.HASHTAGS: ((), ("max_hashtags", "max_mentions", "required_hashtags", "forbidden_hashtags")),
    RuleKind.QUIET_PERIOD: (("starts_on", "ends_on", "time_zone"), ()),
    RuleKind.CAP: (("max_shares", "period"), ("per_network",)),
    RuleKind.PERSONAL_TOUCH: (("minimum_personal_touch",), ()),
}
ALL_CONFIG_FIELDS = sorted({name for required, optional in CONFIG_FIELDS.values() for name in required + optional})


class ComplianceRuleWrite(BaseModel):
    """A rule as an admin writes it: its kind, what it does, where it applies, and its kind's fields
    (the others must be left out)."""

    model_config = ConfigDict(extra="forbid")

    kind: RuleKind
    action: Action = PydanticField(description="reject, review (a person decides) or warn (never blocks).")
    message: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), StoredText] = PydanticField(
        default="", description="What the employee is told; empty: the kind's own words, which name what was found."
    )
    network: SupportedNetwork | None = PydanticField(default=None, description="Only posts for this network.")
    campaign_id: uuid.UUID | None = PydanticField(default=None, description="Only shares of this campaign.")
    team_id: uuid.UUID | None = PydanticField(default=None, description="Only members of this team.")
    # phrases
    phrases: list[Phrase] | None = PydanticField(
        default=None,
        max_length=MAX_LIST,
        description="Words or phrases, matched as whole words ignoring case and accents.",
    )
    # pattern
    pattern: Annotated[str, StringConstraints(max_length=1000), StoredText] | None = PydanticField(
        default=None, description="A regular expression (Python `regex` syntax), run with a time limit."
    )
    case_sensitive: bool | None = PydanticField(default=None, strict=True)
    # links
    allowed_domains: list[Domain] | None = PydanticField(
        default=None, max_length=MAX_LIST, description="Links may go only to these domains and their subdomains."
    )
    blocked_domains: list[Domain] | None = PydanticField(default=None, max_length=MAX_LIST)
    # hashtags and mentions
    max_hashtags: int | None = PydanticField(default=None, ge=0, le=100, strict=True)
    max_mentions: int | None = PydanticField(default=None, ge=0, le=100, strict=True)
    required_hashtags: list[Tag] | None = PydanticField(default=None, max_length=50)
    forbidden_hashtags: list[Tag] | None = PydanticField(default=None, max_length=MAX_LIST)
    # quiet period
    starts_on: date | None = PydanticField(default=None, description="First day, in `time_zone`.")
    ends_on: date | None = PydanticField(default=None, description="Last day (included), in `time_zone`.")
    time_zone: Annotated[str, StringConstraints(max_length=64), SingleLine] | None = PydanticField(
        default=None, description="The org's IANA time zone, e.g. Europe/Rome."
    )
    # cap
    max_shares: int | None = PydanticField(default=None, le=10_000, strict=True)
    period: CapPeriod | None = PydanticField(default=None, description="day: any 24 hours; week: any 7 days.")
    per_network: bool | None = PydanticField(default=None, strict=True)
    # personal touch
    minimum_personal_touch: float | None = PydanticField(
        default=None,
        strict=True,
        description="0 to 1: the least share of the post that must be the employee's own words.",
    )

    @field_validator("starts_on", "ends_on", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        # A date is written "2027-01-20"; a number (which pydantic would read as a Unix time) is refused, as
        # the schema says.
        if isinstance(value, int | float):
            raise ValueError("a date is written YYYY-MM-DD")
        return value


class ComplianceRulePublic(BaseModel):
    id: uuid.UUID
    kind: RuleKind
    action: Action
    message: str
    network: str | None
    campaign_id: uuid.UUID | None
    team_id: uuid.UUID | None
    phrases: list[str] | None = None
    pattern: str | None = None
    case_sensitive: bool | None = None
    allowed_domains: list[str] | None = None
    blocked_domains: list[str] | None = None
    max_hashtags: int | None = None
    max_mentions: int | None = None
    required_hashtags: list[str] | None = None
    forbidden_hashtags: list[str] | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    time_zone: str | None = None
    max_shares: int | None = None
    period: CapPeriod | None = None
    per_network: bool | None = None
    minimum_personal_touch: float | None = None
    created_by: str
    created_at: datetime
    updated_at: datetime


class FindingPublic(BaseModel):
    """One thing a rule found in the post."""

    code: str
    message: str
    action: Action
    start: int | None = PydanticField(
        default=None,
        description="Where the finding starts in `text`, in UTF-16 code units (as JavaScript indexes strings); "
        "null when it concerns the post as a whole.",
    )
    end: int | None = PydanticField(default=None, description="Where it ends (excluded), in UTF-16 code units.")
    rule_id: uuid.UUID | None = PydanticField(default=None, description="The admin's rule; null for built-in rules.")


# --- between the API's shapes, the record and the pure rule -------------------------------------------


def config_problems(body: ComplianceRuleWrite) -> list[dict[str, Any]]:
    """The kind's required fields that are missing and the other kinds' fields that were given."""
    required, optional = CONFIG_FIELDS[body.kind]
    problems: list[dict[str, Any]] = []
    for name in ALL_CONFIG_FIELDS:
        given = getattr(body, name) is not None
        if name in required and not given:
            problems.append({"loc": ["body", name], "message": f"a {body.kind.value} rule needs {name}"})
        elif given and name not in required + optional:
            problems.append({"loc": ["body", name], "message": f"a {body.kind.value} rule takes no {name}"})
    return problems


def config_of(body: ComplianceRuleWrite) -> dict[str, Any]:
    required, optional = CONFIG_FIELDS[body.kind]
    return body.model_dump(mode="json", include=set(required + optional), exclude_none=True)


def rule_of(record: ComplianceRuleRecord) -> compliance.Rule:
    kind = RuleKind(record.kind)
    c = record.config
    config: compliance.Config
    if kind is RuleKind.PHRASES:
        config = compliance.Phrases(tuple(c["phrases"]))
    elif kind is RuleKind.PATTERN:
        config = compliance.Pattern(c["pattern"], bool(c.get("case_sensitive", False)))
    elif kind is RuleKind.DISCLOSURE:
        config = compliance.Disclosure()
    elif kind is RuleKind.LINKS:
        config = compliance.Links(tuple(c.get("allowed_domains", ())), tuple(c.get("blocked_domains", ())))
    elif kind is RuleKind.HASHTAGS:
        config = compliance.Hashtags(
            c.get("max_hashtags"),
            c.get("max_mentions"),
            tuple(c.get("required_hashtags", ())),
            tuple(c.get("forbidden_hashtags", ())),
        )
    elif kind is RuleKind.QUIET_PERIOD:
        config = compliance.QuietPeriod(
            date.fromisoformat(c["starts_on"]), date.fromisoformat(c["ends_on"]), c["time_zone"]
        )
    elif kind is RuleKind.CAP:
        config = compliance.Cap(int(c["max_shares"]), CapPeriod(c["period"]), bool(c.get("per_network", False)))
    else:
        config = compliance.PersonalTouch(float(c["minimum_personal_touch"]))
    return compliance.Rule(
        config=config,
        action=Action(record.action),
        message=record.message,
        network=record.network,
        campaign_id=str(record.campaign_id) if record.campaign_id is not None else None,
        team_id=record.team_id,
        id=record.id,
    )


def public_of(record: ComplianceRuleRecord) -> ComplianceRulePublic:
    return ComplianceRulePublic.model_validate(
        {
            "id": record.id,
            "kind": record.kind,
            "action": record.action,
            "message": record.message,
            "network": record.network,
            "campaign_id": record.campaign_id,
            "team_id": record.team_id,
            "created_by": record.created_by,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
            **record.config,
        }
    )


def finding_public(finding: Any) -> FindingPublic:
    return FindingPublic(
        code=finding.code,
        message=finding.message,
        action=finding.action,
        start=finding.start,
        end=finding.end,
        rule_id=finding.rule_id,
    )
