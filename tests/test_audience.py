"""The audience rule (condividi/audience.py): dimensions combine with AND, values within one with OR."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from condividi.audience import Audience, Profile, language_keys_reached_by

SALES, MARKETING, LEGAL = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

MILAN_SALES_IT = Profile.of([SALES], "Milan", "it-IT", ["employee"])
LYON_LEGAL_FR = Profile.of([LEGAL], "Lyon", "fr", ["employee", "reviewer"])
NOBODY_KNOWN = Profile.of()


@pytest.mark.parametrize(
    ("audience", "member", "reached"),
    [
        (Audience(), MILAN_SALES_IT, True),
        (Audience(), NOBODY_KNOWN, True),
        (Audience(team_ids=[SALES, MARKETING]), MILAN_SALES_IT, True),
        (Audience(team_ids=[MARKETING]), MILAN_SALES_IT, False),
        (Audience(locations=[" milan "]), MILAN_SALES_IT, True),
        (Audience(locations=["MILAN"]), LYON_LEGAL_FR, False),
        (Audience(locations=["Milan"]), NOBODY_KNOWN, False),
        (Audience(languages=["it"]), MILAN_SALES_IT, True),
        (Audience(languages=["IT-it"]), MILAN_SALES_IT, True),
        (Audience(languages=["it-CH"]), MILAN_SALES_IT, False),
        (Audience(languages=["fr-FR"]), LYON_LEGAL_FR, False),
        (Audience(languages=["it"]), NOBODY_KNOWN, False),
        (Audience(roles=["reviewer"]), LYON_LEGAL_FR, True),
        (Audience(roles=["reviewer"]), MILAN_SALES_IT, False),
        (Audience(team_ids=[SALES], languages=["it"]), MILAN_SALES_IT, True),
        (Audience(team_ids=[SALES], languages=["fr"]), MILAN_SALES_IT, False),
        (Audience(team_ids=[SALES, LEGAL], locations=["Lyon"], roles=["reviewer"]), LYON_LEGAL_FR, True),
    ],
)
def test_an_audience_reaches_a_member_when_every_named_dimension_matches(
    audience: Audience, member: Profile, reached: bool
) -> None:
    assert audience.keys().reaches(member) is reached


def test_a_language_reaches_its_regions_through_its_prefixes() -> None:
    assert language_keys_reached_by("zh-Hant-TW") == ["zh-hant-tw", "zh-hant", "zh"]
    assert language_keys_reached_by("it") == ["it"]


@pytest.mark.parametrize(
    "bad",
    [
        {"languages": ["italian!"]},
        {"languages": ["i"]},
        {"roles": ["owner"]},
        {"team_ids": ["not-a-uuid"]},
        {"locations": ["   "]},
        {"locations": ["Mil\x00an"]},
        {"locations": ["x"] * 101},
        {"everyone": True},
    ],
)
def test_a_malformed_audience_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Audience.model_validate(bad)


def test_an_empty_audience_is_everyone() -> None:
    assert Audience().is_everyone
    assert not Audience(roles=["curator"]).is_everyone
