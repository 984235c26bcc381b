"""How each network counts a post's length, and where the links are in a text: pure functions, no I/O.

- **X** counts with twitter-text's published rules (configuration v3, emoji parsing on), which is what
  X's own composer runs: after NFC normalisation each code point weighs 1 when it lies in one of the
  light ranges (Latin, Greek, Cyrillic, Hebrew, Arabic, Indic scripts... up to U+10FF, and a few
  punctuation ranges) and 2 otherwise (CJK, most symbols); an emoji weighs 2 whatever its sequence (a
  skin tone, a ZWJ family, a flag, a keycap); every link weighs 23 whatever its length, because X wraps
  it in a t.co link. Links are found as twitter-text finds them (``links``), including links written
  without ``https://`` ("acme.example.com/news" when its top-level domain is a real one), and not
  including a "link" whose host has a label longer than 63 characters once punycoded, which X leaves as
  text. Emoji are told apart with the ``emoji`` package's data over the grapheme clusters of the
  ``regex`` module (``\\X``, the Unicode segmentation), both maintained with each Unicode release.
  ``tests/test_counting.py`` runs twitter-text's own conformance cases.
- **Bluesky** counts graphemes (user-perceived characters): ``regex``'s ``\\X``, the Unicode extended
  grapheme clusters, as Bluesky's own app does.
- Every other network counts code points.

Spans (``utf16_offset``): the live check tells a client where a finding is in the text as offsets in
UTF-16 code units, which is how JavaScript strings (and so browsers and React Native) index text; a
Python index counts code points, and differs from it after every character outside the BMP (an emoji).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import emoji
import regex

# X replaces every link with a t.co link of this length (twitter-text's transformedURLLength).
X_URL_LENGTH = 23

# twitter-text v3: code points in these ranges weigh 1, all others 2.
_X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))

_GRAPHEME = regex.compile(r"\X")


def graphemes(text: str) -> list[str]:
    found: list[str] = _GRAPHEME.findall(text)
    return found


def grapheme_length(text: str) -> int:
    return len(graphemes(text))


def utf16_offset(text: str, index: int) -> int:
    """The UTF-16 offset of code-point ``index`` of ``text``: one more unit per astral character before it."""
    return index + sum(1 for char in text[:index] if ord(char) > 0xFFFF)


# --- X's weighted length -------------------------------------------------------------------------


def _x_weight(char: str) -> int:
    point = ord(char)
    return 1 if any(start <= point <= end for start, end in _X_LIGHT_RANGES) else 2


def x_weighted_length(text: str) -> int:
    text = unicodedata.normalize("NFC", text)
    length = 0
    position = 0
    for link in links(text):
        length += _x_weighted_plain(text[position : link.start]) + X_URL_LENGTH
        position = link.end
    return length + _x_weighted_plain(text[position:])


def _x_weighted_plain(text: str) -> int:
    length = 0
    for cluster in graphemes(text):
        # A cluster of one code point weighs what that code point weighs (an emoji there is above U+10FF,
        # so 2, except text-style ones such as "©", which X counts as 1 too); a longer cluster that is
        # one emoji (a keycap "1⃣", a skin tone, a family, a flag) weighs 2 as a whole.
        if len(cluster) > 1 and emoji.is_emoji(cluster):
            length += 2
        else:
            length += sum(_x_weight(char) for char in cluster)
    return length


# --- links, as twitter-text finds them -------------------------------------------------------------

_DATA = Path(__file__).resolve().parent / "data" / "tlds.txt"


@cache
def _tlds() -> tuple[frozenset[str], frozenset[str]]:
    country: set[str] = set()
    generic: set[str] = set()
    current = country
    for line in _DATA.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        if line == "[country]":
            current = country
        elif line == "[generic]":
            current = generic
        else:
            current.add(line.casefold())
    return frozenset(country), frozenset(generic)


_SPACES = "\t-\r \x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_INVALID = "\ufffe\ufeff\uffff"
_DIRECTIONAL = "\u202a-\u202e\u061c\u200e\u200f\u2066-\u2069"
_PUNCT = r"!'#%&()*+,\\\-./:;<=>?@\[\]^_{|}~$\""
_DOMAIN_CHAR = f"[^{_PUNCT}{_SPACES}{_INVALID}{_DIRECTIONAL}]"
_LATIN_ACCENTS = (
    "\xc0-\xd6\xd8-\xf6\xf8-\xff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263\u0268"
    "\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_PATH_CHAR = rf"[a-z\u0400-\u04ff0-9!*';:=+,.$/%#\[\]\-\u2013_~@|&{_LATIN_ACCENTS}]"
_PARENS = rf"\((?:{_PATH_CHAR}+|(?:{_PATH_CHAR}*\({_PATH_CHAR}+\){_PATH_CHAR}*))\)"
_PATH_END = rf"(?:[+\-a-z\u0400-\u04ff0-9=_#/{_LATIN_ACCENTS}]|{_PARENS})"
_PATH = rf"(?:{_PATH_CHAR}*(?:{_PARENS}{_PATH_CHAR}*)*{_PATH_END}|@{_PATH_CHAR}+/)"
_QUERY = r"[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]"
_QUERY_END = r"[a-z0-9\-_&=#/]"
# A candidate: labels of domain characters ending in a dot, then a top-level-ish label (checked against
# the list afterwards, as a regex alternation of 1,500 names would be slow to build and to run).
_CANDIDATE = regex.compile(
    rf"(?:(?<=[^A-Za-z0-9@\uff20$#\uff03{_INVALID}])|(?<=[{_DIRECTIONAL}])|^)"
    rf"(?P<url>(?P<protocol>https?://)?"
    rf"(?P<domain>(?:(?:{_DOMAIN_CHAR}(?:[_-]|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.)+"
    rf"(?P<tld>{_DOMAIN_CHAR}+))"
    rf"(?::[0-9]+)?(?P<path>/{_PATH}*)?(?:\?{_QUERY}*{_QUERY_END})?)",
    regex.IGNORECASE,
)
_ASCII_DOMAIN = regex.compile(rf"(?:[\-a-z0-9{_LATIN_ACCENTS}]+\.)+(?P<tld>[\-a-z0-9{_LATIN_ACCENTS}]+)", regex.I)
_TCO = regex.compile(rf"^https?://t\.co/([a-z0-9]+)(?:\?{_QUERY}*{_QUERY_END})?", regex.IGNORECASE)
_MAX_LABEL = 63


@dataclass(frozen=True)
class Link:
    start: int  # code-point offsets in the text searched
    end: int
    url: str
    host: str  # lower-cased, as written (not punycoded)


def _known_tld(label: str) -> bool:
    country, generic = _tlds()
    folded = label.casefold()
    return folded in country or folded in generic or regex.fullmatch(r"xn--[\-0-9a-z]+", folded) is not None


def _punycode_fits(domain: str) -> bool:
    for label in domain.split("."):
        if not label:
            return False
        if label.isascii():
            size = len(label)
        else:
            try:
                size = len("xn--" + label.casefold().encode("punycode").decode("ascii"))
            except UnicodeError:
                return False
        if size > _MAX_LABEL:
            return False
    return True


def _split_tld(domain: str) -> tuple[str, str] | None:
    """The longest prefix of ``domain`` ending in a known top-level domain (twitter-text's alternation
    takes the longest one it can), as (domain, what follows it)."""
    labels = domain.split(".")
    for last in range(len(labels) - 1, 0, -1):
        tld = labels[last]
        # The top-level label may run on into text the regex took along ("acme.com」") only by
        # domain characters, never by a dot, so the label itself is checked, then any prefix of it.
        for cut in range(len(tld), 0, -1):
            if _known_tld(tld[:cut]) and (cut == len(tld) or not regex.match(r"[0-9a-zA-Z@+\-]", tld[cut])):
                head = ".".join([*labels[:last], tld[:cut]])
                return head, domain[len(head) :]
    return None


def links(text: str) -> list[Link]:
    """The links of ``text`` where twitter-text finds them, in order."""
    if "." not in text:
        return []
    found: list[Link] = []
    position = 0
    while position < len(text):
        match = _CANDIDATE.search(text, position)
        if match is None:
            break
        split = _split_tld(match.group("domain"))
        if split is None:
            position = match.start("url") + 1
            continue
        domain, rest = split
        start = match.start("url")
        if rest:
            # The domain ends before the end the regex found: the link is the domain alone.
            end = match.start("domain") + len(domain)
            path = ""
        else:
            end = match.end("url")
            path = match.group("path") or ""
        position = max(end, start + 1)
        if not _punycode_fits(domain):
            continue
        protocol = match.group("protocol")
        if protocol:
            url = text[start:end]
            tco = _TCO.match(url)
            if tco is not None:
                if len(tco.group(1)) > 40:
                    continue
                end = start + len(tco.group())
            found.append(Link(start, end, text[start:end], domain.casefold()))
            continue
        # Without a protocol only ASCII domains count, and not after "-", "_", "." or "/".
        if start > 0 and text[start - 1] in "-_./":
            continue
        ascii_domains = [
            m for m in _ASCII_DOMAIN.finditer(domain) if _known_tld(m.group("tld")) and _punycode_fits(m.group())
        ]
        if not ascii_domains:
            continue
        for m in ascii_domains[:-1]:
            found.append(Link(start + m.start(), start + m.end(), m.group(), m.group().casefold()))
        last = ascii_domains[-1]
        last_end = end if path else start + last.end()
        found.append(
            Link(start + last.start(), last_end, text[start + last.start() : last_end], last.group().casefold())
        )
    return found
