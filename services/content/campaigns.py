"""Campaigns: a group of items with a goal, dates, their own UTM name, a disclosure and certification that
shares of their items need, a feed priority and an audience (docs/content.md).

The models are the REST shapes; the rules are pure functions the routes call (``check_dates``,
``default_utm_campaign``, ``unknown_teams``, ``storage_of``)."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, field_validator
from pydantic import Field as PydanticField

from condividi.audience import Audience, AudienceKeys
from condividi.errors import ApiError
from condividi.validation import SingleLine, StoredText

MAX_PRIORITY = 1000
MAX_UTM_LENGTH = 100
# The characters a URL carries unescaped (RFC 3986 "unreserved"): the name goes into every link as is.
UTM_PATTERN = r"^[A-Za-z0-9._~-]+$"
_NOT_UNRESERVED = re.compile(r"[^a-z0-9]+")

CampaignName = Annotated[str, SingleLine.not_blank(), PydanticField(min_length=1, max_length=200)]
Disclosure = Annotated[str, SingleLine, PydanticField(max_length=280)]
Goal = Annotated[str, StoredText, PydanticField(max_length=2000)]
UtmCampaign = Annotated[str, PydanticField(min_length=1, max_length=MAX_UTM_LENGTH, pattern=UTM_PATTERN)]
Priority = Annotated[
    int,
    PydanticField(
        ge=-MAX_PRIORITY,
        le=MAX_PRIORITY,
        description="Higher first in the feed, after the pins; items in no campaign count as 0.",
    ),
]


def _date_time_text(value: object) -> object:
    # The schema says an RFC 3339 string; pydantic would also take a number of seconds.
    if isinstance(value, int | float | bool):
        raise ValueError("must be a date-time string such as 2027-06-01T00:00:00Z")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_date_time_text)]


def _strip_name(value: str) -> str:
    if not value.strip():
        raise ValueError("the name is blank")
    return value.strip()


class CampaignCreate(BaseModel):
    # No ``required_certification_id`` yet: content cannot tell whether an id names a training module of
    # the caller's org (policy's, announced by no event), and another org's id must not be taken.
    model_config = ConfigDict(extra="forbid")

    name: CampaignName
    goal: Goal = ""
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    utm_campaign: UtmCampaign | None = PydanticField(
        default=None, description="The `utm_campaign` of its items' links; default: a slug of the name."
    )
    required_disclosure: Disclosure = PydanticField(
        default="", description="Text every share of its items must contain (e.g. `#ad`); empty: none."
    )
    priority: Priority = 0
    audience: Audience = PydanticField(default_factory=Audience)

    _name = field_validator("name")(_strip_name)


class CampaignUpdate(BaseModel):
    """Only the fields sent change; ``null`` clears a date."""

    model_config = ConfigDict(extra="forbid")

    name: CampaignName | None = None
    goal: Goal | None = None
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    utm_campaign: UtmCampaign | None = None
    required_disclosure: Disclosure | None = None
    priority: Priority | None = None
    audience: Audience | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _strip_name(value)


class CampaignPublic(BaseModel):
    id: uuid.UUID
    name: str
    goal: str
    starts_at: datetime | None
    ends_at: datetime | None
    utm_campaign: str
    required_disclosure: str
    required_certification_id: uuid.UUID | None
    priority: int
    audience: Audience
    archived_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class AudienceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audience: Audience


# --- rules ---------------------------------------------------------------------------------------


def default_utm_campaign(name: str) -> str:
    """A slug of the name: lower-case ASCII letters and digits joined by ``-`` ("Été 2027!" ->
    "ete-2027"); "campaign" when nothing of the name is left."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = _NOT_UNRESERVED.sub("-", ascii_name).strip("-")[:MAX_UTM_LENGTH].rstrip("-")
    return slug or "campaign"


def check_dates(starts_at: datetime | None, ends_at: datetime | None) -> None:
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise ApiError(
            422,
            "validation_failed",
            "the campaign ends before it starts",
            [{"loc": ["body", "ends_at"], "message": "must be after starts_at"}],
        )


def unknown_teams(audience: Audience, known: Collection[uuid.UUID], loc: list[str | int]) -> None:
    """Refuses an audience naming teams the org does not have (or that content has not heard of yet)."""
    missing = [team for team in dict.fromkeys(audience.team_ids) if team not in known]
    if missing:
        names = ", ".join(str(team) for team in missing)
        raise ApiError(
            422,
            "unknown_teams",
            f"no team of the org has the id {names}",
            [
                {"loc": [*loc, "team_ids", audience.team_ids.index(team)], "message": "names no team of the org"}
                for team in missing
            ],
        )


def storage_of(audience: Audience) -> dict[str, Any]:
    """The four ``target_*`` columns of an audience (condividi/audience.py keys, in a stable order)."""
    keys = audience.keys()
    return {
        "target_team_ids": sorted(keys.team_ids),
        "target_locations": sorted(keys.locations),
        "target_languages": sorted(keys.languages),
        "target_roles": sorted(keys.roles),
    }


def audience_of(row: Any) -> Audience:
    """The audience a row's ``target_*`` columns store (an ORM object or a mapping)."""
    get = row.get if isinstance(row, Mapping | asyncpg.Record) else lambda name: getattr(row, name)
    return Audience.model_validate(
        {
            "team_ids": list(get("target_team_ids") or []),
            "locations": list(get("target_locations") or []),
            "languages": list(get("target_languages") or []),
            "roles": list(get("target_roles") or []),
        }
    )


def keys_of(row: Any) -> AudienceKeys:
    get = row.get if isinstance(row, Mapping | asyncpg.Record) else lambda name: getattr(row, name)
    return AudienceKeys(
        frozenset(get("target_team_ids") or ()),
        frozenset(get("target_locations") or ()),
        frozenset(get("target_languages") or ()),
        frozenset(get("target_roles") or ()),
    )
