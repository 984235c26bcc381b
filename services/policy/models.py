"""The policy service's records (share decisions, the roster of teams and members) and the shapes its
API reads and answers."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import (
    BaseModel,
    ConfigDict,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic import Field as PydanticField
from pydantic.networks import AnyHttpUrl
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from condividi.identity import Role
from condividi.networks import SupportedNetwork
from condividi.validation import SingleLine
from services.policy.compliance_models import FindingPublic
from services.policy.rules import Outcome

# --- records ---------------------------------------------------------------------------------------


class ShareDecisionRecord(SQLModel, table=True):
    """What the policy decided about one share; written once, when ``ShareRequested`` arrives."""

    __tablename__ = "share_decisions"
    __table_args__ = (sa.Index("share_decisions_member_recent", "org_id", "member_id", "decided_at"),)

    # The share's id in the sharing service; one decision per share.
    share_id: uuid.UUID = Field(primary_key=True)
    org_id: uuid.UUID = Field(index=True)
    # The employee's OIDC subject, as ``ShareRequested`` carries it.
    member_id: str
    network: str
    outcome: Outcome = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    # The reasons that stop or hold the share (rejects and reviews), as ShareDecision announces them.
    violations: list[dict[str, str]] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False))
    decided_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    # Every finding, warnings included, with its action, span and rule (compliance_models.FindingPublic).
    findings: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )


class Team(SQLModel, table=True):
    __tablename__ = "teams"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "name", name="teams_org_name"),
        # The target of members' (org_id, team_id) foreign key, which keeps a member in its own org's teams.
        sa.UniqueConstraint("org_id", "id", name="teams_org_id"),
        sa.Index("teams_page", "org_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    # Not in the API's Team shape; it orders the keyset pages.
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class Member(SQLModel, table=True):
    """A person of the org's roster, known by the subject their identity provider gives them."""

    __tablename__ = "members"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "subject", name="members_org_subject"),
        sa.ForeignKeyConstraint(["org_id", "team_id"], ["teams.org_id", "teams.id"], name="members_team"),
        sa.Index("members_page", "org_id", "created_at", "id"),
        # SCIM looks people up by userName (case-insensitively), externalId and e-mail.
        sa.Index("members_org_subject_ci", "org_id", sa.text("lower(subject)")),
        sa.Index("members_org_external_id", "org_id", "external_id"),
        sa.Index("members_org_email_ci", "org_id", sa.text("lower(email)")),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID
    subject: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    email: str = Field(sa_column=sa.Column(sa.String(320), nullable=False))
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    team_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column(sa.Uuid))
    roles: list[str] = Field(sa_column=sa.Column(postgresql.ARRAY(sa.String(16)), nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    # --- issue 6: the roster's attributes (migration 0002) ---
    # The identity provider's own key for the person (SCIM externalId, case-exact).
    external_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))
    active: bool = Field(default=True, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.true()))
    # Set by a SCIM DELETE: the member is gone for SCIM (404) but the row stays, deactivated, because
    # shares and clicks elsewhere still name the subject.
    deleted_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    # All the member's teams; ``team_id`` stays the first of them for the older single-team API.
    team_ids: list[uuid.UUID] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.ARRAY(sa.Uuid), nullable=False, server_default="{}"),
    )
    given_name: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    family_name: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    location: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    language: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    time_zone: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    department: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    title: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    employee_number: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    manager_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column(sa.Uuid))
    # Where the member came from ("api", "scim", "csv"): SCIM groups decide the roles of SCIM members only.
    source: str = Field(default="api", sa_column=sa.Column(sa.String(8), nullable=False, server_default="api"))
    # Bumped on every change; SCIM's meta.version and lastModified.
    version: int = Field(default=1, sa_column=sa.Column(sa.Integer, nullable=False, server_default="1"))
    updated_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))


# --- API shapes ------------------------------------------------------------------------------------

# The longest limit is WhatsApp's 65536; a little more still gets a "too long" answer rather than a 422,
# and a request cannot make the check work on megabytes.
MAX_TEXT_LENGTH = 70000
MAX_URL_LENGTH = 2048
# RFC 5321 limits a forward path to 256 octets; 320 (64 local + @ + 255 domain) is the common bound.
MAX_EMAIL_LENGTH = 320

# Valid-ish on purpose: one @, something on each side, a dot in the domain, no spaces. Deliverability is
# the identity provider's business; this only catches what is plainly not an address.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HTTP_URL: TypeAdapter[AnyHttpUrl] = TypeAdapter(AnyHttpUrl)


Printable = SingleLine
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Printable]


class ViolationPublic(BaseModel):
    code: str
    message: str


class PolicyCheckRequest(BaseModel):
    # Only networks of the one table: a live check must never approve a post that sharing would refuse
    # for its network, so an unknown one is a 422 here exactly as on ``POST /shares``.
    network: SupportedNetwork = PydanticField(description="The network the post is for (case and spaces ignored).")
    text: str = PydanticField(max_length=MAX_TEXT_LENGTH, description="The post exactly as the employee wrote it.")
    url: str | None = PydanticField(
        default=None,
        max_length=MAX_URL_LENGTH,
        description="The link that will be appended after one space, if any.",
    )
    # What a share of the item will carry (the feed gives them), so the check judges it as the decision will.
    campaign_id: uuid.UUID | None = PydanticField(default=None, description="The campaign of the item shared, if any.")
    required_disclosure: str = PydanticField(
        default="", max_length=500, description="The campaign's required disclosure (e.g. `#ad`); empty: none."
    )
    personal_touch: float | None = PydanticField(
        default=None,
        ge=0,
        le=1,
        strict=True,
        description="How much of the text is the employee's own (0 to 1); null: not judged.",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        try:
            _HTTP_URL.validate_python(value)
        except ValidationError as exc:
            raise ValueError("the URL must be an http or https URL") from exc
        # The original string, not pydantic's normalised one (which may add a "/"), because its length
        # is what the network counts.
        return value


class PolicyCheckResult(BaseModel):
    allowed: bool
    outcome: Outcome
    violations: list[ViolationPublic] = PydanticField(description="What rejects the post or holds it for review.")
    length: int = PydanticField(description="The length the network counts, the link included.")
    limit: int = PydanticField(description="The network's limit; 0 when the network is not supported.")
    findings: list[FindingPublic] = PydanticField(
        default_factory=list,
        description="Every finding, warnings included, each with its action and its span in `text` "
        "(UTF-16 code units).",
    )


class ShareDecisionPublic(BaseModel):
    share_id: uuid.UUID
    member_id: str
    outcome: Outcome
    violations: list[ViolationPublic]
    decided_at: datetime
    findings: list[FindingPublic] = PydanticField(
        default_factory=list, description="Every finding, warnings included, with its action and span."
    )


class TeamCreate(BaseModel):
    name: Name


class TeamPublic(BaseModel):
    id: uuid.UUID
    name: str
    # Orders the teams' pages (oldest first); the gateway builds its edge cursors from it.
    created_at: datetime


class MemberCreate(BaseModel):
    subject: Annotated[str, Printable] = PydanticField(
        min_length=1, max_length=255, description="The person's `sub` at the identity provider, exactly."
    )
    email: Annotated[str, Printable] = PydanticField(min_length=3, max_length=MAX_EMAIL_LENGTH)
    name: Name
    team_id: uuid.UUID | None = None
    roles: list[Role] = PydanticField(min_length=1, max_length=len(Role))

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        # Kept exactly as given (tokens are matched on it), so blank or padded subjects are refused, not
        # trimmed into something the identity provider never issues.
        if not value.strip() or value != value.strip():
            raise ValueError("the subject is blank or has leading or trailing spaces")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip()
        if not _EMAIL.match(value):
            raise ValueError("not an email address")
        return value

    @field_validator("roles")
    @classmethod
    def _distinct(cls, value: list[Role]) -> list[Role]:
        return list(dict.fromkeys(value))


class MemberPublic(BaseModel):
    id: uuid.UUID
    subject: str
    email: str
    name: str
    team_id: uuid.UUID | None
    roles: list[Role]
    created_at: datetime
    # --- issue 6: the roster's attributes ---
    active: bool = PydanticField(default=True, description="False once deactivated (offboarded).")
    team_ids: list[uuid.UUID] = PydanticField(default_factory=list, description="All the member's teams.")
    location: str | None = None
    language: str | None = None
    time_zone: str | None = None
    department: str | None = None
    title: str | None = None
    manager_id: uuid.UUID | None = None


# --- issue 6: the roster from the identity provider (SCIM groups, provisioning tokens, CSV import) ------


class ScimGroup(SQLModel, table=True):
    """A group as the identity provider pushes it; ``roster.classify_group`` makes it a team or a role."""

    __tablename__ = "scim_groups"
    __table_args__ = (sa.UniqueConstraint("org_id", "display_name", name="scim_groups_org_name"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID = Field(index=True)
    display_name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    external_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))
    # The team this group stands for, when it stands for one.
    team_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column(sa.Uuid))
    version: int = Field(default=1, sa_column=sa.Column(sa.Integer, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class ScimGroupMember(SQLModel, table=True):
    __tablename__ = "scim_group_members"
    __table_args__ = (sa.Index("scim_group_members_member", "member_id"),)

    group_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("scim_groups.id", ondelete="CASCADE"), primary_key=True)
    )
    member_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    org_id: uuid.UUID


class ProvisioningToken(SQLModel, table=True):
    """A bearer token an identity provider uses on ``/scim/v2``; only its SHA-256 is stored."""

    __tablename__ = "provisioning_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID = Field(index=True)
    token_sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    # The last characters, so an admin can tell tokens apart without the secret.
    hint: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))


class RosterMemberPublic(BaseModel):
    """A member with every roster attribute (``GET /api/v1/roster/members``)."""

    id: uuid.UUID
    subject: str
    email: str
    name: str
    external_id: str | None
    active: bool
    team_id: uuid.UUID | None = PydanticField(description="The first of ``team_ids``, for the single-team API.")
    team_ids: list[uuid.UUID]
    location: str | None
    language: str | None
    time_zone: str | None
    department: str | None
    title: str | None
    employee_number: str | None
    manager_id: uuid.UUID | None
    roles: list[Role]
    source: str
    created_at: datetime


class ProvisioningTokenPublic(BaseModel):
    id: uuid.UUID
    hint: str = PydanticField(description="The token's last characters.")
    created_at: datetime
    revoked_at: datetime | None


class ProvisioningTokenIssued(ProvisioningTokenPublic):
    token: str = PydanticField(description="The secret, shown this once; only its SHA-256 is kept.")


class CsvRowError(BaseModel):
    line: int = PydanticField(description="The line of the file, counting the header as line 1.")
    reason: str


class CsvImportReport(BaseModel):
    dry_run: bool
    applied: bool
    rows: int
    created: int
    updated: int
    unchanged: int
    deactivated: int
    errors: list[CsvRowError]


# --- policies and training (issue 6): records ------------------------------------------------------


class PolicyStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class PolicyVersion(SQLModel, table=True):
    """One version of the org's social-media policy. A draft until published; once published its text
    never changes (acknowledgements point at it), so a change is a new version."""

    __tablename__ = "policy_versions"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "version", name="policy_versions_org_version"),
        sa.Index("policy_versions_page", "org_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID
    version: int
    title: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    content_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    status: PolicyStatus = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    requires_acknowledgement: bool = False
    # Both empty: the acknowledgement is asked of everyone; otherwise of the members of these teams and
    # of those at these locations (matched ignoring case, governance.Target).
    target_team_ids: list[uuid.UUID] = Field(sa_column=sa.Column(postgresql.ARRAY(sa.Uuid), nullable=False))
    target_locations: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.ARRAY(sa.String(200)), nullable=False, server_default="{}"),
    )
    created_by: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    published_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))


class PolicyAcknowledgement(SQLModel, table=True):
    """Who accepted which version (its content hash), when. Written by the member themselves only."""

    __tablename__ = "policy_acknowledgements"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "policy_version_id", "member_subject", name="policy_acknowledgements_once"),
        sa.Index("policy_acknowledgements_member", "org_id", "member_subject"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID
    policy_version_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("policy_versions.id", ondelete="CASCADE"), nullable=False)
    )
    member_subject: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    version: int
    content_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    acknowledged_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class TrainingModule(SQLModel, table=True):
    """Lessons and a quiz. ``questions`` holds the correct options, which no API answer ever carries."""

    __tablename__ = "training_modules"
    __table_args__ = (sa.Index("training_modules_page", "org_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID
    title: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    lessons: list[dict[str, str]] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False))
    # [{"prompt": str, "options": [str], "correct": [int]}]
    questions: list[dict[str, Any]] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False))
    pass_mark: int
    certification_valid_days: int | None = None
    required_for_networks: list[str] = Field(sa_column=sa.Column(postgresql.ARRAY(sa.String(16)), nullable=False))
    created_by: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class QuizAttempt(SQLModel, table=True):
    __tablename__ = "quiz_attempts"
    __table_args__ = (sa.Index("quiz_attempts_member", "org_id", "member_subject", "module_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID
    module_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("training_modules.id", ondelete="CASCADE"), nullable=False)
    )
    member_subject: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    answers: list[list[int]] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False))
    correct: int
    total: int
    score: int
    passed: bool
    submitted_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class Certification(SQLModel, table=True):
    """A member's certification for a module: from their latest passed attempt."""

    __tablename__ = "certifications"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "module_id", "member_subject", name="certifications_once"),
        sa.Index("certifications_member", "org_id", "member_subject"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID
    module_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("training_modules.id", ondelete="CASCADE"), nullable=False)
    )
    member_subject: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    attempt_id: uuid.UUID
    certified_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))


# --- policies and training (issue 6): API shapes ---------------------------------------------------

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Printable]
# A policy or a lesson is a document, not a tweet; 100k characters is far beyond any real one and keeps a
# request from storing megabytes.
Markdown = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
MAX_TARGET_TEAMS = 200
MAX_TARGET_LOCATIONS = 200


class _Strict(BaseModel):
    # An unknown field is refused rather than ignored: a client sending ``member`` or ``subject`` to act
    # for someone else must hear no, not see the field silently dropped.
    model_config = ConfigDict(extra="forbid")


class PolicyVersionCreate(_Strict):
    title: Title
    body: Markdown = PydanticField(description="The policy in Markdown.")

    @field_validator("body")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the policy is empty")
        return value


class PolicyPublish(_Strict):
    requires_acknowledgement: bool = PydanticField(
        default=True, description="Members must accept this version before they can share again."
    )
    team_ids: list[uuid.UUID] = PydanticField(
        default_factory=list,
        max_length=MAX_TARGET_TEAMS,
        description="Ask the members of these teams (and those at `locations`); both empty asks everyone.",
    )
    locations: list[Name] = PydanticField(
        default_factory=list,
        max_length=MAX_TARGET_LOCATIONS,
        description="Ask the members at these locations, as the roster writes them, ignoring case "
        "(and those of `team_ids`); both empty asks everyone.",
    )


class PolicyVersionPublic(BaseModel):
    id: uuid.UUID
    version: int
    title: str
    body: str
    content_hash: str
    status: PolicyStatus
    requires_acknowledgement: bool
    target_team_ids: list[uuid.UUID]
    target_locations: list[str]
    created_at: datetime
    published_at: datetime | None


class AcknowledgementCreate(_Strict):
    policy_version_id: uuid.UUID = PydanticField(description="The version the caller read and accepts.")
    content_hash: str | None = PydanticField(
        default=None,
        max_length=64,
        description="The hash of the text the caller read; refused (409) if the version says otherwise.",
    )


class AcknowledgementPublic(BaseModel):
    id: uuid.UUID
    policy_version_id: uuid.UUID
    member_subject: str
    version: int
    content_hash: str
    acknowledged_at: datetime


class MyPolicyStatus(BaseModel):
    current: PolicyVersionPublic | None = PydanticField(description="The policy in force, if one is published.")
    required: bool = PydanticField(description="Whether the caller must accept the current version to share.")
    acknowledged: bool
    acknowledged_at: datetime | None


class TeamProgressPublic(BaseModel):
    team_id: uuid.UUID | None = PydanticField(description="Null: the members in no team.")
    team_name: str
    members: int
    done: int


class ProgressPublic(BaseModel):
    members: int = PydanticField(description="Members concerned, each once whatever their number of teams.")
    done: int
    teams: list[TeamProgressPublic]


class PolicyProgressPublic(ProgressPublic):
    policy_version_id: uuid.UUID


class TrainingProgressPublic(ProgressPublic):
    module_id: uuid.UUID


class Lesson(_Strict):
    title: Title
    body: Markdown


class QuestionCreate(_Strict):
    prompt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    options: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]] = (
        PydanticField(min_length=2, max_length=10)
    )
    # Strict: JSON true/false are not indexes, though Python counts them as ints.
    correct_options: list[Annotated[StrictInt, PydanticField(ge=0, le=9)]] = PydanticField(
        min_length=1, max_length=10, description="Indexes into options.", json_schema_extra={"uniqueItems": True}
    )

    @model_validator(mode="after")
    def _correct_in_range(self) -> QuestionCreate:
        if any(not 0 <= i < len(self.options) for i in self.correct_options):
            raise ValueError(f"correct_options are indexes from 0 to {len(self.options) - 1}")
        if len(set(self.correct_options)) != len(self.correct_options):
            raise ValueError("correct_options names an option twice")
        return self


class TrainingModuleCreate(_Strict):
    title: Title
    lessons: list[Lesson] = PydanticField(min_length=1, max_length=50)
    questions: list[QuestionCreate] = PydanticField(min_length=1, max_length=100)
    pass_mark: StrictInt = PydanticField(ge=1, le=100, description="The percentage of right answers that passes.")
    certification_valid_days: StrictInt | None = PydanticField(
        default=None, ge=1, le=3650, description="How long a certification lasts; null: it does not expire."
    )
    required_for_networks: list[SupportedNetwork] = PydanticField(
        default_factory=list, max_length=16, description="Sharing to these networks needs the certification."
    )


class QuestionPublic(BaseModel):
    """A question as members see it: never with its correct options."""

    prompt: str
    options: list[str]
    multiple: bool = PydanticField(description="Whether more than one option is right (choose them all).")


class TrainingModulePublic(BaseModel):
    id: uuid.UUID
    title: str
    lessons: list[Lesson]
    questions: list[QuestionPublic]
    pass_mark: int
    certification_valid_days: int | None
    required_for_networks: list[str]
    created_at: datetime


class QuizAttemptCreate(_Strict):
    answers: list[list[int]] = PydanticField(
        max_length=100, description="For each question in order, the indexes of the options chosen."
    )


class CertificationPublic(BaseModel):
    module_id: uuid.UUID
    certified_at: datetime
    expires_at: datetime | None


class QuizAttemptPublic(BaseModel):
    """An attempt as its author sees it: their answers and the score, never the correct options."""

    id: uuid.UUID
    module_id: uuid.UUID
    answers: list[list[int]]
    correct: int
    total: int
    score: int
    passed: bool
    submitted_at: datetime
    certification: CertificationPublic | None = PydanticField(
        description="The certification this attempt earned; null when it did not pass."
    )


class MyTrainingModule(BaseModel):
    module_id: uuid.UUID
    title: str
    required_for_networks: list[str]
    attempts: int
    best_score: int | None
    certification: CertificationPublic | None
    certified: bool = PydanticField(description="Holds a certification that has not expired.")


class MyTrainingStatus(BaseModel):
    modules: list[MyTrainingModule]
