"""The caption a member is offered, and the personal-touch score: table tests of condividi/captions.py."""

import pytest

from condividi.captions import Caption, choose_caption, personal_touch, tokens

CAPTIONS = [
    Caption("", "", "Every network, every language"),
    Caption("x", "", "X, every language"),
    Caption("", "pt", "Todas as redes, português"),
    Caption("linkedin", "pt-BR", "LinkedIn, português do Brasil"),
    Caption("", "it", "Tutte le reti, italiano"),
    Caption("x", "it", "X, italiano"),
    Caption("x", "zh-Hant", "X\uff0c繁體中文"),
]


@pytest.mark.parametrize(
    ("network", "language", "expected"),
    [
        # The exact language first; within a language, the network's caption before every network's.
        ("x", "it", "X, italiano"),
        ("linkedin", "it", "Tutte le reti, italiano"),
        ("linkedin", "pt-BR", "LinkedIn, português do Brasil"),
        # Tags compare ignoring case; a region falls back to its language.
        ("linkedin", "PT-br", "LinkedIn, português do Brasil"),
        ("x", "pt-BR", "Todas as redes, português"),
        ("linkedin", "pt-PT", "Todas as redes, português"),
        ("x", "it-CH", "X, italiano"),
        ("x", "zh-Hant-TW", "X\uff0c繁體中文"),
        # A language with no caption, or none known: captions for every language, network first.
        ("x", "de", "X, every language"),
        ("threads", "de", "Every network, every language"),
        ("x", None, "X, every language"),
        ("x", "", "X, every language"),
        # A prefix never reaches a more specific tag ("zh" is not "zh-Hant").
        ("linkedin", "zh", "Every network, every language"),
        # Network names compare ignoring case.
        ("X", "it", "X, italiano"),
    ],
)
def test_the_caption_offered_for_a_network_and_a_members_language(
    network: str, language: str | None, expected: str
) -> None:
    chosen = choose_caption(CAPTIONS, "The item's default", network, language)
    assert chosen is not None and chosen.text == expected
    assert not chosen.is_default


@pytest.mark.parametrize(
    ("captions", "default", "network", "language", "expected"),
    [
        ([Caption("x", "it", "X, italiano")], "Default", "linkedin", "it", "Default"),
        ([Caption("x", "it", "X, italiano")], "Default", "x", "de", "Default"),
        ([Caption("x", "it", "X, italiano")], "Default", "x", None, "Default"),
        ([], "Default", "x", "it", "Default"),
        ([], "", "x", "it", None),
        ([Caption("linkedin", "", "Only LinkedIn")], "", "x", None, None),
    ],
)
def test_the_items_default_when_no_caption_fits_and_none_without_one(
    captions: list[Caption], default: str, network: str, language: str | None, expected: str | None
) -> None:
    chosen = choose_caption(captions, default, network, language)
    assert (chosen.text if chosen else None) == expected
    if chosen is not None:
        assert chosen.is_default and chosen.network is None and chosen.language is None


CAPTION = "Proud of our new plant in Turin: 200 new jobs!"


@pytest.mark.parametrize(
    ("caption", "posted", "score"),
    [
        # The caption as it was: nothing is the employee's own, whatever the case, spacing or punctuation.
        (CAPTION, CAPTION, 0.0),
        (CAPTION, "proud of our NEW plant in Turin -- 200 new jobs", 0.0),
        (CAPTION, f"  {CAPTION}  🎉", 0.0),
        # Fully rewritten: none of the caption's words kept.
        (CAPTION, "I walked the floor yesterday and it is something else", 1.0),
        # Small edits: the share of posted words not kept from the caption in order.
        (CAPTION, "Proud of our new plant in Turin: 200 new jobs! I helped build it", round(1 - 10 / 14, 4)),
        (CAPTION, "So proud of our new plant in Turin", round(1 - 7 / 8, 4)),
        (CAPTION, "Our new plant in Milan: 300 new jobs!", round(1 - 6 / 8, 4)),
        # Words kept out of order count only as far as they stay in order.
        ("one two three four", "four three two one", 0.75),
        # Another script, with spaces between words.
        ("Гордимся нашим новым заводом", "Мы гордимся нашим новым заводом в Турине", round(1 - 4 / 7, 4)),
        # Scripts without spaces are compared character by character.
        ("私たちの新しい工場", "私たちの新しい工場です", round(1 - 9 / 11, 4)),
        # Rewritten, but one kana (し) in common: 1 of 8 characters.
        ("私たちの新しい工場", "昨日見学しました", 0.875),
        # Full-width letters are the same words (NFKC).
        ("Proud of Turin", "\uff30\uff52\uff4f\uff55\uff44 of Turin", 0.0),
        # A post without words keeps none of the caption's.
        (CAPTION, "🎉🎉", 1.0),
    ],
)
def test_the_personal_touch_score(caption: str, posted: str, score: float) -> None:
    assert personal_touch(caption, posted) == score


@pytest.mark.parametrize("caption", [None, ""])
def test_no_caption_no_score(caption: str | None) -> None:
    assert personal_touch(caption, "My own words") is None


def test_the_score_is_always_between_0_and_1() -> None:
    samples = [CAPTION, "", "🎉", "a", "a a a a", "Proud", "x" * 300, "私たち", "один два"]
    for caption in samples[1:]:
        for posted in samples:
            score = personal_touch(caption or None, posted or "🎉")
            assert score is None or 0.0 <= score <= 1.0


def test_tokens_are_words_of_every_script() -> None:
    assert tokens("Proud of the team! 200 jobs, São Paulo.") == [
        "proud",
        "of",
        "the",
        "team",
        "200",
        "jobs",
        "são",
        "paulo",
    ]
    assert tokens("新工場") == ["新", "工", "場"]
    assert tokens("🎉 -- !") == []
