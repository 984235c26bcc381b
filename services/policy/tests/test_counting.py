"""Length as each network counts it, against the cases the networks' reference libraries publish."""

import json
from pathlib import Path

import pytest

from services.policy import counting, rules

# twitter-text's own conformance cases (inputs and expected weighted lengths, copied as data; the file
# names its source and commit).
_CASES = json.loads((Path(__file__).parent / "data" / "twitter_text_weighted_length.json").read_text(encoding="utf-8"))


def test_the_conformance_table_is_the_published_one() -> None:
    assert "twitter-text conformance/validate.yml" in _CASES["source"]
    assert len(_CASES["cases"]) == 24


@pytest.mark.parametrize("case", _CASES["cases"], ids=lambda case: case["description"][:60])
def test_x_weighted_length_matches_twitter_text(case: dict[str, str | int]) -> None:
    assert counting.x_weighted_length(str(case["text"])) == case["weighted_length"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("H🐱☺👨‍👩‍👧‍👦", 7),  # an emoji after a Latin letter is its own
        ("🧕🏾", 2),  # a Unicode 10 emoji with a skin tone
        ("1⃣", 2),  # a keycap: 2, not 1 + 2
        ("🏴󠁧󠁢󠁳󠁣󠁴󠁿", 2),  # a tag sequence (Scotland)
        ("©", 1),  # text-style: one code point in the light ranges
        ("Ciao 👋🏽 Milano!", 15),
    ],
)
def test_x_emoji_weigh_two_whatever_their_sequence(text: str, expected: int) -> None:
    assert counting.x_weighted_length(text) == expected


@pytest.mark.parametrize(
    ("text", "links"),
    [
        ("see https://acme.com/news.", ["https://acme.com/news"]),
        ("see acme.com/news and www.acme.it", ["acme.com/news", "www.acme.it"]),
        ("not a link: https://acme.example/x", []),  # .example is no top-level domain
        ("mail me: team@acme.com", []),  # after "@": an address, not a link
        ("https://t.co/abc123?x=1 more", ["https://t.co/abc123?x=1"]),
        ("\u2066http://foobar.پاکستان/\u2069", ["http://foobar.پاکستان/"]),
    ],
)
def test_links_are_found_where_twitter_text_finds_them(text: str, links: list[str]) -> None:
    assert [link.url for link in counting.links(text)] == links


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("👨‍👩‍👧", 1),
        ("🇮🇹🇫🇷", 2),
        ("e\u0301", 1),
        ("नमस्ते", 3),  # Devanagari conjuncts: the old approximation counted 4
        ("\u1100\u1161\u11a8", 1),  # a decomposed Hangul syllable
        ("Grüße aus Köln", 14),
    ],
)
def test_bluesky_counts_unicode_graphemes(text: str, expected: int) -> None:
    assert rules.measure("bluesky", text) == expected


def test_utf16_offsets_count_astral_characters_twice() -> None:
    text = "😀 garantito"
    assert counting.utf16_offset(text, 2) == 3
    assert counting.utf16_offset("abc", 2) == 2
