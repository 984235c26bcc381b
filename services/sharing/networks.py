"""How to open each network's share-intent composer.

What is supported, and whether a composer keeps the text we pre-fill, is in the one networks table
(``condividi.networks``); this module only builds the links, from the networks' documentation (see
shared/reference/networks.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from urllib.parse import quote, urlencode

from condividi.networks import Network

IntentBuilder = Callable[[str, str, str], str]  # (text, url, title) -> intent URL


def _query(base: str, **params: str) -> str:
    return f"{base}?{urlencode(params, quote_via=quote)}"


INTENT_BUILDERS: Mapping[Network, IntentBuilder] = MappingProxyType(
    {
        Network.X: lambda text, url, _: _query("https://x.com/intent/tweet", text=text, url=url),
        Network.LINKEDIN: lambda _t, url, _: _query("https://www.linkedin.com/sharing/share-offsite/", url=url),
        Network.FACEBOOK: lambda _t, url, _: _query("https://www.facebook.com/sharer/sharer.php", u=url),
        Network.THREADS: lambda text, url, _: _query("https://www.threads.com/intent/post", text=text, url=url),
        # Bluesky's composer has no url parameter: the link goes in the text.
        Network.BLUESKY: lambda text, url, _: _query("https://bsky.app/intent/compose", text=f"{text} {url}".strip()),
        Network.WHATSAPP: lambda text, url, _: _query("https://wa.me/", text=f"{text} {url}".strip()),
        Network.TELEGRAM: lambda text, url, _: _query("https://t.me/share/url", url=url, text=text),
        Network.REDDIT: lambda _t, url, title: _query("https://reddit.com/submit", url=url, title=title[:300]),
    }
)


def intent_url(network: Network, *, text: str, url: str, title: str) -> str:
    return INTENT_BUILDERS[network](text, url, title)
