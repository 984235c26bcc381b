"""Which requests of a tracking link count as clicks: not crawlers, link previews or programs, not a
visitor's repeats within a window, and not beyond a rate per visitor and per link.

Everything here runs on the click path (the hottest path of the system), so each check is a few
dictionary look-ups; the one expensive step, matching a user agent against the crawler list, is cached
by user agent in a cache bounded by bytes.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from crawlerdetect.crawlerdetect import get_compiled_crawler_regex, get_compiled_exclusions_regex

from condividi.caches import ByteBoundedLRU

# --- crawlers ------------------------------------------------------------------------------------

# The project's own additions to the maintained list (crawlerdetect: JayBizzle's Crawler-Detect
# patterns), for fetchers it does not know; each a substring of the lower-cased user agent. The README
# ("What counts as a click") lists them.
OWN_CRAWLER_MARKS: Final = (
    b"cardyb",  # Bluesky's link-card fetcher ("Bluesky Cardyb/1.1")
    b"ms-office",  # Office apps checking a link before they open it ("compatible; ms-office; MSOffice 16")
)

# Browsers' and apps' user agents are a few hundred bytes; one longer than this is not a person's, and
# matching it against some 1,500 patterns would cost more than the redirect itself.
MAX_USER_AGENT_BYTES: Final = 512

# How much memory the crawler verdicts may hold (the same few hundred user agents make most clicks).
DEFAULT_CRAWLER_CACHE_BYTES: Final = 4 * 1024 * 1024


def _matches_crawler_list(user_agent: bytes) -> bool:
    lowered = user_agent.lower()
    if any(mark in lowered for mark in OWN_CRAWLER_MARKS):
        return True
    # As crawlerdetect's own check does: take out the tokens every browser carries (Mozilla, Safari,
    # ...), then look for a crawler pattern in what is left. Called directly rather than through its
    # CrawlerDetect class, whose cache holds 1,024 user agents whatever their size.
    text = get_compiled_exclusions_regex().sub("", user_agent.decode("latin-1")).strip()
    return bool(text) and get_compiled_crawler_regex().search(text) is not None


class _RateLimit:
    """Token buckets by key: ``per_minute`` tokens a minute, at most a minute's worth saved up."""

    def __init__(self, per_minute: float, memory_bytes: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = per_minute
        self._buckets: ByteBoundedLRU[bytes | str, list[float]] = ByteBoundedLRU(memory_bytes)

    def take(self, key: bytes | str, now: float) -> bool:
        if self.burst <= 0:
            return True
        bucket = self._buckets.get(key)
        if bucket is None:
            # A forgotten bucket starts full again: eviction can only favour a visitor, never lose a click.
            self._buckets.put(key, [self.burst - 1, now], len(key) + 64)
            return True
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens < 1:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1
        return True


class CrawlerCheck:
    def __init__(
        self, cache_bytes: int = DEFAULT_CRAWLER_CACHE_BYTES, checks_per_address_per_minute: float = 60
    ) -> None:
        self._verdicts: ByteBoundedLRU[bytes, bool] = ByteBoundedLRU(cache_bytes)
        # Compiled now (a tenth of a second, once per process), not on the first click.
        get_compiled_exclusions_regex()
        get_compiled_crawler_regex()
        # Matching a user agent not seen before costs up to 2 ms; a client sending a new one with each
        # request could keep a core busy. So each address gets this many of those a minute; past them,
        # a new user agent is not matched (nor counted) until the budget refills.
        self._new_agents = _RateLimit(checks_per_address_per_minute, 1024 * 1024)

    def __call__(self, user_agent: bytes, address: str = "") -> bool:
        """Whether the user agent is anything but a person's browser or app: a crawler, a link preview,
        a headless browser, a command-line tool or an HTTP library; and one too long to be a browser's,
        or a new one from an address that has sent too many new ones lately."""
        if len(user_agent) > MAX_USER_AGENT_BYTES:
            return True
        verdict = self._verdicts.get(user_agent)
        if verdict is None:
            if not self._new_agents.take(address, time.monotonic()):
                return True
            verdict = _matches_crawler_list(user_agent)
            self._verdicts.put(user_agent, verdict, len(user_agent))
        return verdict

    @property
    def cached_bytes(self) -> int:
        return self._verdicts.used_bytes


is_crawler = CrawlerCheck()


# --- the visitor ---------------------------------------------------------------------------------


def visitor_hasher(key: bytes) -> Callable[..., bytes]:
    """``visitor_digest`` with the key bound: the keyed state is set up once and copied for each click,
    which costs half of keying BLAKE2b again every time (the click path's most expensive step)."""
    keyed = hashlib.blake2b(key=key, digest_size=16)

    def digest(*, code: str, day: int, ip: str, user_agent: bytes) -> bytes:
        state = keyed.copy()
        state.update(b"%d\n%s\n%s\n%s" % (day, code.encode(), ip.encode(), user_agent))
        return state.digest()

    return digest


def visitor_digest(key: bytes, *, code: str, day: int, ip: str, user_agent: bytes) -> bytes:
    """Who clicked, without storing who: a keyed hash (BLAKE2b's MAC mode) of address and user agent,
    for one link on one UTC day. The same person is a different visitor on another link or another day,
    so the hash identifies no one for longer than the unique-click count needs (a visitor's first
    click on a link on a UTC day); and without the key it cannot be tried against guessed addresses."""
    return visitor_hasher(key)(code=code, day=day, ip=ip, user_agent=user_agent)


# --- repeats and rates ---------------------------------------------------------------------------

# The outcome label of a request that reached a published link from a person but is not counted.
REPEAT: Final = "filtered_repeat"
VISITOR_RATE: Final = "filtered_visitor_rate"
LINK_RATE: Final = "filtered_link_rate"


@dataclass(frozen=True)
class FilterSettings:
    repeat_window_seconds: float
    visitor_clicks_per_minute: float  # 0: no limit
    link_clicks_per_minute: float  # 0: no limit
    memory_bytes: int


class ClickFilter:
    """Decides, for a person's request of a published link, whether it counts: at most one click per
    visitor per link per window, and no more than the rates per visitor (their address) and per link.

    In memory and per process: with several replicas behind a load balancer each keeps its own, so a
    visitor whose requests land on two replicas may count twice in a window. Memory is bounded by bytes;
    when full, the oldest entries go (a repeat past them counts again, a rate starts afresh)."""

    def __init__(self, settings: FilterSettings) -> None:
        self.window = settings.repeat_window_seconds
        share = settings.memory_bytes // 4
        # visitor digest (already per link and day) -> when their last counted click was
        self._last_counted: ByteBoundedLRU[bytes, float] = ByteBoundedLRU(settings.memory_bytes - 2 * share)
        self._per_visitor = _RateLimit(settings.visitor_clicks_per_minute, share)
        self._per_link = _RateLimit(settings.link_clicks_per_minute, share)

    def check(self, *, visitor: bytes, address: str, code: str, now: float) -> str | None:
        """None when the click counts (and is remembered as counted), else the outcome label saying why not."""
        if self.window > 0:
            last = self._last_counted.peek(visitor)
            if last is not None and now - last < self.window:
                return REPEAT
        # The address, not address and user agent: a client picks its user agent freely, so a limit on
        # both would let it count again with each new one.
        if not self._per_visitor.take(address, now):
            return VISITOR_RATE
        if not self._per_link.take(code, now):
            return LINK_RATE
        if self.window > 0:
            self._last_counted.put(visitor, now, len(visitor) + 24)
            horizon = now - self.window
            self._last_counted.drop_oldest_while(lambda at: at <= horizon)
        return None
