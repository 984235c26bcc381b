"""The social networks Condividi shares to: one table that policy (length rules), sharing (intent links,
publishers) and the gateway (the ``Network`` enum and the ``networks`` query) all read, so that the
live check and the share can never disagree on what is supported.

Facts from the networks' own documentation, gathered in shared/reference/networks.md (limits of a post
body, share-intent links and whether they keep pre-filled text). A network is in this table only when
an employee can actually share to it: Instagram and Pinterest have no share-intent link and no
publisher here, so they are not offered (a check or a share for them answers "unsupported").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError


class Network(StrEnum):
    """The closed set of networks; the value is what the APIs and events carry."""

    LINKEDIN = "linkedin"
    X = "x"
    FACEBOOK = "facebook"
    THREADS = "threads"
    BLUESKY = "bluesky"
    WHATSAPP = "whatsapp"
    TELEGRAM = "telegram"
    REDDIT = "reddit"


class Counting(StrEnum):
    """How a network counts the length of a post (see ``services/policy/rules.py`` for each)."""

    CODE_POINTS = "code_points"
    GRAPHEMES = "graphemes"
    # twitter-text weights: most scripts 1, CJK and emoji 2, every URL 23.
    X_WEIGHTED = "x_weighted"


@dataclass(frozen=True)
class NetworkSpec:
    network: Network
    display_name: str
    max_length: int
    counting: Counting
    # Whether the network's share-intent composer keeps text we pre-fill; when it does not (LinkedIn,
    # Facebook, Reddit), the client should offer "copy text" before opening the link.
    intent_keeps_text: bool
    # Whether sharing can post through the network's API from a connected account (the publishing
    # issue builds the publishers; until then every share goes through the intent link).
    api_publisher: bool = False


NETWORKS: Mapping[Network, NetworkSpec] = MappingProxyType(
    {
        spec.network: spec
        for spec in (
            NetworkSpec(Network.LINKEDIN, "LinkedIn", 3000, Counting.CODE_POINTS, intent_keeps_text=False),
            NetworkSpec(Network.X, "X", 280, Counting.X_WEIGHTED, intent_keeps_text=True),
            # Facebook's platform policy forbids pre-filling the user's message.
            NetworkSpec(Network.FACEBOOK, "Facebook", 63206, Counting.CODE_POINTS, intent_keeps_text=False),
            NetworkSpec(Network.THREADS, "Threads", 500, Counting.CODE_POINTS, intent_keeps_text=True),
            NetworkSpec(Network.BLUESKY, "Bluesky", 300, Counting.GRAPHEMES, intent_keeps_text=True),
            # The WhatsApp app takes messages up to 65536 characters; employees share through a wa.me
            # link in their own app, never through the Cloud API (whose limit is 4096).
            NetworkSpec(Network.WHATSAPP, "WhatsApp", 65536, Counting.CODE_POINTS, intent_keeps_text=True),
            # One Telegram message holds at most 4096 characters; a longer one is split, which is not
            # the post the employee meant.
            NetworkSpec(Network.TELEGRAM, "Telegram", 4096, Counting.CODE_POINTS, intent_keeps_text=True),
            # The body of a text post; Reddit's submit link takes only a title (300), never the text.
            NetworkSpec(Network.REDDIT, "Reddit", 5000, Counting.CODE_POINTS, intent_keeps_text=False),
        )
    }
)


def find(name: str) -> NetworkSpec | None:
    """The network called ``name`` (case and surrounding spaces ignored), or None when unsupported."""
    try:
        return NETWORKS[Network(name.strip().lower())]
    except ValueError:
        return None


def supported_names() -> list[str]:
    return sorted(n.value for n in NETWORKS)


def _supported(value: object) -> object:
    """Before validation: a network name in any case, one of the table's. Every API that takes a network
    uses this, so policy and sharing refuse an unknown one in the same words."""
    if not isinstance(value, str):
        return value  # the enum's own validation says what is wrong with it
    spec = find(value[:64])
    if spec is None:
        raise PydanticCustomError(
            "unsupported_network", "unsupported network; use one of: {names}", {"names": ", ".join(supported_names())}
        )
    return spec.network


# A request field naming a network: ``network: SupportedNetwork``.
SupportedNetwork = Annotated[Network, BeforeValidator(_supported)]
