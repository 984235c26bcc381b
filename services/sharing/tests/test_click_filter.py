"""What counts as a click, decided in memory on the click path: crawlers by family, a visitor's repeats
within the window, the rates per visitor and per link, and memory that stays within its bytes."""

from __future__ import annotations

import hashlib

import pytest

from condividi.caches import ENTRY_OVERHEAD_BYTES, ByteBoundedLRU
from services.sharing import click_filter as click_filter_module
from services.sharing.click_filter import (
    LINK_RATE,
    MAX_USER_AGENT_BYTES,
    REPEAT,
    VISITOR_RATE,
    ClickFilter,
    CrawlerCheck,
    FilterSettings,
    is_crawler,
    visitor_digest,
)

# --- crawlers, one family at a time ---------------------------------------------------------------

PEOPLE = [
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36",
    b"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    b"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    b"Version/18.1 Mobile/15E148 Safari/604.1",
    b"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 "
    b"Mobile Safari/537.36 [LinkedInApp]/9.30",
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 Edg/131.0",
    # In-app browsers of the networks people read posts in.
    b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    b"Mobile/15E148 [FBAN/FBIOS;FBAV/440.0.0.34.109;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.0;FBLC/en_US]",
    b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    b"Mobile/15E148 Instagram 300.0.0.0 (iPhone15,2; iOS 17_0; en_US)",
]

NOT_PEOPLE = {
    "bluesky": [b"Mozilla/5.0 (compatible; Bluesky Cardyb/1.1; +mailto:support@bsky.app)"],
    "mastodon": [
        b"http.rb/5.1.1 (Mastodon/4.2.1; +https://mastodon.social/)",
        b"http.rb/5.1.1 (Mastodon/4.2.1; +https://mastodon.social/) Bot",
    ],
    "iframely": [
        b"Iframely/1.3.1 (+https://iframely.com/docs/about)",
        b"Mozilla/5.0 (compatible; Iframely/1.3.1; +https://iframely.com/docs/about) facebookexternalhit/1.1",
    ],
    "microsoft office": [
        b"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.12026; Pro)",
        b"Microsoft Office Word 2014",
        b"Microsoft Office Excel 2014",
        b"Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
        b"Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com",
    ],
    "http libraries": [
        b"okhttp/4.12.0",
        b"axios/1.7.2",
        b"node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
        b"node-fetch",
        b"python-requests/2.32.3",
        b"python-httpx/0.28.1",
        b"Python/3.11 aiohttp/3.10.5",
        b"Go-http-client/1.1",
        b"Java/17.0.9",
    ],
    "command-line tools": [b"curl/8.5.0", b"Wget/1.21.4", b"HTTPie/3.2.2"],
    "headless browsers": [
        b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/130.0.0.0 Safari/537.36",
        b"Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 PhantomJS/2.1.1 Safari/538.1",
    ],
    "network and chat previews": [
        b"LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        b"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        b"Twitterbot/1.0",
        b"WhatsApp/2.23.20.0",
        b"TelegramBot (like TwitterBot)",
        b"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        b"Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        b"Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)",
    ],
    "search engines": [b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"],
}


@pytest.mark.parametrize("user_agent", PEOPLE)
def test_a_persons_browser_or_app_is_no_crawler(user_agent: bytes) -> None:
    assert not is_crawler(user_agent)


@pytest.mark.parametrize("family", NOT_PEOPLE)
def test_each_family_of_fetchers_is_not_a_person(family: str) -> None:
    missed = [ua for ua in NOT_PEOPLE[family] if not CrawlerCheck()(ua)]
    assert not missed, f"{family}: taken for people: {missed}"


def test_a_user_agent_too_long_for_a_browser_is_not_a_person_and_is_not_cached() -> None:
    check = CrawlerCheck(cache_bytes=1024 * 1024)
    huge = PEOPLE[0] + b" " + b"x" * (1024 * 1024)
    assert check(huge)
    assert check(PEOPLE[0] + b" " + b"x" * (MAX_USER_AGENT_BYTES - len(PEOPLE[0])))
    assert check.cached_bytes == 0


def test_the_crawler_cache_holds_bytes_not_entries() -> None:
    check = CrawlerCheck(cache_bytes=16 * 1024, checks_per_address_per_minute=0)
    for n in range(120):
        # Distinct user agents, each just within the length a browser's can have.
        user_agent = PEOPLE[0] + b" " + str(n).encode() * (MAX_USER_AGENT_BYTES // 8)
        check(user_agent[:MAX_USER_AGENT_BYTES])
        assert check.cached_bytes <= 16 * 1024
    assert check.cached_bytes > 8 * 1024, "the cache should fill up to its bytes"


def test_an_address_sending_new_user_agents_again_and_again_gets_them_matched_only_so_often(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    matched: list[bytes] = []
    real = click_filter_module._matches_crawler_list

    def counting(user_agent: bytes) -> bool:
        matched.append(user_agent)
        return real(user_agent)

    monkeypatch.setattr(click_filter_module, "_matches_crawler_list", counting)
    check = CrawlerCheck(checks_per_address_per_minute=20)
    verdicts = [check(PEOPLE[0] + b" Build/%d" % n, "203.0.113.7") for n in range(100)]
    assert len(matched) == 20, "each new user agent past the budget was matched all the same"
    assert verdicts[:20] == [False] * 20 and all(verdicts[20:]), "past the budget a new one is not a click"
    # Known user agents, and other addresses, are not held back by it.
    assert check(PEOPLE[0] + b" Build/3", "203.0.113.7") is False
    assert check(PEOPLE[1], "198.51.100.9") is False


# --- the byte-bounded cache ------------------------------------------------------------------------


def test_byte_bounded_lru_evicts_the_least_recently_used_by_bytes() -> None:
    cache: ByteBoundedLRU[str, int] = ByteBoundedLRU(3 * (ENTRY_OVERHEAD_BYTES + 10))
    for key in "abc":
        cache.put(key, ord(key), 10)
    assert cache.get("a") == ord("a")  # now the most recent
    cache.put("d", 4, 10)
    assert cache.peek("b") is None and cache.peek("a") == ord("a")
    cache.put("big", 0, 20)  # costs two small ones
    assert len(cache) == 2 and cache.used_bytes <= cache.capacity_bytes
    cache.put("huge", 0, 10_000)  # larger than the whole cache: not kept, nothing else lost for it
    assert cache.peek("huge") is None and len(cache) == 2
    cache.put("big", 1, 10)  # replacing an entry frees what it held
    assert cache.used_bytes == sum(ENTRY_OVERHEAD_BYTES + n for n in (10, 10))


# --- the visitor -------------------------------------------------------------------------------------

KEY = hashlib.blake2b(b"salt").digest()


def test_the_visitor_is_another_on_another_link_or_day_and_the_same_otherwise() -> None:
    def visitor(code: str = "abcdefgh", day: int = 20_000, ip: str = "203.0.113.7", ua: bytes = PEOPLE[0]) -> bytes:
        return visitor_digest(KEY, code=code, day=day, ip=ip, user_agent=ua)

    assert visitor() == visitor()
    assert len({visitor(), visitor(code="zyxwvuts"), visitor(day=20_001), visitor(ip="203.0.113.8")}) == 4
    assert visitor_digest(hashlib.blake2b(b"other salt").digest(), code="abcdefgh", day=20_000,
                          ip="203.0.113.7", user_agent=PEOPLE[0]) != visitor()  # fmt: skip
    assert b"203.0.113.7" not in visitor().hex().encode()


# --- repeats and rates -------------------------------------------------------------------------------


def click_filter(window: float = 60, per_visitor: float = 0, per_link: float = 0) -> ClickFilter:
    return ClickFilter(
        FilterSettings(
            repeat_window_seconds=window,
            visitor_clicks_per_minute=per_visitor,
            link_clicks_per_minute=per_link,
            memory_bytes=1024 * 1024,
        )
    )


def test_a_visitor_counts_once_per_link_per_window() -> None:
    gate = click_filter(window=60)
    me = visitor_digest(KEY, code="abcdefgh", day=1, ip="203.0.113.7", user_agent=PEOPLE[0])
    other_link = visitor_digest(KEY, code="zyxwvuts", day=1, ip="203.0.113.7", user_agent=PEOPLE[0])
    outcomes = [gate.check(visitor=me, address="203.0.113.7", code="abcdefgh", now=1000 + t) for t in range(3000)]
    assert outcomes[0] is None
    assert set(outcomes[1:60]) == {REPEAT}, "3,000 clicks in a row are one click per window"
    assert outcomes[60] is None and outcomes.count(None) == 50
    assert gate.check(visitor=other_link, address="203.0.113.7", code="zyxwvuts", now=1001) is None


def test_no_window_counts_every_click() -> None:
    gate = click_filter(window=0)
    me = b"v" * 16
    assert [gate.check(visitor=me, address="a", code="c", now=t) for t in range(5)] == [None] * 5


def test_one_address_changing_its_user_agent_is_held_to_the_visitor_rate() -> None:
    gate = click_filter(per_visitor=30)
    outcomes = [
        gate.check(visitor=bytes([n % 256, n // 256]) * 8, address="203.0.113.7", code="abcdefgh", now=1000.0)
        for n in range(100)
    ]
    assert outcomes.count(None) == 30
    assert set(outcomes[30:]) == {VISITOR_RATE}
    # Another address is not held back by this one; and the rate refills (30 a minute: one per 2 s).
    assert gate.check(visitor=b"x" * 16, address="198.51.100.9", code="abcdefgh", now=1000.0) is None
    assert gate.check(visitor=b"y" * 16, address="203.0.113.7", code="abcdefgh", now=1001.0) == VISITOR_RATE
    assert gate.check(visitor=b"z" * 16, address="203.0.113.7", code="abcdefgh", now=1002.1) is None


def test_a_link_is_held_to_the_link_rate_whoever_clicks() -> None:
    gate = click_filter(per_link=100)
    outcomes = [
        gate.check(visitor=n.to_bytes(16), address=f"10.0.{n // 256}.{n % 256}", code="abcdefgh", now=50.0)
        for n in range(150)
    ]
    assert outcomes.count(None) == 100 and set(outcomes[100:]) == {LINK_RATE}
    assert gate.check(visitor=b"q" * 16, address="10.9.9.9", code="otherlnk", now=50.0) is None


def test_the_filter_stays_within_its_memory() -> None:
    gate = ClickFilter(
        FilterSettings(
            repeat_window_seconds=3600, visitor_clicks_per_minute=30, link_clicks_per_minute=0, memory_bytes=256 * 1024
        )
    )
    for n in range(20_000):
        gate.check(visitor=n.to_bytes(16), address=f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}", code="c", now=1.0)
    held = gate._last_counted.used_bytes + gate._per_visitor._buckets.used_bytes + gate._per_link._buckets.used_bytes
    assert held <= 256 * 1024
