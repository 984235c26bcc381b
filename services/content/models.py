"""Content items: what curators publish for employees to share."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import AfterValidator, AnyHttpUrl, BaseModel, BeforeValidator, field_validator, model_validator
from pydantic import Field as PydanticField
from pydantic_core import PydanticCustomError
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from condividi.audience import Audience, LanguageTag, language_key
from condividi.db import utcnow
from condividi.networks import NETWORKS, Network
from condividi.networks import _supported as _supported_network
from condividi.validation import SingleLine, StoredText
from services.policy.rules import measure

MAX_URL_LENGTH = 2048
MAX_TOPICS = 20
MAX_TOPIC_LENGTH = 50
MAX_IMAGE_ALT_LENGTH = 500
# The text the library's search reads, as the GIN index of migration 0004_library states it: the same
# expression in the query, or PostgreSQL cannot use the index.
SEARCH_DOCUMENT = (
    "to_tsvector('simple'::regconfig, "
    "(((title::text || ' '::text) || summary::text) || ' '::text) || suggested_caption::text)"
)
# What the schema says of ``url`` (pydantic's AnyHttpUrl checks it): an http or https URL with a host.
HTTP_URL_PATTERN = "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#]+([/?#]\\S*)?$"


class ContentStatus(StrEnum):
    """draft -> scheduled -> published -> expired / archived (docs/content.md)."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    EXPIRED = "expired"
    ARCHIVED = "archived"


def _audience_column(item_type: sa.types.TypeEngine[Any]) -> sa.Column[Any]:
    return sa.Column(postgresql.ARRAY(item_type), nullable=False, server_default=sa.text("'{}'"))


class Campaign(SQLModel, table=True):
    """A group of items with a goal, dates, its own UTM name, a disclosure policy enforces on shares of
    its items, an optional required certification, a feed priority and an audience."""

    __tablename__ = "campaigns"
    __table_args__ = (sa.Index("campaigns_by_org_name", "org_id", "name", unique=True),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    goal: str = ""
    starts_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    ends_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    utm_campaign: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    required_disclosure: str = Field(default="", sa_column=sa.Column(sa.String(280), nullable=False))
    required_certification_id: uuid.UUID | None = None
    priority: int = 0
    archived_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    created_by: str
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    # The audience as condividi/audience.py stores it (AudienceKeys): empty arrays reach everyone.
    target_team_ids: list[uuid.UUID] = Field(default_factory=list, sa_column=_audience_column(sa.Uuid()))
    target_locations: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))
    target_languages: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))
    target_roles: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))


class ContentItem(SQLModel, table=True):
    __tablename__ = "content_items"
    __table_args__ = (
        sa.Index("content_items_feed", "org_id", "status", "published_at", "id"),
        # The curators' list (newest first), and what the scheduler looks for.
        sa.Index("content_items_library", "org_id", "created_at", "id"),
        sa.Index(
            "content_items_due",
            "publish_at",
            postgresql_where=sa.text("status = 'scheduled'"),
        ),
        sa.Index(
            "content_items_expiring",
            "expires_at",
            postgresql_where=sa.text("status = 'published' AND expires_at IS NOT NULL"),
        ),
        sa.Index("content_items_topics", "topics", postgresql_using="gin"),
        sa.Index("content_items_search", sa.text(SEARCH_DOCUMENT), postgresql_using="gin"),
        # The feed's order after the pins (services/content/feed.py), and its pinned items (migration 0005).
        sa.Index(
            "content_items_ranked",
            "org_id",
            sa.text("feed_priority DESC"),
            sa.text("published_at DESC"),
            sa.text("id DESC"),
            postgresql_where=sa.text("status = 'published'"),
        ),
        sa.Index(
            "content_items_pinned",
            "org_id",
            "pinned_position",
            postgresql_where=sa.text("status = 'published' AND pinned_position IS NOT NULL"),
        ),
        sa.Index("content_items_by_campaign", "campaign_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID = Field(index=True)
    title: str
    url: str
    summary: str = ""
    suggested_caption: str = ""
    status: ContentStatus = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    created_by: str
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    published_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    # When a scheduled item is to be published; the scheduler publishes it then.
    publish_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    expires_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    archived_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    # 0 until first published; each edit of a published item publishes the next revision.
    revision: int = 0
    # Who published the live revision (or scheduled it: the scheduler publishes in their name).
    published_by: str | None = None
    topics: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))
    image_url: str | None = None
    image_alt: str = ""
    # Pinned items come first in the feed, by position (1 = top), until ``pinned_until``.
    pinned_position: int | None = None
    pinned_until: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    campaign_id: uuid.UUID | None = Field(default=None, foreign_key="campaigns.id")
    # The campaign's priority, kept by triggers (migration 0005): the feed's index orders by it.
    feed_priority: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    target_team_ids: list[uuid.UUID] = Field(default_factory=list, sa_column=_audience_column(sa.Uuid()))
    target_locations: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))
    target_languages: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))
    target_roles: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))
    # The employee whose suggestion became this item (OIDC subject); None: a curator's own.
    suggested_by: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))


class ContentRevision(SQLModel, table=True):
    """Each published revision of an item as it was published: shares made of an earlier revision keep
    what they shared, and a curator can see what changed."""

    __tablename__ = "content_revisions"

    content_id: uuid.UUID = Field(foreign_key="content_items.id", primary_key=True, ondelete="CASCADE")
    revision: int = Field(primary_key=True)
    org_id: uuid.UUID
    title: str
    url: str
    summary: str
    suggested_caption: str
    topics: list[str] = Field(default_factory=list, sa_column=_audience_column(sa.String()))
    image_url: str | None = None
    image_alt: str = ""
    expires_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    published_by: str
    published_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


def _a_real_time(value: datetime) -> datetime:
    # A time with its offset, and one that exists in UTC (where it is stored and compared):
    # 0001-01-01T00:00+14:00 does not, and would fail in the driver rather than here.
    if value.tzinfo is None:
        raise ValueError("give the time with its offset, e.g. 2026-12-02T09:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the time is out of range") from exc


Instant = Annotated[datetime, AfterValidator(_a_real_time)]


def _topics(value: object) -> object:
    # Topics are tags: trimmed, lower case, each once, in the order given.
    if not isinstance(value, list):
        return value
    seen: list[object] = []
    for topic in value:
        if isinstance(topic, str):
            topic = topic.strip().lower()
        if topic not in seen:
            seen.append(topic)
    return seen


Topic = Annotated[str, SingleLine.not_blank()]
Topics = Annotated[
    list[Annotated[Topic, PydanticField(min_length=1, max_length=MAX_TOPIC_LENGTH)]],
    BeforeValidator(_topics),
    PydanticField(max_length=MAX_TOPICS, description="Tags (trimmed, lower case, each once)."),
]


def _url_not_too_long(value: object) -> object:
    # The length as sent, which the schema's maxLength states (normalising may lengthen it).
    if isinstance(value, str) and len(value) > MAX_URL_LENGTH:
        raise ValueError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    return value


HttpUrl = Annotated[
    AnyHttpUrl,
    BeforeValidator(_url_not_too_long),
    PydanticField(json_schema_extra={"pattern": HTTP_URL_PATTERN, "maxLength": MAX_URL_LENGTH}),
]
ImageAlt = Annotated[str, StoredText]


def _strip_title(value: str) -> str:
    if not value.strip():
        raise ValueError("the title is blank")
    return value.strip()


Title = Annotated[
    str, SingleLine.not_blank(), AfterValidator(_strip_title), PydanticField(min_length=1, max_length=300)
]


class PinCreate(BaseModel):
    position: int = PydanticField(
        default=1, ge=1, le=1000, description="1 is the top; the pins at and below it move down one."
    )
    pinned_until: Instant | None = PydanticField(
        default=None, description="When the pin ends (in the future); null: until it is unpinned."
    )


class ContentItemCreate(BaseModel):
    title: Annotated[str, SingleLine.not_blank()] = PydanticField(min_length=1, max_length=300)
    url: AnyHttpUrl = PydanticField(
        description="The page employees share (http or https).",
        json_schema_extra={"pattern": HTTP_URL_PATTERN, "maxLength": MAX_URL_LENGTH},
    )
    summary: Annotated[str, StoredText] = PydanticField(default="", max_length=2000)
    suggested_caption: Annotated[str, StoredText] = PydanticField(
        default="", max_length=3000, description="A starting point; employees are asked to write their own."
    )
    topics: Topics = []
    image_url: HttpUrl | None = PydanticField(default=None, description="An image shown with the item (http or https).")
    image_alt: ImageAlt = PydanticField(
        default="", max_length=MAX_IMAGE_ALT_LENGTH, description="What the image shows; required with an image."
    )
    expires_at: Instant | None = PydanticField(
        default=None, description="After this time the item leaves the feed and cannot be shared (in the future)."
    )
    pin: PinCreate | None = PydanticField(default=None, description="Pin the item at the top of the feed.")

    @model_validator(mode="after")
    def _image_has_its_alt_text(self) -> ContentItemCreate:
        if self.image_url is not None and not self.image_alt.strip():
            raise ValueError("image_alt is required with an image: describe it for people who cannot see it")
        return self

    @field_validator("url", mode="before")
    @classmethod
    def _not_too_long(cls, value: object) -> object:
        # The length as sent, which the schema's maxLength states (normalising may lengthen it).
        if isinstance(value, str) and len(value) > MAX_URL_LENGTH:
            raise ValueError(f"the URL is longer than {MAX_URL_LENGTH} characters")
        return value

    @field_validator("title")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the title is blank")
        return value.strip()


class ContentItemUpdate(BaseModel):
    """The fields to change; those left out stay as they are, ``null`` clears ``image_url`` and
    ``expires_at``. A draft or scheduled item changes in place; a published one publishes a new
    revision (the shares of earlier revisions keep what they shared)."""

    title: Title | None = None
    url: HttpUrl | None = PydanticField(default=None, description="The page employees share (http or https).")
    summary: Annotated[str, StoredText] | None = PydanticField(default=None, max_length=2000)
    suggested_caption: Annotated[str, StoredText] | None = PydanticField(default=None, max_length=3000)
    topics: Topics | None = None
    image_url: HttpUrl | None = None
    image_alt: ImageAlt | None = PydanticField(default=None, max_length=MAX_IMAGE_ALT_LENGTH)
    expires_at: Instant | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> ContentItemUpdate:
        for name in ("title", "url", "summary", "suggested_caption", "topics", "image_alt"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class PublishRequest(BaseModel):
    publish_at: Instant | None = PydanticField(
        default=None, description="Publish at this time (in the future); left out or null: publish now."
    )


class ContentItemPublic(BaseModel):
    id: uuid.UUID
    title: str
    url: str
    summary: str
    suggested_caption: str
    status: ContentStatus
    created_by: str
    created_at: datetime
    published_at: datetime | None
    updated_at: datetime | None = None
    revision: int = 0
    publish_at: datetime | None = None
    expires_at: datetime | None = None
    archived_at: datetime | None = None
    topics: list[str] = []
    image_url: str | None = None
    image_alt: str = ""
    pinned_position: int | None = None
    pinned_until: datetime | None = None
    campaign_id: uuid.UUID | None = None
    # From the item's campaign (empty without one): what sharing tags links with and policy requires.
    utm_campaign: str = ""
    required_disclosure: str = ""
    audience: Audience = PydanticField(
        default_factory=Audience, description="Whom the item is for (with its campaign's audience); empty: everyone."
    )
    campaign_audience: Audience | None = PydanticField(
        default=None, description="Its campaign's audience, on one item's answer (null: in no campaign)."
    )

    suggested_by: str | None = PydanticField(
        default=None, description="The employee whose suggestion became this item; null: a curator's own."
    )


class ContentRevisionPublic(BaseModel):
    content_id: uuid.UUID
    revision: int
    title: str
    url: str
    summary: str
    suggested_caption: str
    topics: list[str]
    image_url: str | None
    image_alt: str
    expires_at: datetime | None
    published_by: str
    published_at: datetime


# --- captions per network and language (docs/content.md, "Captions") --------------------------------

MAX_CAPTIONS = 100
# A caption for every network is offered on each of them: it may be as long as the item's default.
MAX_CAPTION_LENGTH = 3000


class ContentCaption(SQLModel, table=True):
    """A suggested caption of an item for one network ("" every network) and language ("" every one)."""

    __tablename__ = "content_captions"
    __table_args__ = (sa.UniqueConstraint("content_id", "network", "language", name="content_captions_one_per_pair"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID
    content_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("content_items.id", ondelete="CASCADE"), nullable=False)
    )
    network: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    # The tag as the curator wrote it; compared by its key (condividi.audience.language_key).
    language: str = Field(sa_column=sa.Column(sa.String(35), nullable=False))
    text: str
    updated_by: str
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


# What the schema's "blank" pattern (``^\s*$``, condividi/validation.py) calls white space: JSON Schema's
# ECMAScript ``\s``, which Python's ``str.strip()`` does not match exactly (it also strips the
# separators U+001C-U+001F, and keeps U+FEFF), so that a value the schema allows is never called blank.
_SCHEMA_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_SCHEMA_BLANK = re.compile(f"[{_SCHEMA_SPACE}]*")
_SCHEMA_TRIM = re.compile(f"^[{_SCHEMA_SPACE}]+|[{_SCHEMA_SPACE}]+$")


def _filled(value: str, what: str) -> str:
    """``value`` trimmed as the schema counts white space; refused when nothing is left."""
    if _SCHEMA_BLANK.fullmatch(value):
        raise ValueError(f"the {what} is blank")
    return _SCHEMA_TRIM.sub("", value)


class CaptionIn(BaseModel):
    network: Network | None = PydanticField(
        default=None, description="The network it is written for; null: every network (case is ignored)."
    )
    language: LanguageTag | Literal[""] | None = PydanticField(
        default="", description='A BCP 47 tag ("it", "pt-BR"); empty or null: every language.'
    )
    text: Annotated[str, StoredText.not_blank()] = PydanticField(
        min_length=1,
        max_length=MAX_CAPTION_LENGTH,
        description="Within the network's limit, counted as the policy check counts it (without the link).",
    )

    @field_validator("network", mode="before")
    @classmethod
    def _network(cls, value: object) -> object:
        return None if value in (None, "") else _supported_network(value)

    @field_validator("language")
    @classmethod
    def _every_language(cls, value: str | None) -> str:
        return value or ""

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        _filled(value, "caption")
        return value

    @model_validator(mode="after")
    def _fits(self) -> CaptionIn:
        if self.network is not None:
            limit = NETWORKS[self.network].max_length
            length = measure(self.network.value, self.text)
            if length > limit:
                raise PydanticCustomError(
                    "caption_too_long",
                    "the caption is {length} long as {network} counts it; its limit is {limit}",
                    {"length": length, "network": NETWORKS[self.network].display_name, "limit": limit},
                )
        return self


class CaptionsReplace(BaseModel):
    """The item's whole set of captions: those left out are deleted."""

    captions: list[CaptionIn] = PydanticField(max_length=MAX_CAPTIONS)

    @field_validator("captions")
    @classmethod
    def _one_per_pair(cls, captions: list[CaptionIn]) -> list[CaptionIn]:
        seen: dict[tuple[str, str], int] = {}
        for index, caption in enumerate(captions):
            pair = (caption.network.value if caption.network else "", language_key(caption.language or ""))
            if pair in seen:
                raise PydanticCustomError(
                    "duplicate_caption",
                    "captions {first} and {second} are both for network {network} and language {language}: keep one",
                    {
                        "first": seen[pair],
                        "second": index,
                        "network": pair[0] or "(every)",
                        "language": caption.language or "(every)",
                    },
                )
            seen[pair] = index
        return captions


class CaptionPublic(BaseModel):
    content_id: uuid.UUID
    network: Network | None = PydanticField(description="null: every network.")
    language: str = PydanticField(description="empty: every language.")
    text: str
    updated_by: str
    updated_at: datetime


class CaptionChoice(BaseModel):
    """The caption a member is offered for one item on one network."""

    content_id: uuid.UUID
    network: Network
    text: str
    caption_network: Network | None = PydanticField(
        description="The network of the caption chosen; null: one for every network, or the default."
    )
    caption_language: str | None = PydanticField(
        description="The language of the caption chosen (empty: every language); null: the item's default."
    )


# --- employee suggestions (docs/content.md, "Suggestions") ------------------------------------------


class SuggestionStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"


class Suggestion(SQLModel, table=True):
    __tablename__ = "content_suggestions"
    __table_args__ = (
        sa.Index("content_suggestions_queue", "org_id", "status", "created_at", "id"),
        sa.Index("content_suggestions_by_member", "org_id", "suggested_by", "created_at", "id"),
        # One pending suggestion of a page per org: the second is answered with the first.
        sa.Index(
            "content_suggestions_pending_url",
            "org_id",
            "url_key",
            unique=True,
            postgresql_where=sa.text("status = 'pending'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID
    url: str
    # The URL as compared for duplicates (services/content/suggestions.py, url_key).
    url_key: str
    note: str
    status: SuggestionStatus = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    suggested_by: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    decided_by: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))
    decided_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    decline_reason: str = ""
    # The draft an accepted suggestion became.
    content_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("content_items.id", ondelete="SET NULL"))
    )


class SuggestionCreate(BaseModel):
    url: AnyHttpUrl = PydanticField(
        description="The page suggested (http or https).",
        json_schema_extra={"pattern": HTTP_URL_PATTERN, "maxLength": MAX_URL_LENGTH},
    )
    note: Annotated[str, StoredText.not_blank()] = PydanticField(
        min_length=1, max_length=2000, description="Why colleagues would share it; not blank."
    )

    _url_not_too_long = field_validator("url", mode="before")(ContentItemCreate._not_too_long.__func__)  # type: ignore[attr-defined]

    @field_validator("note")
    @classmethod
    def _note_not_blank(cls, value: str) -> str:
        return _filled(value, "note")


class SuggestionAccept(BaseModel):
    title: Annotated[str, SingleLine.not_blank()] | None = PydanticField(
        default=None, min_length=1, max_length=300, description="The draft's title; default: the page's address."
    )

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, value: str | None) -> str | None:
        return _filled(value, "title") if value is not None else None


class SuggestionDecline(BaseModel):
    reason: Annotated[str, StoredText.not_blank()] = PydanticField(
        min_length=1, max_length=1000, description="Shown to the employee who suggested it; not blank."
    )

    @field_validator("reason")
    @classmethod
    def _reason_not_blank(cls, value: str) -> str:
        return _filled(value, "reason")


class SuggestionPublic(BaseModel):
    id: uuid.UUID
    url: str
    note: str
    status: SuggestionStatus
    suggested_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decline_reason: str = PydanticField(description="Why it was declined; empty unless declined.")
    content_id: uuid.UUID | None = PydanticField(description="The draft it became, once accepted.")
