"""SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2): a tokenizer and a recursive-descent parser
to a small tree, and a Python evaluator of that tree over SCIM JSON (value filters in PATCH paths).
The SQL side lives with the resources (``query.py``), which know the columns.

Precedence follows erratum 4670: comparisons bind tightest, then ``not``, ``and``, ``or``. Attribute
names and operators are case-insensitive; the tree keeps names lower-cased.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from services.policy.scim.errors import invalid_filter, invalid_path

COMPARISONS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})
MAX_FILTER_LENGTH = 2000
_MAX_DEPTH = 20


@dataclass(frozen=True)
class AttrPath:
    """``[urn:]attr[.sub]``, lower-cased; ``urn`` is the schema URN when the path was qualified."""

    attr: str
    sub: str | None = None
    urn: str | None = None

    def __str__(self) -> str:
        return ".".join(p for p in (self.attr, self.sub) if p)


@dataclass(frozen=True)
class Compare:
    path: AttrPath
    op: str
    value: Any


@dataclass(frozen=True)
class Present:
    path: AttrPath


@dataclass(frozen=True)
class And:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Or:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Not:
    inner: Filter


@dataclass(frozen=True)
class ValuePath:
    """``attr[filter]``: the filter applies to each value of the multi-valued ``attr``."""

    path: AttrPath
    filter: Filter


Filter = Compare | Present | And | Or | Not | ValuePath

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<punct>[()\[\]])
      | (?P<word>[^\s()\[\]"]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # "string" | "punct" | "word"
    text: str
    at: int


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            raise invalid_filter(f"cannot read the filter at character {position + 1}")
        out.append(_Token(match.lastgroup, match.group(match.lastgroup), match.start(match.lastgroup)))
        position = match.end()
    return out


_ATTR_NAME = re.compile(r"^[A-Za-z$][\w$-]*$")


def parse_attr_path(word: str) -> AttrPath:
    urn = None
    rest = word
    if word.lower().startswith("urn:"):
        urn, _, rest = word.rpartition(":")
        urn = urn.lower()
        if not rest:
            raise invalid_filter(f"{word!r} names a schema but no attribute")
    parts = rest.split(".")
    if len(parts) > 2 or not all(_ATTR_NAME.match(p) for p in parts):
        raise invalid_filter(f"{word!r} is not an attribute path")
    return AttrPath(parts[0].lower(), parts[1].lower() if len(parts) == 2 else None, urn)


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_FILTER_LENGTH:
            raise invalid_filter(f"the filter is longer than {MAX_FILTER_LENGTH} characters")
        self.tokens = _tokens(text)
        self.index = 0
        self.depth = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise invalid_filter("the filter ends too early")
        self.index += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.lower() in words:
            self.index += 1
            return token.text.lower()
        return None

    def expect(self, punct: str) -> None:
        token = self.take()
        if token.kind != "punct" or token.text != punct:
            raise invalid_filter(f"expected {punct!r} at character {token.at + 1}, found {token.text!r}")

    def parse(self) -> Filter:
        if not self.tokens:
            raise invalid_filter("the filter is empty")
        result = self.or_expr()
        if self.peek() is not None:
            token = self.take()
            raise invalid_filter(f"unexpected {token.text!r} at character {token.at + 1}")
        return result

    def or_expr(self) -> Filter:
        left = self.and_expr()
        while self.keyword("or"):
            left = Or(left, self.and_expr())
        return left

    def and_expr(self) -> Filter:
        left = self.unary()
        while self.keyword("and"):
            left = And(left, self.unary())
        return left

    def unary(self) -> Filter:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise invalid_filter("the filter is nested too deeply")
        try:
            if self.keyword("not"):
                self.expect("(")
                inner = self.or_expr()
                self.expect(")")
                return Not(inner)
            token = self.peek()
            if token is not None and token.kind == "punct" and token.text == "(":
                self.take()
                inner = self.or_expr()
                self.expect(")")
                return inner
            return self.attribute_expression()
        finally:
            self.depth -= 1

    def attribute_expression(self) -> Filter:
        token = self.take()
        if token.kind != "word":
            raise invalid_filter(f"expected an attribute at character {token.at + 1}, found {token.text!r}")
        path = parse_attr_path(token.text)
        following = self.peek()
        if following is not None and following.kind == "punct" and following.text == "[":
            if path.sub is not None:
                raise invalid_filter(f"{token.text!r}: a value filter follows a multi-valued attribute")
            self.take()
            inner = self.or_expr()
            self.expect("]")
            # Entra's uniqueness lookups: emails[type eq "work"].value eq "x" (outside the RFC's grammar,
            # read as the value filter and a comparison on the same value).
            after = self.peek()
            if after is not None and after.kind == "word" and after.text.startswith("."):
                self.take()
                sub = parse_attr_path(path.attr + after.text)
                return ValuePath(path, And(inner, self.comparison(AttrPath(sub.sub or "", None))))
            return ValuePath(path, inner)
        return self.comparison(path)

    def comparison(self, path: AttrPath) -> Filter:
        if self.keyword("pr"):
            return Present(path)
        op = self.keyword(*COMPARISONS)
        if op is None:
            token = self.peek()
            found = repr(token.text) if token else "the end"
            raise invalid_filter(f"expected an operator after {path}, found {found}")
        return Compare(path, op, self.value())

    def value(self) -> Any:
        token = self.take()
        if token.kind == "string":
            try:
                return json.loads(token.text)
            except ValueError as exc:
                raise invalid_filter(f"bad string at character {token.at + 1}") from exc
        if token.kind == "word":
            lowered = token.text.lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            if lowered == "null":
                return None
            try:
                return json.loads(token.text)
            except ValueError:
                pass
        raise invalid_filter(f"expected a value at character {token.at + 1}, found {token.text!r}")


def parse(text: str) -> Filter:
    return _Parser(text).parse()


# --- PATCH paths ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatchPath:
    """``attr``, ``attr.sub``, ``attr[filter]`` or ``attr[filter].sub``, maybe URN-qualified."""

    attr: str
    urn: str | None = None
    filter: Filter | None = None
    sub: str | None = None


def parse_patch_path(text: str) -> PatchPath:
    text = text.strip()
    if not text:
        raise invalid_path("the path is empty")
    try:
        if "[" in text:
            head, _, rest = text.partition("[")
            inner, bracket, tail = rest.rpartition("]")
            if not bracket or (tail and not tail.startswith(".")):
                raise invalid_path(f"{text!r} is not a valid path")
            attr = parse_attr_path(head)
            if attr.sub is not None:
                raise invalid_path(f"{text!r}: a value filter must follow a multi-valued attribute")
            sub = tail[1:].lower() if tail else None
            if sub is not None and not _ATTR_NAME.match(sub):
                raise invalid_path(f"{text!r} is not a valid path")
            return PatchPath(attr.attr, attr.urn, parse(inner), sub)
        attr = parse_attr_path(text)
    except Exception as exc:
        if getattr(exc, "scim_type", None) == "invalidFilter" and "[" not in text:
            raise invalid_path(f"{text!r} is not a valid path") from exc
        raise
    return PatchPath(attr.attr, attr.urn, None, attr.sub)


# --- evaluating a filter over one SCIM JSON value ------------------------------------------------------


def _get(value: Any, name: str) -> Any:
    if not isinstance(value, dict):
        return None
    for key, item in value.items():
        if key.lower() == name:
            return item
    return None


def _compare(actual: Any, op: str, expected: Any, case_exact: bool) -> bool:
    if isinstance(actual, list):
        return any(_compare(a, op, expected, case_exact) for a in actual)
    if isinstance(expected, bool) or isinstance(actual, bool):
        if op in ("gt", "ge", "lt", "le"):
            raise invalid_filter(f"{op} cannot compare booleans")
        same = actual == expected
        return same if op == "eq" else (not same if op == "ne" else False)
    if actual is None:
        return op == "ne" and expected is not None
    if isinstance(actual, str) and isinstance(expected, str) and not case_exact:
        actual, expected = actual.lower(), expected.lower()
    try:
        match op:
            case "eq":
                return bool(actual == expected)
            case "ne":
                return bool(actual != expected)
            case "co":
                return isinstance(actual, str) and str(expected) in actual
            case "sw":
                return isinstance(actual, str) and actual.startswith(str(expected))
            case "ew":
                return isinstance(actual, str) and actual.endswith(str(expected))
            case "gt":
                return bool(actual > expected)
            case "ge":
                return bool(actual >= expected)
            case "lt":
                return bool(actual < expected)
            case "le":
                return bool(actual <= expected)
    except TypeError as exc:
        raise invalid_filter(f"cannot compare {actual!r} with {expected!r}") from exc
    raise invalid_filter(f"unknown operator {op!r}")


# Attributes compared case-exactly (RFC 7643 §8.7.1): ids and references. A multi-valued attribute's
# ``value`` is not: e-mail addresses compare case-insensitively, and the ids we hand out are lower-case.
CASE_EXACT = frozenset({"id", "externalid", "$ref"})


def matches(node: Filter, value: Any) -> bool:
    """Whether one SCIM JSON value (a resource, or one element of a multi-valued attribute) passes."""
    match node:
        case And(left, right):
            return matches(left, value) and matches(right, value)
        case Or(left, right):
            return matches(left, value) or matches(right, value)
        case Not(inner):
            return not matches(inner, value)
        case Present(path):
            found = _resolve(value, path)
            return found not in (None, "", [], {})
        case Compare(path, op, expected):
            return _compare(_resolve(value, path), op, expected, (path.sub or path.attr) in CASE_EXACT)
        case ValuePath(path, inner):
            items = _resolve(value, AttrPath(path.attr, None, path.urn))
            return isinstance(items, list) and any(matches(inner, item) for item in items)
    raise invalid_filter("unsupported filter")


def _resolve(value: Any, path: AttrPath) -> Any:
    # Extension attributes sit in an object keyed by their schema's URN; core ones at the top.
    base = _get(value, path.urn) if path.urn and ":extension:" in path.urn else value
    found = _get(base, path.attr)
    if path.sub is None:
        return found
    if isinstance(found, list):
        return [_get(item, path.sub) for item in found]
    return _get(found, path.sub)
