"""The SSRF-safe fetch (condividi/safe_fetch.py) against servers on loopback: what it refuses without
the test-only allow-list (loopback, private, link-local, metadata; directly, through a host name, and
through a redirect), and what it does with it (redirects by hand, the size and time caps, no cookies,
the connection pinned to the checked address)."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator

import pytest

from condividi.safe_fetch import (
    DEFAULT_USER_AGENT,
    FetchPolicy,
    FetchRefused,
    IPAddress,
    check_target,
    refusal_of,
    safe_fetch,
)
from tests.pages import Page, PageServer

LOOPBACK_ONLY = FetchPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),), timeout_seconds=5.0)
STRICT = FetchPolicy(timeout_seconds=5.0)


@pytest.fixture
def server() -> Iterator[PageServer]:
    with PageServer() as s:
        yield s


def resolving(table: dict[str, list[str]], calls: list[str] | None = None):  # type: ignore[no-untyped-def]
    """A resolver answering from ``table`` (a test's DNS), recording each lookup."""

    async def resolve(host: str, port: int) -> list[IPAddress]:
        if calls is not None:
            calls.append(host)
        return [ipaddress.ip_address(a) for a in table[host]]

    return resolve


@pytest.mark.parametrize(
    ("address", "refused_as"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.10.10", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "not globally routable"),
        ("240.0.0.1", "private"),  # reserved 240/4, which Python files under private
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd00:ec2::254", "metadata"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "metadata"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:c0a8:101::", "private"),  # 6to4 of 192.168.1.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "private"),  # Teredo
        ("::127.0.0.1", "reserved"),  # IPv4-compatible (deprecated)
    ],
)
def test_addresses_that_are_not_public_are_refused(address: str, refused_as: str) -> None:
    reason = refusal_of(ipaddress.ip_address(address))
    assert reason is not None and refused_as in reason


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::"]
)
def test_public_addresses_pass(address: str) -> None:
    assert refusal_of(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("file:///etc/passwd", "scheme_refused"),
        ("ftp://example.com/x", "scheme_refused"),
        ("gopher://example.com/", "scheme_refused"),
        ("http://user:secret@example.com/", "invalid_url"),
        ("http:///nohost", "invalid_url"),
        ("http://example.com:99999/", "invalid_url"),
        ("http://93.184.216.34:8080/", "port_refused"),
        ("https://93.184.216.34:22/", "port_refused"),
        ("http://127.0.0.1/", "address_refused"),
        ("http://[::1]/", "address_refused"),
        ("http://169.254.169.254/latest/meta-data/", "address_refused"),
        ("http://[fd00:ec2::254]/", "address_refused"),
        ("http://10.0.0.1/", "address_refused"),
        ("http://[::ffff:127.0.0.1]/", "address_refused"),
    ],
)
async def test_urls_refused_before_any_connection(url: str, code: str) -> None:
    with pytest.raises(FetchRefused) as refused:
        await safe_fetch(url, STRICT, resolve=resolving({}))
    assert refused.value.code == code


async def test_without_the_allow_list_a_loopback_server_is_refused(server: PageServer) -> None:
    url = server.add("/page", Page(body=b"<html></html>"))
    for target in (url, server.url("/page", host="localhost")):
        with pytest.raises(FetchRefused) as refused:
            await safe_fetch(target, STRICT)
        assert refused.value.code == "address_refused"
    assert server.seen == []


@pytest.mark.parametrize("resolved", [["127.0.0.1"], ["10.0.0.7"], ["169.254.169.254"], ["fe80::1"], ["fd00:ec2::254"]])
async def test_a_host_name_resolving_to_an_internal_address_is_refused(resolved: list[str]) -> None:
    with pytest.raises(FetchRefused) as refused:
        await safe_fetch("https://innocent.example/", STRICT, resolve=resolving({"innocent.example": resolved}))
    assert refused.value.code == "address_refused"


async def test_every_resolved_address_is_checked_not_only_the_first() -> None:
    resolve = resolving({"mixed.example": ["93.184.216.34", "127.0.0.1"]})
    with pytest.raises(FetchRefused) as refused:
        await safe_fetch("https://mixed.example/", STRICT, resolve=resolve)
    assert refused.value.code == "address_refused"


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.2:{port}/",  # loopback, but outside the allow-list
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]:{port}/",
        "http://metadata.internal/computeMetadata/v1/",
        "http://rebound.example:{port}/",
    ],
)
async def test_a_redirect_to_an_internal_address_is_refused(server: PageServer, target: str) -> None:
    start = server.redirect("/go", target.format(port=server.port), status=302)
    resolve = resolving({"metadata.internal": ["169.254.169.254"], "rebound.example": ["127.0.0.3"]})
    with pytest.raises(FetchRefused) as refused:
        await safe_fetch(start, LOOPBACK_ONLY, resolve=resolve)
    assert refused.value.code == "address_refused"
    assert [s.path for s in server.seen] == ["/go"]


async def test_with_the_allow_list_a_page_is_fetched_with_the_products_user_agent(server: PageServer) -> None:
    url = server.add("/page", Page(body=b"<html>hello</html>"))
    result = await safe_fetch(url, LOOPBACK_ONLY)
    assert (result.status, result.body, result.final_url, result.redirects) == (200, b"<html>hello</html>", url, 0)
    assert server.seen[0].headers["user-agent"] == DEFAULT_USER_AGENT


async def test_redirects_are_followed_by_hand_and_recorded(server: PageServer) -> None:
    server.redirect("/a", "/b", status=301)
    server.redirect("/b", server.url("/c"), status=302)
    final = server.add("/c", Page(body=b"end"))
    result = await safe_fetch(server.url("/a"), LOOPBACK_ONLY)
    assert result.final_url == final
    assert [(h.url.rsplit("/", 1)[1], h.status) for h in result.hops] == [("a", 301), ("b", 302), ("c", 200)]
    assert result.redirects == 2


async def test_five_redirects_are_followed_and_the_sixth_is_refused(server: PageServer) -> None:
    for i in range(6):
        server.redirect(f"/r{i}", f"/r{i + 1}")
    server.add("/r6", Page(body=b"end"))
    assert (await safe_fetch(server.url("/r1"), LOOPBACK_ONLY)).redirects == 5
    with pytest.raises(FetchRefused) as refused:
        await safe_fetch(server.url("/r0"), LOOPBACK_ONLY)
    assert refused.value.code == "too_many_redirects"


async def test_the_body_is_capped_while_it_streams(server: PageServer) -> None:
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        for _ in range(10_000):  # 640 MB if it were all read
            sent.append(1)
            yield b"x" * 65536

    url = server.add("/big", Page(body=endless, headers={"Content-Type": "text/html"}))
    policy = FetchPolicy(allowed_networks=LOOPBACK_ONLY.allowed_networks, max_bytes=200_000)
    result = await safe_fetch(url, policy)
    assert (len(result.body), result.truncated) == (200_000, True)
    with pytest.raises(FetchRefused) as refused:
        await safe_fetch(url, policy, truncate=False)
    assert refused.value.code == "too_large"
    assert len(sent) < 10_000


async def test_a_page_that_never_finishes_runs_into_the_time_cap(server: PageServer) -> None:
    def trickle() -> Iterator[bytes]:
        for _ in range(100):
            yield b"<p>"
            time.sleep(0.1)

    url = server.add("/slow", Page(body=trickle))
    policy = FetchPolicy(allowed_networks=LOOPBACK_ONLY.allowed_networks, timeout_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(FetchRefused) as refused:
        await safe_fetch(url, policy)
    assert refused.value.code == "timeout"
    assert time.monotonic() - started < 5


async def test_cookies_are_never_sent_back(server: PageServer) -> None:
    server.add("/set", Page(status=302, headers={"Location": "/next", "Set-Cookie": "session=abc; Path=/"}))
    server.add("/next", Page(body=b"ok"))
    await safe_fetch(server.url("/set"), LOOPBACK_ONLY)
    await safe_fetch(server.url("/next"), LOOPBACK_ONLY)
    assert [s.path for s in server.seen] == ["/set", "/next", "/next"]
    assert all("cookie" not in s.headers for s in server.seen)


async def test_the_connection_goes_to_the_checked_address_and_the_host_name_is_kept(server: PageServer) -> None:
    """Pinning: one lookup per hop, then a connection to that very address (a second DNS answer, as a
    rebinding attacker would give, is never asked for), with the name in the Host header."""
    lookups: list[str] = []
    server.add("/pinned", Page(body=b"pinned"))
    resolve = resolving({"news.example": ["127.0.0.1"]}, lookups)
    result = await safe_fetch(f"http://news.example:{server.port}/pinned", LOOPBACK_ONLY, resolve=resolve)
    assert result.body == b"pinned"
    assert result.final_url == f"http://news.example:{server.port}/pinned"
    assert lookups == ["news.example"]
    assert server.seen[0].headers["host"] == f"news.example:{server.port}"


async def test_an_https_target_keeps_the_name_for_sni_and_the_certificate() -> None:
    resolve = resolving({"news.example": ["93.184.216.34"]})
    [target] = await check_target("https://news.example/a?b=1", STRICT, resolve)
    assert (target.connect_url, target.host_header, target.sni_hostname) == (
        "https://93.184.216.34/a?b=1",
        "news.example",
        "news.example",
    )
    [v6] = await check_target("http://[2606:4700::1111]:80/", STRICT, resolve)
    assert v6.connect_url == "http://[2606:4700::1111]:80/" and v6.sni_hostname is None
