"""Fetching a URL that a user gave us, without letting it reach what only we can reach (SSRF).

A curator's link (and later a webhook's target) is fetched from inside the cluster, which can reach the
database, the brokers, the other services and the cloud's metadata endpoint. So, for the URL asked and
for every redirect:

- only ``http``/``https``, and only ports 80 and 443 (``FetchPolicy.ports``);
- the host is resolved here, and *every* address it resolves to must be public (``refusal_of``): not
  loopback, private, link-local, multicast, unspecified, reserved or shared (CGNAT), not the metadata
  addresses, and the same for what an IPv6 address carries inside it (IPv4-mapped, NAT64, 6to4, Teredo);
- the connection goes to the address that was checked (the URL's host is replaced by that address, the
  ``Host`` header and TLS's SNI and certificate check keep the name), so that a second DNS answer
  cannot swap a private address in between the check and the connect (DNS rebinding);
- redirects are followed here, one by one, at most ``max_redirects``; the body is read up to
  ``max_bytes`` while it streams; the whole fetch has one deadline; no cookie is ever kept or sent back,
  no proxy from the environment is used.

``FetchPolicy.allowed_networks`` lets tests fetch from servers on loopback: an address inside one of
those networks passes (on any port). It is empty by default and must stay empty in production.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

# The instance metadata endpoints (AWS, GCP, Azure, OpenStack share the IPv4 one; AWS's IPv6 one).
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
# NAT64's well-known prefix (RFC 6052) and the local-use one (RFC 8215): the IPv4 address is the last 32 bits.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
DEFAULT_USER_AGENT = "CondividiBot/1.0 (+link preview; employee advocacy)"


class FetchRefused(Exception):
    """The fetch was not made, or stopped: ``code`` is stable (for programs), the message for people."""

    def __init__(self, code: str, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.url = url


@dataclass(frozen=True)
class FetchPolicy:
    allowed_networks: tuple[IPNetwork, ...] = ()
    ports: frozenset[int] = frozenset({80, 443})
    max_redirects: int = 5
    max_bytes: int = 2 * 1024 * 1024
    timeout_seconds: float = 10.0
    user_agent: str = DEFAULT_USER_AGENT

    def allows_network(self, address: IPAddress) -> bool:
        return any(address.version == n.version and address in n for n in self.allowed_networks)


@dataclass(frozen=True)
class Hop:
    """One answer on the way: a redirect (with where it pointed) or the last one."""

    url: str
    status: int
    location: str | None = None


@dataclass
class FetchResult:
    url: str  # as asked
    final_url: str
    status: int
    headers: httpx.Headers
    body: bytes
    # Every answer, redirects first; the last is the final answer.
    hops: list[Hop] = field(default_factory=list)
    truncated: bool = False  # the body was longer than max_bytes and was cut there

    @property
    def redirects(self) -> int:
        return len(self.hops) - 1


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address delivers to, where it is a transition mechanism's form (NAT64
    is handled by ``refusal_of`` itself)."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # (server, client)
    return found


def refusal_of(address: IPAddress) -> str | None:
    """Why an address must not be fetched from, or None when it is a public one."""
    if address in METADATA_ADDRESSES:
        return "the cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "a scoped (link-local) IPv6 address"
        if any(address in prefix for prefix in _NAT64):
            # Translated to the IPv4 address inside, which alone decides (the prefix is "reserved").
            inner_reason = refusal_of(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
            return f"{inner_reason} (inside {address})" if inner_reason is not None else None
        for inner in _embedded_ipv4(address):
            reason = refusal_of(inner)
            if reason is not None:
                return f"{reason} (inside {address})"
    checks = (
        ("an unspecified address", address.is_unspecified),
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
        # What is left that is not globally routable: shared address space (100.64.0.0/10), benchmarking...
        ("an address that is not globally routable", not address.is_global),
    )
    for name, hit in checks:
        if hit:
            return name
    return None


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchRefused("dns_failed", f"the host {host} could not be resolved") from exc
    seen: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in seen:
            seen.append(address)
    return seen


@dataclass(frozen=True)
class Target:
    """A checked destination: where to connect, and what the request must still say."""

    url: str  # the URL asked
    connect_url: str  # the same, with the checked address in place of the host name
    host_header: str
    sni_hostname: str | None


def _parse(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchRefused("invalid_url", f"{url[:200]!r} is not a valid URL", url=url) from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchRefused("scheme_refused", f"only http and https links are fetched, not {scheme or 'none'}", url=url)
    if not parts.hostname:
        raise FetchRefused("invalid_url", "the URL has no host", url=url)
    if parts.username is not None or parts.password is not None:
        raise FetchRefused("invalid_url", "URLs with a user name or password are not fetched", url=url)
    return scheme, parts.hostname, port if port is not None else (443 if scheme == "https" else 80)


async def check_target(url: str, policy: FetchPolicy, resolve: Resolver = system_resolver) -> list[Target]:
    """Resolves the URL's host and checks every address; the targets to try, in order. Raises
    FetchRefused when the URL or any of its addresses may not be fetched."""
    scheme, host, port = _parse(url)
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
        literal = True
    except ValueError:
        addresses = await resolve(host, port)
        literal = False
    if not addresses:
        raise FetchRefused("dns_failed", f"the host {host} has no address", url=url)
    for address in addresses:
        if policy.allows_network(address):
            continue
        reason = refusal_of(address)
        if reason is not None:
            raise FetchRefused("address_refused", f"{host} resolves to {reason}: not fetched", url=url)
        if port not in policy.ports:
            allowed = ", ".join(str(p) for p in sorted(policy.ports))
            raise FetchRefused("port_refused", f"only ports {allowed} are fetched, not {port}", url=url)
    parts = urlsplit(url)
    default_port = port == (443 if scheme == "https" else 80)
    host_header = parts.netloc.rsplit("@", 1)[-1]
    targets = []
    for address in addresses:
        shown = f"[{address}]" if address.version == 6 else str(address)
        netloc = shown if default_port and parts.port is None else f"{shown}:{port}"
        connect_url = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
        sni = host if scheme == "https" and not literal else None
        targets.append(Target(url=url, connect_url=connect_url, host_header=host_header, sni_hostname=sni))
    return targets


def _no_cookies() -> CookieJar:
    # A jar whose policy accepts no domain: Set-Cookie is dropped, so nothing is sent on the next hop.
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


async def _read_capped(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        room = max_bytes - size
        if len(chunk) >= room + 1:
            chunks.append(chunk[:room])
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False


async def _send(client: httpx.AsyncClient, target: Target, headers: dict[str, str]) -> httpx.Response:
    extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
    request = client.build_request(
        "GET", target.connect_url, headers={**headers, "Host": target.host_header}, extensions=extensions
    )
    return await client.send(request, stream=True)


async def safe_fetch(
    url: str,
    policy: FetchPolicy,
    *,
    headers: dict[str, str] | None = None,
    max_bytes: int | None = None,
    resolve: Resolver = system_resolver,
    truncate: bool = True,
) -> FetchResult:
    """GETs ``url`` under ``policy``, following redirects by hand. A body longer than ``max_bytes``
    (default: the policy's) is cut there (``truncated``), or refused (``too_large``) when ``truncate``
    is false. Raises FetchRefused for anything refused or failed (the code says what)."""
    limit = policy.max_bytes if max_bytes is None else max_bytes
    sent = {"User-Agent": policy.user_agent, "Accept-Encoding": "gzip, deflate", **(headers or {})}
    hops: list[Hop] = []
    current = url
    try:
        async with asyncio.timeout(policy.timeout_seconds):
            async with httpx.AsyncClient(
                follow_redirects=False,
                trust_env=False,  # an HTTP(S)_PROXY from the environment would connect by name, unchecked
                cookies=_no_cookies(),
                timeout=policy.timeout_seconds,
            ) as client:
                while True:
                    targets = await check_target(current, policy, resolve)
                    response = await _connect(client, targets, sent)
                    try:
                        location = response.headers.get("location")
                        if response.status_code in _REDIRECTS and location:
                            hops.append(Hop(url=current, status=response.status_code, location=location))
                            if len(hops) > policy.max_redirects:
                                raise FetchRefused(
                                    "too_many_redirects",
                                    f"more than {policy.max_redirects} redirects",
                                    url=url,
                                )
                            current = urljoin(current, location.strip())
                            continue
                        body, truncated = await _read_capped(response, limit)
                    finally:
                        await response.aclose()
                    if truncated and not truncate:
                        raise FetchRefused("too_large", f"the answer is larger than {limit} bytes", url=url)
                    hops.append(Hop(url=current, status=response.status_code))
                    return FetchResult(
                        url=url,
                        final_url=current,
                        status=response.status_code,
                        headers=response.headers,
                        body=body,
                        hops=hops,
                        truncated=truncated,
                    )
    except TimeoutError as exc:
        raise FetchRefused("timeout", f"no complete answer within {policy.timeout_seconds:g} s", url=url) from exc
    except httpx.TimeoutException as exc:
        raise FetchRefused("timeout", f"no complete answer within {policy.timeout_seconds:g} s", url=url) from exc
    except httpx.HTTPError as exc:
        raise FetchRefused("fetch_failed", f"the answer broke off: {type(exc).__name__}", url=url) from exc


async def _connect(client: httpx.AsyncClient, targets: Sequence[Target], headers: dict[str, str]) -> httpx.Response:
    """The first checked address that accepts the connection answers."""
    last: Exception | None = None
    for target in targets:
        try:
            return await _send(client, target, headers)
        except httpx.ConnectError as exc:
            last = exc
        except httpx.TimeoutException as exc:
            raise FetchRefused("timeout", f"{target.host_header} did not answer in time", url=target.url) from exc
        except httpx.HTTPError as exc:
            raise FetchRefused("fetch_failed", f"{target.host_header}: {type(exc).__name__}", url=target.url) from exc
    raise FetchRefused("connect_failed", f"could not connect to {targets[0].host_header}", url=targets[0].url) from last
