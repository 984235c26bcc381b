"""Policy's live check and sharing read the one networks table (condividi/networks.py), so a check can
never approve a post for a network that a share would refuse, nor the other way round."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from condividi.networks import NETWORKS, Network, supported_names
from services.policy.models import PolicyCheckRequest
from services.sharing.models import ShareCreate

# Every network of the table, spelt as clients spell them, and names that must be refused.
CANDIDATES = [
    *(n.value for n in Network),
    *(n.value.upper() for n in Network),
    " LinkedIn ",
    "instagram",
    "pinterest",
    "myspace",
    "",
    "x y",
    "linkedin" * 10,
]


def verdict(model: type[BaseModel], body: dict[str, Any]) -> tuple[str | None, str | None]:
    """(the network accepted, or None; the error message on ``network``, or None)."""
    try:
        accepted = model.model_validate(body)
    except ValidationError as exc:
        messages = [e["msg"] for e in exc.errors() if e["loc"] == ("network",)]
        assert messages, exc.errors()
        return None, messages[0]
    return str(getattr(accepted, "network")), None  # noqa: B009 - both models have it, typed differently


@pytest.mark.parametrize("name", CANDIDATES)
def test_policy_and_sharing_accept_and_refuse_the_same_networks_alike(name: str) -> None:
    policy = verdict(PolicyCheckRequest, {"network": name, "text": "hello"})
    sharing = verdict(ShareCreate, {"network": name, "text": "hello", "content_id": str(uuid.uuid4())})
    assert policy[0] == sharing[0]
    if len(name) <= 32:  # a longer one may be refused for its length first, in either's words
        assert policy[1] == sharing[1]


def test_the_accepted_set_is_exactly_the_table() -> None:
    accepted = {
        name
        for name in CANDIDATES
        if verdict(PolicyCheckRequest, {"network": name, "text": "hello"})[0] is not None
        and verdict(ShareCreate, {"network": name, "text": "hello", "content_id": str(uuid.uuid4())})[0] is not None
    }
    assert {name.strip().lower() for name in accepted} == set(supported_names()) == {n.value for n in NETWORKS}


@pytest.mark.parametrize("text", ["", "  ", "\n", "\u2003", "hello"])
def test_the_live_check_approves_no_text_that_a_share_refuses(text: str) -> None:
    from services.policy import rules

    try:
        ShareCreate.model_validate({"network": "x", "text": text, "content_id": str(uuid.uuid4())})
        share_refuses = False
    except ValidationError:
        share_refuses = True
    approved = rules.check("x", PolicyCheckRequest.model_validate({"network": "x", "text": text}).text).outcome
    assert (approved is rules.Outcome.APPROVED) is not share_refuses
