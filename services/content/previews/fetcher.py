"""Fetches a link for its preview, through the SSRF-safe fetch: the page, then (when the page does not
declare og:image:width/height) the first bytes of its image, whose header tells its size (Pillow reads
the size without decoding the picture)."""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from condividi.safe_fetch import FetchPolicy, FetchRefused, Resolver, safe_fetch, system_resolver
from services.content.previews.doctor import Snapshot
from services.content.previews.page import parse_page

# Enough for the header of PNG, GIF, WebP and for JPEG's SOF marker after most EXIF blocks.
IMAGE_HEAD_BYTES = 256 * 1024
_ACCEPT_HTML = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"}


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")


def image_size(head: bytes) -> tuple[int, int] | None:
    """The (width, height) in an image's first bytes, or None when they do not tell."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(head)) as image:
                width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return (width, height) if width > 0 and height > 0 else None


async def fetch_snapshot(url: str, policy: FetchPolicy, resolve: Resolver = system_resolver) -> Snapshot:
    try:
        page = await safe_fetch(url, policy, headers=_ACCEPT_HTML, resolve=resolve)
    except FetchRefused as refused:
        return Snapshot(url=url, error_code=refused.code, error_message=refused.message)
    hops = tuple((h.url, h.status) for h in page.hops)
    x_robots = ", ".join(page.headers.get_list("x-robots-tag"))
    if page.status >= 400:
        return Snapshot(url=url, hops=hops, x_robots_tag=x_robots)
    meta = parse_page(_decode(page.body, _charset(page.headers.get("content-type", ""))), page.final_url)
    width, height, image_error = meta.image_width, meta.image_height, None
    if meta.image_url is not None and (width is None or height is None):
        try:
            image = await safe_fetch(meta.image_url, policy, max_bytes=IMAGE_HEAD_BYTES, resolve=resolve)
        except FetchRefused as refused:
            image_error = refused.message
        else:
            if image.status >= 400:
                image_error = f"it answers HTTP {image.status}"
            else:
                size = image_size(image.body)
                if size is None:
                    image_error = "its first bytes are not an image networks show (SVG, HTML, or an unusual header)"
                else:
                    width, height = size
    return Snapshot(
        url=url,
        hops=hops,
        meta=meta,
        x_robots_tag=x_robots,
        truncated=page.truncated,
        image_width=width,
        image_height=height,
        image_error=image_error,
    )


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return None
