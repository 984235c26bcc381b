"""The link-preview doctor and the page reader, as pure functions: a table of snapshots and the findings
each must give (codes and severities), and pages and the tags read from them."""

from __future__ import annotations

import pytest

from services.content.previews.doctor import Severity, Snapshot, diagnose
from services.content.previews.fetcher import image_size
from services.content.previews.page import PageMeta, parse_page
from services.content.previews.worker import outcome
from tests.pages import html_page, png

LINK = "https://acme.example/news/plant"
GOOD = PageMeta(
    title="Our new plant opens",
    description="Two hundred jobs in Brescia.",
    image_url="https://acme.example/plant.png",
    image_source="og",
    canonical_url=LINK,
    site_name="Acme",
)


def snap(meta: PageMeta | None = GOOD, *, url: str = LINK, size: tuple[int, int] | None = (1200, 630), **kw: object):
    hops = kw.pop("hops", ((url, 200),))
    width, height = size if size else (None, None)
    return Snapshot(url=url, hops=hops, meta=meta, image_width=width, image_height=height, **kw)  # type: ignore[arg-type]


def codes(snapshot: Snapshot) -> list[tuple[str, Severity]]:
    return [(f.code, f.severity) for f in diagnose(snapshot)]


E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


@pytest.mark.parametrize(
    ("snapshot", "expected"),
    [
        pytest.param(snap(), [], id="a good page"),
        pytest.param(
            snap(url="http://acme.example/news/plant", meta=GOOD.__class__(**{**GOOD.__dict__, "canonical_url": None})),
            [("not_https", W)],
            id="http only",
        ),
        pytest.param(snap(PageMeta(title="T", description="D")), [("no_og_image", E)], id="no og:image"),
        pytest.param(
            snap(PageMeta(title="T", description="D", image_url="https://a.example/i.png", image_source="twitter")),
            [("no_og_image", W)],
            id="only a twitter:image",
        ),
        pytest.param(snap(size=(150, 150)), [("image_too_small", E)], id="an image too small for anyone"),
        pytest.param(snap(size=(350, 250)), [("image_small", W)], id="small for Facebook and LinkedIn"),
        pytest.param(snap(size=(500, 300)), [("image_small", W)], id="small for Facebook only"),
        pytest.param(snap(size=(600, 315)), [], id="exactly Facebook's minimum"),
        pytest.param(snap(size=None), [("image_size_unknown", INFO)], id="size unknown"),
        pytest.param(snap(size=None, image_error="it answers HTTP 404"), [("image_unreachable", W)], id="image 404"),
        pytest.param(snap(PageMeta(**{**GOOD.__dict__, "title": "x" * 71})), [("title_too_long", W)], id="long title"),
        pytest.param(snap(PageMeta(**{**GOOD.__dict__, "title": "x" * 70})), [], id="title at the limit"),
        pytest.param(
            snap(PageMeta(**{**GOOD.__dict__, "description": "d" * 201})), [("description_too_long", W)], id="long desc"
        ),
        pytest.param(snap(PageMeta(**{**GOOD.__dict__, "title": None})), [("no_title", W)], id="no title"),
        pytest.param(snap(PageMeta(**{**GOOD.__dict__, "description": None})), [("no_description", INFO)], id="no d"),
        pytest.param(snap(PageMeta(**{**GOOD.__dict__, "robots": "noindex, follow"})), [("noindex", W)], id="noindex"),
        pytest.param(snap(PageMeta(**{**GOOD.__dict__, "robots": "none"})), [("noindex", W)], id="robots none"),
        pytest.param(snap(PageMeta(**{**GOOD.__dict__, "robots": "index, follow"})), [], id="robots index"),
        pytest.param(snap(x_robots_tag="googlebot: noindex"), [("noindex", W)], id="X-Robots-Tag"),
        pytest.param(
            snap(PageMeta(**{**GOOD.__dict__, "canonical_url": "https://acme.example/plant"})),
            [("canonical_differs", W)],
            id="another canonical",
        ),
        pytest.param(
            snap(PageMeta(**{**GOOD.__dict__, "canonical_url": "HTTPS://Acme.example:443/news/plant/#top"})),
            [],
            id="the same canonical written differently",
        ),
        pytest.param(
            snap(hops=(("https://acme.example/p", 301), (LINK, 200)), url="https://acme.example/p"),
            [("redirect_chain", INFO), ("canonical_differs", W)],
            id="one redirect",
        ),
        pytest.param(
            snap(
                hops=(("https://a.example/1", 301), ("https://a.example/2", 302), (LINK, 200)),
                url="https://a.example/1",
            ),
            [("redirect_chain", W), ("canonical_differs", W)],
            id="a redirect chain",
        ),
        pytest.param(snap(None, hops=((LINK, 404),)), [("http_error", E)], id="404"),
        pytest.param(snap(None, hops=((LINK, 503),)), [("http_error", E)], id="503"),
        pytest.param(
            snap(None, hops=(), error_code="address_refused", error_message="x resolves to a private address"),
            [("fetch_failed", E)],
            id="refused",
        ),
        pytest.param(snap(truncated=True), [("page_truncated", INFO)], id="a page over 2 MB"),
    ],
)
def test_the_doctors_findings(snapshot: Snapshot, expected: list[tuple[str, Severity]]) -> None:
    assert codes(snapshot) == expected


def test_findings_say_what_and_by_how_much() -> None:
    [small] = diagnose(snap(size=(500, 300)))
    assert "500 x 300" in small.message and "Facebook" in small.message and "LinkedIn" not in small.message
    [chain] = diagnose(snap(hops=(("https://a.example/1", 301), ("https://a.example/2", 302), (LINK, 200))))
    assert "2 times" in chain.message and LINK in chain.message
    [long_title] = diagnose(snap(PageMeta(**{**GOOD.__dict__, "title": "x" * 90})))
    assert "90 characters" in long_title.message and "70" in long_title.message


def test_the_page_reader_takes_open_graph_then_twitter_then_html() -> None:
    page = html_page(image="/img/plant.png", width=1200, height=630, canonical="/news/plant", robots="noindex")
    meta = parse_page(page.decode(), "https://acme.example/news/plant?utm=x")
    assert meta == PageMeta(
        title="Our new plant opens",
        description="Two hundred jobs in Brescia.",
        image_url="https://acme.example/img/plant.png",
        image_width=1200,
        image_height=630,
        canonical_url="https://acme.example/news/plant",
        site_name="Acme News",
        robots="noindex",
        image_source="og",
    )
    fallback = parse_page(
        '<html><head><title> Plain\n title </title><meta name="description" content="Plain desc">'
        '<meta name="twitter:image" content="https://cdn.example/t.jpg"></head></html>',
        "https://acme.example/",
    )
    assert (fallback.title, fallback.description, fallback.image_url, fallback.image_source) == (
        "Plain title",
        "Plain desc",
        "https://cdn.example/t.jpg",
        "twitter",
    )


def test_the_page_reader_is_not_fooled_by_text_that_looks_like_tags() -> None:
    page = (
        '<html><head><script>var s = \'<meta property="og:image" content="https://evil.example/x">\';</script>'
        '<meta property="og:title" content="Fish &amp; chips"></head>'
        '<body><!-- <meta property="og:image" content="https://evil.example/y"> --></body></html>'
    )
    meta = parse_page(page, "https://acme.example/")
    assert (meta.title, meta.image_url) == ("Fish & chips", None)


def test_image_size_from_its_first_bytes() -> None:
    assert image_size(png(1200, 630)) == (1200, 630)
    assert image_size(png(300, 157)[:64]) == (300, 157)  # the PNG header alone tells it
    assert image_size(b"<html>not an image</html>") is None


def test_what_is_stored_for_a_fetch() -> None:
    stored = outcome(snap(PageMeta(**{**GOOD.__dict__, "robots": "noindex"}), x_robots_tag="noarchive"), attempts=1)
    assert stored["status"] == "ready"
    assert stored["robots"] == "noindex, noarchive"
    assert stored["findings"] == [
        {
            "severity": "warning",
            "code": "noindex",
            "message": diagnose(snap(PageMeta(**{**GOOD.__dict__, "robots": "noindex"}), x_robots_tag="noarchive"))[
                0
            ].message,
        }
    ]
    passing = snap(None, hops=(), error_code="timeout", error_message="no answer")
    assert outcome(passing, attempts=1)["status"] == "pending"  # tried again later
    assert outcome(passing, attempts=3)["status"] == "failed"
    refused = snap(None, hops=(), error_code="address_refused", error_message="private")
    assert outcome(refused, attempts=1)["status"] == "failed"  # refusals are not retried
