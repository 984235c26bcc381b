"""The library's rules as a table: every (status, action) pair, the dates a schedule and an expiry must
satisfy, the pins' order, and the event built from an item."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from condividi.errors import ApiError
from services.content import lifecycle
from services.content.events import DEFAULT_UTM_CAMPAIGN, content_published
from services.content.lifecycle import Action, LifecycleConflict, transition
from services.content.models import Campaign, ContentItem, ContentStatus, PublishRequest

D, S, P, E, A = (
    ContentStatus.DRAFT,
    ContentStatus.SCHEDULED,
    ContentStatus.PUBLISHED,
    ContentStatus.EXPIRED,
    ContentStatus.ARCHIVED,
)
GONE = None
NO = "409"

# Rows: from-status; columns: the actions, in Action's order.
ACTIONS = [
    Action.PUBLISH,
    Action.SCHEDULE,
    Action.EDIT,
    Action.UNPUBLISH,
    Action.ARCHIVE,
    Action.EXPIRE,
    Action.DELETE,
    Action.PIN,
]
TABLE: dict[ContentStatus, list[object]] = {
    #    publish schedule edit unpublish archive expire delete pin
    D: [P, S, D, NO, A, NO, GONE, D],
    S: [P, S, S, D, A, NO, NO, S],
    P: [NO, NO, P, D, A, E, NO, P],
    E: [NO, NO, NO, NO, A, NO, NO, NO],
    A: [NO, NO, NO, NO, NO, NO, NO, NO],
}


@pytest.mark.parametrize(
    ("status", "action", "expected"),
    [(status, action, row[n]) for status, row in TABLE.items() for n, action in enumerate(ACTIONS)],
)
def test_transitions(status: ContentStatus, action: Action, expected: object) -> None:
    if expected == NO:
        with pytest.raises(LifecycleConflict) as refused:
            transition(status, action)
        assert refused.value.status == 409
        assert refused.value.message.startswith("the content item") or refused.value.message.startswith(("only", "a "))
        assert len(refused.value.message) > 20
    else:
        assert transition(status, action) == expected


def test_the_table_covers_every_action_and_status() -> None:
    assert set(ACTIONS) == set(Action)
    assert set(TABLE) == set(ContentStatus)


def test_refusals_say_why() -> None:
    with pytest.raises(LifecycleConflict, match="already published"):
        transition(P, Action.PUBLISH)
    with pytest.raises(LifecycleConflict, match="only a draft can be deleted"):
        transition(P, Action.DELETE)
    with pytest.raises(LifecycleConflict, match="archived"):
        transition(A, Action.EDIT)
    with pytest.raises(LifecycleConflict, match="expired"):
        transition(E, Action.EDIT)


NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("publish_at", "expires_at", "wrong"),
    [
        (None, None, []),
        (None, NOW + HOUR, []),
        (NOW + HOUR, None, []),
        (NOW + HOUR, NOW + 2 * HOUR, []),
        (NOW - HOUR, None, ["publish_at is in the past"]),
        (NOW, None, ["publish_at is in the past"]),
        (None, NOW - HOUR, ["expires_at is in the past"]),
        (NOW + 2 * HOUR, NOW + HOUR, ["expires_at is before the item is published"]),
        (NOW + HOUR, NOW + HOUR, ["expires_at is before the item is published"]),
        (NOW - HOUR, NOW - 2 * HOUR, ["publish_at is in the past", "expires_at is in the past"]),
    ],
)
def test_schedule_and_expiry(publish_at: datetime | None, expires_at: datetime | None, wrong: list[str]) -> None:
    problems = lifecycle.schedule_problems(NOW, publish_at=publish_at, expires_at=expires_at)
    assert [p["message"].split(";")[0] for p in problems] == wrong
    for problem in problems:
        assert problem["loc"][0] == "body"


def test_an_image_needs_its_alt_text() -> None:
    assert lifecycle.image_problems(None, "") == []
    assert lifecycle.image_problems("https://a.example/i.png", "A plant at dawn") == []
    [problem] = lifecycle.image_problems("https://a.example/i.png", "  ")
    assert problem["loc"] == ["body", "image_alt"]
    error = lifecycle.invalid([problem])
    assert isinstance(error, ApiError) and error.status == 422 and error.code == "validation_failed"


A1, A2, A3, A4 = (uuid.UUID(int=n) for n in range(1, 5))


@pytest.mark.parametrize(
    ("current", "item", "position", "order"),
    [
        ([], A1, 1, [A1]),
        ([A1, A2], A3, 1, [A3, A1, A2]),
        ([A1, A2], A3, 2, [A1, A3, A2]),
        ([A1, A2], A3, 9, [A1, A2, A3]),  # beyond the end: last
        ([A1, A2, A3], A3, 1, [A3, A1, A2]),  # reorder: moved up
        ([A1, A2, A3], A1, 3, [A2, A3, A1]),  # moved down
        ([A1, A2, A3], A2, 2, [A1, A2, A3]),  # where it is
    ],
)
def test_pin_at(current: list[uuid.UUID], item: uuid.UUID, position: int, order: list[uuid.UUID]) -> None:
    pins = lifecycle.pin_at(current, item, position)
    assert [p.item_id for p in pins] == order
    assert [p.position for p in pins] == list(range(1, len(order) + 1))


def test_unpin_closes_the_gap() -> None:
    pins = lifecycle.unpin([A1, A2, A3, A4], A2)
    assert [(p.item_id, p.position) for p in pins] == [(A1, 1), (A3, 2), (A4, 3)]
    assert [p.item_id for p in lifecycle.unpin([A1], A2)] == [A1]


def _item(**fields: object) -> ContentItem:
    values: dict[str, object] = {
        "org_id": uuid.uuid4(),
        "title": "Plant",
        "url": "https://acme.example/plant",
        "status": P,
        "created_by": "c",
        "created_at": NOW,
        "updated_at": NOW,
        "revision": 3,
    }
    return ContentItem(**(values | fields))


def test_content_published_carries_the_item_and_its_campaign() -> None:
    team = uuid.uuid4()
    campaign = Campaign(
        org_id=uuid.uuid4(),
        name="Spring",
        utm_campaign="spring-2027",
        required_disclosure="#ad",
        required_certification_id=uuid.uuid4(),
        created_by="c",
        created_at=NOW,
        updated_at=NOW,
        target_team_ids=[team],
        target_locations=["it"],
        target_languages=["it"],
        target_roles=["sales"],
    )
    item = _item(
        campaign_id=campaign.id,
        expires_at=NOW + HOUR,
        topics=["energy", "plants"],
        image_url="https://acme.example/i.png",
        image_alt="A plant",
        target_languages=["en", "it"],
        target_roles=["employee"],
    )
    event = content_published(item, campaign, "curator-1")
    assert event.content_id == str(item.id) and event.published_by == "curator-1"
    assert (event.campaign_id, event.utm_campaign, event.required_disclosure) == (
        str(campaign.id),
        "spring-2027",
        "#ad",
    )
    assert event.required_certification_id == str(campaign.required_certification_id)
    assert event.expires_at.ToDatetime(tzinfo=UTC) == NOW + HOUR
    assert list(event.topics) == ["energy", "plants"] and event.revision == 3
    assert (event.image_url, event.image_alt) == ("https://acme.example/i.png", "A plant")
    assert list(event.target_languages) == ["en", "it"] and list(event.target_roles) == ["employee"]
    assert list(event.campaign_target_team_ids) == [str(team)]
    assert list(event.campaign_target_locations) == ["it"] and list(event.campaign_target_roles) == ["sales"]


def test_content_published_without_a_campaign() -> None:
    event = content_published(_item(), None, "curator-1")
    assert event.campaign_id == "" and event.required_disclosure == "" and event.required_certification_id == ""
    assert event.utm_campaign == DEFAULT_UTM_CAMPAIGN
    assert not event.HasField("expires_at")
    assert list(event.campaign_target_roles) == []


def test_times_must_exist_in_utc() -> None:
    with pytest.raises(ValidationError):
        PublishRequest.model_validate({"publish_at": "0001-01-01T00:00:00+14:00"})
    assert PublishRequest.model_validate({"publish_at": "2030-01-01T10:00:00+02:00"}).publish_at == datetime(
        2030, 1, 1, 8, tzinfo=UTC
    )
