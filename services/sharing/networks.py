"""What sharing needs to know about each network: how to open its share-intent composer.

Facts from the networks' documentation (see shared/reference/networks.md): LinkedIn and Facebook drop
any pre-filled text (the client must offer "copy text"); X, Threads, Bluesky, WhatsApp and Telegram
keep it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode


@dataclass(frozen=True)
class IntentLink:
    build: Callable[[str, str, str], str]  # (text, url, title) -> intent URL
    keeps_text: bool


def _query(base: str, **params: str) -> str:
    return f"{base}?{urlencode(params, quote_via=quote)}"


INTENT_LINKS: dict[str, IntentLink] = {
    "x": IntentLink(lambda text, url, _: _query("https://x.com/intent/tweet", text=text, url=url), True),
    "linkedin": IntentLink(
        lambda _t, url, _: _query("https://www.linkedin.com/sharing/share-offsite/", url=url), False
    ),
    "facebook": IntentLink(lambda _t, url, _: _query("https://www.facebook.com/sharer/sharer.php", u=url), False),
    "threads": IntentLink(lambda text, url, _: _query("https://www.threads.com/intent/post", text=text, url=url), True),
    # Bluesky's composer has no url parameter: the link goes in the text.
    "bluesky": IntentLink(
        lambda text, url, _: _query("https://bsky.app/intent/compose", text=f"{text} {url}".strip()), True
    ),
    "whatsapp": IntentLink(lambda text, url, _: _query("https://wa.me/", text=f"{text} {url}".strip()), True),
    "telegram": IntentLink(lambda text, url, _: _query("https://t.me/share/url", url=url, text=text), True),
    "reddit": IntentLink(lambda _t, url, title: _query("https://reddit.com/submit", url=url, title=title[:300]), False),
}

SUPPORTED_NETWORKS = frozenset(INTENT_LINKS)


def intent_url(network: str, *, text: str, url: str, title: str) -> str:
    return INTENT_LINKS[network].build(text, url, title)
