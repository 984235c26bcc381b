import pytest

from condividi import networks
from services.policy import rules

LINK = "https://acme.example/news/our-new-plant-opens-in-turin?utm_source=condividi"


def test_x_text_and_link_one_over_the_limit_is_rejected() -> None:
    text = "a" * 257
    assert rules.measure("x", text, LINK) == 281  # 257 + 1 space + 23 for any link
    violations = rules.evaluate("x", text, LINK)
    assert violations == [rules.Violation("too_long", "The post is 281 characters with the link; X allows 280.")]
    assert rules.outcome_of(violations) == rules.Outcome.REJECTED


def test_x_text_and_link_exactly_at_the_limit_is_approved() -> None:
    text = "a" * 256
    assert rules.measure("x", text, LINK) == 280
    assert rules.evaluate("x", text, LINK) == []
    assert rules.outcome_of([]) == rules.Outcome.APPROVED


def test_x_counts_a_link_inside_the_text_as_23() -> None:
    # A real top-level domain: twitter-text, and so X, leaves "https://acme.example/..." as text, since
    # .example is no top-level domain (counting.py; the conformance cases are in test_counting.py).
    long_link = "https://acme.com/" + "p" * 200
    assert rules.measure("x", f"Read {long_link} now") == len("Read ") + 23 + len(" now")
    assert rules.measure("x", "http://a.com") == 23
    assert rules.measure("x", "http://a.example") == len("http://a.example")
    # Without a protocol too, as X links "acme.com/news" itself.
    assert rules.measure("x", "see acme.com/news") == len("see ") + 23
    # Sentence punctuation after a link is text, not part of the link.
    assert rules.measure("x", f"See {long_link}.") == len("See ") + 23 + 1
    # Two links, and one that is only a scheme (not a link, so its characters count).
    assert rules.measure("x", f"{long_link} {long_link}") == 23 + 1 + 23
    assert rules.measure("x", "https:// x") == len("https:// x")
    # The same text is far over the limit where links count their real length.
    assert rules.evaluate("x", f"Read {long_link} now") == []
    assert rules.evaluate("threads", f"{long_link} {long_link} {long_link}")[0].code == "too_long"


def test_x_weighs_cjk_and_emoji_as_two() -> None:
    assert rules.measure("x", "日本語") == 6
    assert rules.measure("x", "Città è già") == len("Città è già")
    assert rules.measure("x", "Citta\u0300") == 5  # decomposed: NFC first, as X does
    # A heart with its variation selector, a skin tone, a ZWJ family, a flag: two each.
    assert rules.measure("x", "❤️👍🏽👨‍👩‍👧🇮🇹") == 8
    assert rules.evaluate("x", "日" * 140) == []
    assert rules.evaluate("x", "日" * 141)[0].message == "The post is 282 characters; X allows 280."


def test_bluesky_counts_graphemes_not_code_points() -> None:
    family = "👨‍👩‍👧"
    assert len(family) == 5
    assert rules.measure("bluesky", family) == 1
    assert rules.measure("bluesky", "🇮🇹🇫🇷") == 2
    assert rules.measure("bluesky", "e\u0301") == 1
    assert rules.evaluate("bluesky", family * 300) == []
    assert rules.evaluate("bluesky", family * 301)[0].code == "too_long"


def test_linkedin_boundary_counts_the_link_and_its_space() -> None:
    link = "https://acme.example/x"
    fits = "a" * (3000 - 1 - len(link))
    assert rules.measure("linkedin", fits, link) == 3000
    assert rules.evaluate("linkedin", fits, link) == []
    assert rules.evaluate("linkedin", fits + "a", link) == [
        rules.Violation("too_long", "The post is 3001 characters with the link; LinkedIn allows 3000.")
    ]
    assert rules.evaluate("linkedin", "a" * 3000) == []
    assert rules.evaluate("linkedin", "a" * 3001) == [
        rules.Violation("too_long", "The post is 3001 characters; LinkedIn allows 3000.")
    ]


# The limits from each network's own documentation (shared/reference/networks.md), written out here
# rather than read from condividi.networks, so that a wrong number in the table fails a test.
LIMITS = {
    "linkedin": 3000,
    "x": 280,
    "facebook": 63206,
    "threads": 500,
    "bluesky": 300,
    "reddit": 5000,
    "telegram": 4096,
    "whatsapp": 65536,
}


def test_the_rules_know_exactly_the_networks_of_the_one_table() -> None:
    assert sorted(LIMITS) == networks.supported_names()


@pytest.mark.parametrize(("network", "limit"), sorted(LIMITS.items()))
def test_every_network_allows_its_limit_and_not_one_more(network: str, limit: int) -> None:
    assert rules.check(network, "a" * limit).outcome == rules.Outcome.APPROVED
    verdict = rules.check(network, "a" * (limit + 1))
    assert verdict.outcome == rules.Outcome.REJECTED
    assert (verdict.length, verdict.limit) == (limit + 1, limit)
    assert [v.code for v in verdict.violations] == ["too_long"]


# Instagram and Pinterest have neither a share-intent link nor a publisher: sharing refuses them, so the
# rules must too (the live check once approved them).
@pytest.mark.parametrize("network", ["myspace", "instagram", "pinterest", ""])
def test_a_network_outside_the_table_is_rejected_as_unsupported(network: str) -> None:
    verdict = rules.check(network, "hello")
    assert verdict.outcome == rules.Outcome.REJECTED
    assert verdict.limit == 0
    assert verdict.length == 5
    assert [v.code for v in verdict.violations] == ["unsupported_network"]
    assert verdict.violations[0].message.startswith(f"Sharing to {network!r} is not supported;")
    assert verdict.violations[0].message.endswith(f"supported networks: {', '.join(networks.supported_names())}.")


def test_network_names_are_matched_whatever_their_case_and_spaces() -> None:
    assert rules.check(" LinkedIn ", "a" * 3001).limit == 3000


def test_pathological_input_is_counted_in_linear_time() -> None:
    # Would take minutes with a backtracking URL pattern or a string grown one mark at a time.
    assert rules.measure("x", "https://" + "." * 70000) == 70008
    assert rules.measure("bluesky", "a" + "\u0301" * 70000) == 1


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u00a0"])
def test_an_empty_or_blank_post_is_not_approved(text: str) -> None:
    # Sharing refuses a blank text (422): the live check must not show such a post as allowed.
    for network in networks.supported_names():
        verdict = rules.check(network, text, LINK)
        assert verdict.outcome is rules.Outcome.REJECTED
        assert [v.code for v in verdict.violations] == [rules.EMPTY_TEXT]
