"""The policy rules: pure functions of a post, no I/O, so the live check while the employee types and the
authoritative decision on a submitted share can never disagree.

Two kinds of rules decide: the post's own (its network, its length, here) and the member's standing
(the policy they must have accepted, the certifications they must hold; ``governance.py``), which the
caller loads and passes in as a ``Standing``. The networks, their limits and how each counts length come
from the one table in ``condividi/networks.py`` (which sharing reads too, so a network it cannot share to
is refused here as well); the counting itself lives here. An approximation must err towards what the network itself
shows the employee, so each is documented beside the code:

- X counts with the weights of ``twitter-text`` (configuration v3): after NFC normalisation most
  scripts (code points up to U+10FF and a few punctuation ranges) weigh 1, everything else (CJK,
  emoji, ...) weighs 2, an emoji sequence (a flag, a skin tone, a ZWJ family) weighs 2 as a whole, and
  every http(s) URL weighs 23 whatever its length, because X wraps it in a t.co link.
- Bluesky counts graphemes (user-perceived characters). The standard library has no grapheme
  segmentation, so ``_graphemes`` approximates the Unicode rules for the cases that matter in posts:
  combining marks, variation selectors, emoji modifiers, ZWJ sequences, tags and flags. Where it is
  wrong (Indic conjuncts, decomposed Hangul) it counts more graphemes than Bluesky does, so it can
  refuse a post Bluesky would take, never the other way round.
- Every other network is counted in code points, which is what their composers show for the scripts
  our customers write in.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from condividi import networks
from condividi.networks import Counting

if TYPE_CHECKING:  # governance imports Violation from here
    from services.policy.governance import Standing


class Outcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    # No rule asks for a human yet; the value is part of the API and event contracts already, so that
    # review rules (disclosures, regulated words) can arrive without a contract change.
    NEEDS_REVIEW = "needs_review"


TOO_LONG = "too_long"
UNSUPPORTED_NETWORK = "unsupported_network"
EMPTY_TEXT = "empty_text"

# X replaces every link with a t.co link of this length (twitter-text's transformedURLLength).
X_URL_LENGTH = 23
_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
# Trailing punctuation is the sentence's, not the link's ("see https://acme.example/news."). Stripped
# after matching rather than with a look-ahead, which would backtrack quadratically on long runs of dots.
_SENTENCE_PUNCTUATION = ".,;:!?)]}'\""


@dataclass(frozen=True)
class Violation:
    code: str  # stable, for programs
    message: str  # ready to show to the employee


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    violations: list[Violation]
    length: int
    limit: int  # 0 when the network is not supported


def measure(network: str, text: str, url: str | None = None) -> int:
    """The length ``network`` counts for ``text`` with ``url`` appended after one space (the way shares
    are posted); an unknown network is counted in code points."""
    known = networks.find(network)
    counting = known.counting if known else Counting.CODE_POINTS
    if counting is Counting.X_WEIGHTED:
        length = _x_weighted_length(text)
        return length + 1 + X_URL_LENGTH if url else length
    body = f"{text} {url}" if url else text
    if counting is Counting.GRAPHEMES:
        return sum(1 for _ in _graphemes(body))
    return len(body)


def evaluate(network: str, text: str, url: str | None = None, standing: Standing | None = None) -> list[Violation]:
    """Why the post cannot be shared: what the member must do first (accept the policy, get certified),
    then what is wrong with the post itself. ``standing`` None: the member's side is not judged."""
    member = standing.violations(network) if standing is not None else []
    return member + _post_violations(network, text, url)


def _post_violations(network: str, text: str, url: str | None) -> list[Violation]:
    known = networks.find(network)
    if known is None:
        supported = ", ".join(networks.supported_names())
        return [
            Violation(
                UNSUPPORTED_NETWORK,
                f"Sharing to {network[:32]!r} is not supported; supported networks: {supported}.",
            )
        ]
    # Sharing refuses a blank text outright; the live check says so too, as the empty box's state.
    if not text.strip():
        return [Violation(EMPTY_TEXT, "The post is empty: write it in your own words.")]
    length = measure(network, text, url)
    if length > known.max_length:
        with_link = " with the link" if url else ""
        limit = f"{known.display_name} allows {known.max_length}"
        return [Violation(TOO_LONG, f"The post is {length} characters{with_link}; {limit}.")]
    return []


def outcome_of(violations: list[Violation]) -> Outcome:
    return Outcome.REJECTED if violations else Outcome.APPROVED


def check(network: str, text: str, url: str | None = None, standing: Standing | None = None) -> Verdict:
    """Everything the live check shows: the outcome, why, and the length against the limit."""
    violations = evaluate(network, text, url, standing)
    known = networks.find(network)
    return Verdict(
        outcome=outcome_of(violations),
        violations=violations,
        length=measure(network, text, url),
        limit=known.max_length if known else 0,
    )


# --- counting ------------------------------------------------------------------------------------

# twitter-text v3: code points in these ranges weigh 1, all others 2.
_X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))


def _x_weight(char: str) -> int:
    point = ord(char)
    return 1 if any(start <= point <= end for start, end in _X_LIGHT_RANGES) else 2


def _x_weighted_length(text: str) -> int:
    text = unicodedata.normalize("NFC", text)
    length = 0
    position = 0
    for match in _URL_IN_TEXT.finditer(text):
        link = match.group().rstrip(_SENTENCE_PUNCTUATION)
        if not link.partition("://")[2]:
            continue  # a bare "https://" is text, not a link
        length += _x_weighted_plain(text[position : match.start()]) + X_URL_LENGTH
        position = match.start() + len(link)
    return length + _x_weighted_plain(text[position:])


def _x_weighted_plain(text: str) -> int:
    length = 0
    for grapheme in _graphemes(text):
        if _is_emoji_sequence(grapheme):
            length += 2
        else:
            length += sum(_x_weight(char) for char in grapheme)
    return length


def _is_emoji_sequence(grapheme: str) -> bool:
    return len(grapheme) > 1 and any(
        char in "\u200d\ufe0f" or _is_regional_indicator(char) or _is_emoji_modifier(char) for char in grapheme
    )


def _is_regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _is_emoji_modifier(char: str) -> bool:
    return 0x1F3FB <= ord(char) <= 0x1F3FF


def _extends(char: str) -> bool:
    """Whether ``char`` belongs to the grapheme before it: marks (variation selectors and the keycap
    included), emoji skin tones, joiners and tag characters."""
    return (
        unicodedata.category(char) in ("Mn", "Mc", "Me")
        or _is_emoji_modifier(char)
        or char in "\u200c\u200d"
        or 0xE0020 <= ord(char) <= 0xE007F
    )


def _is_pictographic(char: str) -> bool:
    return unicodedata.category(char) == "So" or 0x1F000 <= ord(char) <= 0x1FAFF


def _graphemes(text: str) -> Iterator[str]:
    """Approximate extended grapheme clusters (see the module's docstring for where it errs)."""
    # Slices by index rather than growing a string, so one huge cluster (a "zalgo" text of thousands of
    # combining marks) stays linear.
    start = 0
    for index in range(1, len(text)):
        char, previous = text[index], text[index - 1]
        joins = (
            _extends(char)
            or (previous == "\u200d" and _is_pictographic(char))
            or (previous == "\r" and char == "\n" and index - start == 1)
            or (index - start == 1 and _is_regional_indicator(previous) and _is_regional_indicator(char))
        )
        if not joins:
            yield text[start:index]
            start = index
    if text:
        yield text[start:]
