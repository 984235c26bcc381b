"""What a page says about itself for a link preview: its Open Graph and Twitter-card tags, the canonical
link and the robots meta, read with an HTML5 parser (selectolax's Lexbor), never with patterns over the
text. A pure function of the page's bytes."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser

# Stored values are cut here: a page may hold anything in its tags.
MAX_TEXT = 2000
MAX_URL = 2048


@dataclass(frozen=True)
class PageMeta:
    title: str | None = None
    description: str | None = None
    image_url: str | None = None
    # og:image:width/height as the page declares them (networks use them before the image arrives).
    image_width: int | None = None
    image_height: int | None = None
    canonical_url: str | None = None
    og_url: str | None = None
    site_name: str | None = None
    robots: str | None = None
    twitter_card: str | None = None
    # Which tag the image came from: "og" or "twitter" (LinkedIn and Facebook read only og:image).
    image_source: str | None = None


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = " ".join(value.split())
    return cleaned[:MAX_TEXT] or None


def _dimension(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if 0 < number < 100_000 else None


def _absolute(base: str, value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    joined = urljoin(base, value.strip())
    return joined if joined.lower().startswith(("http://", "https://")) and len(joined) <= MAX_URL else None


def parse_page(html: bytes | str, page_url: str) -> PageMeta:
    """The preview's tags of ``html``, fetched from ``page_url`` (relative URLs resolve against it).
    The first occurrence of a tag wins, as the networks' crawlers take it."""
    tree = LexborHTMLParser(html)
    properties: dict[str, str] = {}
    for node in tree.css("meta"):
        attributes = node.attributes
        key = attributes.get("property") or attributes.get("name")
        content = attributes.get("content")
        if key and content is not None:
            properties.setdefault(key.strip().lower(), content)
    canonical = None
    for node in tree.css("link[href]"):
        rels = (node.attributes.get("rel") or "").lower().split()
        if "canonical" in rels:
            canonical = node.attributes.get("href")
            break
    title_node = tree.css_first("title")
    title = properties.get("og:title") or properties.get("twitter:title") or (title_node.text() if title_node else None)
    description = (
        properties.get("og:description") or properties.get("twitter:description") or properties.get("description")
    )
    og_image = properties.get("og:image") or properties.get("og:image:url") or properties.get("og:image:secure_url")
    twitter_image = properties.get("twitter:image") or properties.get("twitter:image:src")
    image = _absolute(page_url, og_image) if og_image else _absolute(page_url, twitter_image)
    source = ("og" if og_image else "twitter") if image else None
    return PageMeta(
        title=_text(title),
        description=_text(description),
        image_url=image,
        image_width=_dimension(properties.get("og:image:width")) if source == "og" else None,
        image_height=_dimension(properties.get("og:image:height")) if source == "og" else None,
        canonical_url=_absolute(page_url, canonical),
        og_url=_absolute(page_url, properties.get("og:url")),
        site_name=_text(properties.get("og:site_name")),
        robots=_text(properties.get("robots")),
        twitter_card=_text(properties.get("twitter:card")),
        image_source=source,
    )
