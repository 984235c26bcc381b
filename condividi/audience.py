"""Whom a content item or a campaign is for: its audience, and whether it reaches a member.

One rule, read by content (its feed filters with the same rule in SQL) and by sharing (which refuses a
share of an item that does not reach the member, as if the item did not exist). A member is described by
what policy's roster events say of them (``MemberUpserted``), as each service's roster copy keeps it.

An audience names teams, locations, languages and roles. Each dimension left empty does not narrow; a
named dimension asks for one of its values; the dimensions combine with AND. So "teams Sales, Marketing;
languages it" reaches the Italian speakers of Sales and of Marketing, and an audience naming nothing
reaches everyone. Locations compare ignoring case and surrounding blanks (an IdP writes "Milan", a CSV
"milan "). Languages compare by BCP 47 tag ignoring case, and a tag without region reaches every region
("it" reaches "it-CH"; "it-CH" does not reach "it").
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic import Field as PydanticField

from condividi.identity import Role

MAX_AUDIENCE_VALUES = 100
# A BCP 47 tag as rosters write them: a primary language and optional subtags ("it", "pt-BR", "zh-Hant-TW").
LANGUAGE_TAG_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"

LanguageTag = Annotated[str, StringConstraints(pattern=LANGUAGE_TAG_PATTERN, max_length=35)]
Location = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")
]


def location_key(location: str) -> str:
    return location.strip().casefold()


def language_key(tag: str) -> str:
    return tag.strip().casefold()


class Audience(BaseModel):
    """The REST and storage shape of an audience (empty lists: everyone)."""

    model_config = ConfigDict(extra="forbid")

    team_ids: list[uuid.UUID] = PydanticField(default_factory=list, max_length=MAX_AUDIENCE_VALUES)
    locations: list[Location] = PydanticField(default_factory=list, max_length=MAX_AUDIENCE_VALUES)
    languages: list[LanguageTag] = PydanticField(default_factory=list, max_length=MAX_AUDIENCE_VALUES)
    roles: list[Role] = PydanticField(default_factory=list, max_length=len(Role))

    @property
    def is_everyone(self) -> bool:
        return not (self.team_ids or self.locations or self.languages or self.roles)

    def keys(self) -> AudienceKeys:
        """The audience as stored and compared: each value once, locations and languages by their keys."""
        return AudienceKeys(
            team_ids=frozenset(self.team_ids),
            locations=frozenset(location_key(place) for place in self.locations),
            languages=frozenset(language_key(tag) for tag in self.languages),
            roles=frozenset(role.value for role in self.roles),
        )


@dataclass(frozen=True)
class Profile:
    """What the roster copy says of a member, as far as audiences are concerned."""

    team_ids: frozenset[uuid.UUID] = frozenset()
    location: str | None = None
    language: str | None = None
    roles: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        team_ids: Collection[uuid.UUID] = (),
        location: str | None = None,
        language: str | None = None,
        roles: Collection[str] = (),
    ) -> Profile:
        return cls(frozenset(team_ids), location, language, frozenset(roles))


@dataclass(frozen=True)
class AudienceKeys:
    team_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    locations: frozenset[str] = field(default_factory=frozenset)
    languages: frozenset[str] = field(default_factory=frozenset)
    roles: frozenset[str] = field(default_factory=frozenset)

    def reaches(self, member: Profile) -> bool:
        if self.team_ids and self.team_ids.isdisjoint(member.team_ids):
            return False
        if self.locations and (member.location is None or location_key(member.location) not in self.locations):
            return False
        if self.languages and not _speaks(member.language, self.languages):
            return False
        return not self.roles or not self.roles.isdisjoint(member.roles)


def language_keys_reached_by(member_language: str) -> list[str]:
    """The stored language keys an audience may name to reach a member who writes ``member_language``:
    the tag itself and each shorter prefix ("pt-br" -> ["pt-br", "pt"]). The feed's SQL uses it with
    ``target_languages && $keys``."""
    parts = language_key(member_language).split("-")
    return ["-".join(parts[:end]) for end in range(len(parts), 0, -1)]


def _speaks(member_language: str | None, wanted: frozenset[str]) -> bool:
    return member_language is not None and not wanted.isdisjoint(language_keys_reached_by(member_language))
