"""Suggested captions and the personal-touch score: pure functions, read by content (which caption a
member is offered) and by sharing (how much of the posted text is the member's own).

A content item has a default caption (``suggested_caption``) and may have captions per network and per
language; an empty network means every network, an empty language every language. The caption offered
for (network, member language) is chosen by language first, then network (a caption in the member's
language matters more than one written for the network):

1. the member's exact language tag, then each shorter prefix of it ("pt-BR", then "pt"), as audiences
   match languages (``condividi.audience.language_keys_reached_by``), then a caption for every language;
2. within one language, the caption for that network before the one for every network;
3. failing all of them, the item's default caption; none at all when that is empty too.

The personal-touch score (docs/content.md, "The personal-touch score") is the share of the posted text's
words that are not the suggested caption's words kept in order: ``1 - LCS(caption, post) / len(post)``
over word tokens, where LCS is the longest common subsequence (the matches of the Indel edit distance,
computed by rapidfuzz). 0: the caption posted as it was; 1: nothing of it kept; None: no caption was
suggested, so there is nothing to compare with.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import LCSseq

from condividi.audience import language_key, language_keys_reached_by


@dataclass(frozen=True)
class Caption:
    """One suggested caption; ``network`` and ``language`` empty: for every network, every language."""

    network: str
    language: str
    text: str


@dataclass(frozen=True)
class Chosen:
    text: str
    # The caption's own network and language ("" for every one); both None: the item's default.
    network: str | None
    language: str | None

    @property
    def is_default(self) -> bool:
        return self.network is None


def choose_caption(
    captions: Iterable[Caption], default: str, network: str, member_language: str | None
) -> Chosen | None:
    """The caption offered for ``network`` to a member writing ``member_language`` (None: unknown, so
    only captions for every language and the default qualify). None when there is none to offer."""
    by_key = {(c.network.lower(), language_key(c.language)): c for c in captions}
    languages = [*language_keys_reached_by(member_language), ""] if member_language else [""]
    wanted_network = network.strip().lower()
    for language in languages:
        for candidate_network in (wanted_network, ""):
            found = by_key.get((candidate_network, language))
            if found is not None:
                return Chosen(found.text, found.network, found.language)
    return Chosen(default, None, None) if default else None


# Scripts written without spaces between words: each of their characters is a token of its own, so that
# a Japanese or Thai post is compared character by character rather than as one giant "word".
_UNSPACED = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\U00020000-\U0002fa1f"
)
_TOKEN = re.compile(f"[{_UNSPACED}]|[^\\W{_UNSPACED}]+")


def tokens(text: str) -> list[str]:
    """Word tokens compared by the score: runs of letters, digits and marks, compatibility-normalised and
    case-folded ("Proud" = "PROUD", full-width letters = ASCII); punctuation, emoji and spacing are not words, so
    re-punctuating the caption is not counted as writing it."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def personal_touch(caption: str | None, posted: str) -> float | None:
    """How much of ``posted`` is the employee's own rather than ``caption``'s, 0..1 (4 decimals); None
    when no caption was suggested."""
    if not caption:
        return None
    suggested, written = tokens(caption), tokens(posted)
    if not written:
        # Nothing but punctuation or emoji: the caption's words were not kept, unless it had none either.
        return 0.0 if not suggested and caption.strip() == posted.strip() else 1.0
    kept = LCSseq.similarity(suggested, written)
    return round(1 - kept / len(written), 4)


def captions_key(captions: Sequence[Caption]) -> list[tuple[str, str]]:
    """The (network, language) pairs as compared, for finding two captions for one pair."""
    return [(c.network.lower(), language_key(c.language)) for c in captions]
