"""The link-preview doctor: from what fetching a link found (``Snapshot``), what will go wrong when the
link is posted, as findings a curator can act on. A pure function (``diagnose``), table-tested.

The networks' published figures it checks against (docs/content.md, "Link previews", cites them):

- Facebook (Meta for Developers, "Images in Link Shares" / sharing best practices): images under
  200 x 200 px are not used; a link shows its large image from 600 x 315 px (1200 x 630 recommended).
- LinkedIn ("Making your website shareable on LinkedIn"; Post Inspector): images under 200 x 200 px are not
  used; narrower than 401 px the image is a small thumbnail beside the text (1200 x 627 recommended).
- X (developer docs, "Summary Card with Large Image" and "Cards markup"): summary_large_image needs at
  least 300 x 157 px; the card shows a title of up to 70 characters and a description of up to 200.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

from services.content.previews.page import PageMeta

# Below this on either side Facebook and LinkedIn show no image at all.
MIN_IMAGE = (200, 200)
# What each network needs to show the image large (width, height).
LARGE_IMAGE_MINIMUMS = {"Facebook": (600, 315), "LinkedIn": (401, 1), "X": (300, 157)}
TITLE_LIMIT = 70  # X's card title; LinkedIn and Facebook cut longer titles too, at widths they do not publish
DESCRIPTION_LIMIT = 200  # X's card description


class Severity(StrEnum):
    ERROR = "error"  # the preview will be missing or broken
    WARNING = "warning"  # the preview will be poorer than it could be
    INFO = "info"  # worth knowing, nothing visibly wrong


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    message: str


@dataclass(frozen=True)
class Snapshot:
    """What the fetch found: the doctor's whole input."""

    url: str  # the link as the item has it
    hops: tuple[tuple[str, int], ...] = ()  # (url, status) of each answer; redirects first
    error_code: str | None = None  # the fetch failed or was refused (condividi/safe_fetch.py's codes)
    error_message: str | None = None
    meta: PageMeta | None = None
    x_robots_tag: str = ""
    truncated: bool = False
    # The image's size as known: declared by og:image:width/height, else read from the image.
    image_width: int | None = None
    image_height: int | None = None
    image_error: str | None = None  # the image could not be fetched or read

    @property
    def status(self) -> int | None:
        return self.hops[-1][1] if self.hops else None

    @property
    def final_url(self) -> str | None:
        return self.hops[-1][0] if self.hops else None


def _normal(url: str) -> str:
    """A URL as networks compare them: case-insensitive scheme and host, default port and fragment and a
    bare trailing slash left out."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or port == {"http": 80, "https": 443}.get(scheme) else f"{host}:{port}"
    path = parts.path.rstrip("/") or ""
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def _robots_noindex(value: str) -> bool:
    # "noindex" or "none", alone or for a named crawler ("googlebot: noindex").
    directives = {d.strip().split(":")[-1].strip().lower() for d in value.replace(";", ",").split(",")}
    return bool(directives & {"noindex", "none"})


def diagnose(snapshot: Snapshot) -> list[Finding]:
    findings: list[Finding] = []
    add = findings.append
    if urlsplit(snapshot.url).scheme.lower() == "http":
        add(
            Finding(
                Severity.WARNING,
                "not_https",
                'The link is plain http: browsers mark it "not secure" and some networks may refuse it; '
                "use its https address.",
            )
        )
    redirects = snapshot.hops[:-1] if snapshot.error_code is None else snapshot.hops
    if redirects and snapshot.final_url is not None:
        hops = len(snapshot.hops) - 1
        add(
            Finding(
                Severity.WARNING if hops > 1 else Severity.INFO,
                "redirect_chain",
                f"The link redirects {hops} time{'s' if hops > 1 else ''} and ends at {snapshot.final_url}: "
                "networks follow redirects slowly or not at all, link straight to the end.",
            )
        )
    if snapshot.error_code is not None:
        add(
            Finding(
                Severity.ERROR,
                "fetch_failed",
                f"The page could not be fetched ({snapshot.error_message or snapshot.error_code}): the networks "
                "will likely fail too and show a bare link.",
            )
        )
        return findings
    status = snapshot.status
    if status is not None and status >= 400:
        kind = "is missing or forbidden" if status < 500 else "fails on the server"
        add(
            Finding(
                Severity.ERROR,
                "http_error",
                f"The page answers HTTP {status} (it {kind}): the post will show a broken or bare link.",
            )
        )
        return findings
    meta = snapshot.meta or PageMeta()
    robots = ", ".join(v for v in (meta.robots or "", snapshot.x_robots_tag) if v)
    if robots and _robots_noindex(robots):
        add(
            Finding(
                Severity.WARNING,
                "noindex",
                f'The page asks not to be indexed (robots "{robots}"): some networks\' crawlers respect it '
                "and show no preview, and search engines will not list it.",
            )
        )
    if meta.title is None:
        add(Finding(Severity.WARNING, "no_title", "The page has no og:title or <title>: the card shows the bare URL."))
    elif len(meta.title) > TITLE_LIMIT:
        add(
            Finding(
                Severity.WARNING,
                "title_too_long",
                f"The title is {len(meta.title)} characters: X shows {TITLE_LIMIT} and the others cut it too; "
                "say it in fewer words.",
            )
        )
    if meta.description is None:
        add(Finding(Severity.INFO, "no_description", "The page has no og:description: the card shows only a title."))
    elif len(meta.description) > DESCRIPTION_LIMIT:
        add(
            Finding(
                Severity.WARNING,
                "description_too_long",
                f"The description is {len(meta.description)} characters: X shows {DESCRIPTION_LIMIT}, the rest is cut.",
            )
        )
    findings.extend(_image_findings(snapshot, meta))
    if meta.canonical_url is not None and _normal(meta.canonical_url) != _normal(snapshot.url):
        add(
            Finding(
                Severity.WARNING,
                "canonical_differs",
                f"The page names {meta.canonical_url} as its canonical address, not the link: networks show "
                "and count the post under the canonical one.",
            )
        )
    if snapshot.truncated:
        add(
            Finding(
                Severity.INFO,
                "page_truncated",
                "The page is larger than what is read of it (2 MB); tags after that point were not seen.",
            )
        )
    return findings


def _image_findings(snapshot: Snapshot, meta: PageMeta) -> list[Finding]:
    if meta.image_url is None:
        return [
            Finding(
                Severity.ERROR,
                "no_og_image",
                "The page has no og:image: the post will show no picture (LinkedIn a grey placeholder).",
            )
        ]
    found: list[Finding] = []
    if meta.image_source == "twitter":
        found.append(
            Finding(
                Severity.WARNING,
                "no_og_image",
                "The page has only a twitter:image: LinkedIn and Facebook read og:image and will show no picture.",
            )
        )
    width, height = snapshot.image_width, snapshot.image_height
    if snapshot.image_error is not None and (width is None or height is None):
        found.append(
            Finding(
                Severity.WARNING,
                "image_unreachable",
                f"The image {meta.image_url} could not be read ({snapshot.image_error}): networks may show none.",
            )
        )
        return found
    if width is None or height is None:
        found.append(
            Finding(Severity.INFO, "image_size_unknown", "The image's size could not be told; check it is 1200 x 630.")
        )
        return found
    if width < MIN_IMAGE[0] or height < MIN_IMAGE[1]:
        found.append(
            Finding(
                Severity.ERROR,
                "image_too_small",
                f"The image is {width} x {height} px: under {MIN_IMAGE[0]} x {MIN_IMAGE[1]} LinkedIn and "
                "Facebook do not show it at all; use 1200 x 630.",
            )
        )
        return found
    small_on = [
        f"{network} (needs {w} px wide)" if h <= 1 else f"{network} (needs {w} x {h})"
        for network, (w, h) in LARGE_IMAGE_MINIMUMS.items()
        if width < w or height < h
    ]
    if small_on:
        found.append(
            Finding(
                Severity.WARNING,
                "image_small",
                f"The image is {width} x {height} px: shown as a small thumbnail, not large, on "
                f"{', '.join(small_on)}; use 1200 x 630.",
            )
        )
    return found
