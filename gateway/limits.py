"""Bounds on a GraphQL document, checked in time linear in its size.

A document is refused, before it is validated, when its text is larger than ``max_bytes``
(``DOCUMENT_TOO_LARGE``), when it has more than ``max_tokens`` lexical tokens (``TOO_MANY_TOKENS``:
graphql-core's parser stops counting there, so a huge document costs no more than the limit) or more
than ``max_fragment_spreads`` ``...Name`` spreads in its text (``TOO_MANY_FRAGMENT_SPREADS``).

Depth and aliases are validation rules (``GRAPHQL_VALIDATION_FAILED``). They count what the document
asks for once its fragments are expanded, which can be exponential in its text: ``fragment F1 {...F0
...F0}``, ``fragment F2 {...F1 ...F1}``... doubles at each level. So, as the cost does
(``gateway/cost.py``), each fragment is measured once (its depth and its aliases, memoised) and every
further spread of it is a lookup: the work is linear in the text even where the counts are not.
(strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter`` walk a fragment again at each spread:
an 857-byte query held the event loop for seconds.)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    parse,
)

DOCUMENT_TOO_LARGE = "DOCUMENT_TOO_LARGE"
TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
TOO_MANY_FRAGMENT_SPREADS = "TOO_MANY_FRAGMENT_SPREADS"
LIMIT_CODES = frozenset({DOCUMENT_TOO_LARGE, TOO_MANY_TOKENS, TOO_MANY_FRAGMENT_SPREADS})

_PARSE_CACHE_SIZE = 128


@dataclass(frozen=True)
class DocumentLimits:
    max_bytes: int = 32 * 1024
    max_tokens: int = 5000
    max_fragment_spreads: int = 100
    max_depth: int = 10
    max_aliases: int = 30


def limit_error(code: str, message: str, **extra: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, "status": 400, "details": [], **extra})


def check_size(query: str, limits: DocumentLimits) -> None:
    """Before parsing: the text's size in bytes (UTF-8), counted without encoding a large text."""
    # Each character is at most 4 bytes: only a text that might be too large is encoded.
    if len(query) * 4 > limits.max_bytes and len(query.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        raise limit_error(
            DOCUMENT_TOO_LARGE,
            f"the document is larger than {limits.max_bytes} bytes; send a smaller one (or a persisted query)",
            limit=limits.max_bytes,
        )


@lru_cache(maxsize=_PARSE_CACHE_SIZE)
def _parse(query: str, max_tokens: int) -> DocumentNode:
    return parse(query, max_tokens=max_tokens)


def parse_limited(query: str, limits: DocumentLimits) -> DocumentNode:
    """Parses (through a shared cache) within the size, token and spread limits. A limit broken raises
    its own code; a syntax error is left as graphql-core's ``GraphQLSyntaxError``."""
    check_size(query, limits)
    try:
        document = _parse(query, limits.max_tokens)
    except GraphQLError as error:
        if "contains more than" in error.message and "tokens" in error.message:
            raise limit_error(
                TOO_MANY_TOKENS,
                f"the document has more than {limits.max_tokens} tokens; send a smaller one",
                limit=limits.max_tokens,
            ) from None
        raise
    spreads = count_fragment_spreads(document)
    if spreads > limits.max_fragment_spreads:
        raise limit_error(
            TOO_MANY_FRAGMENT_SPREADS,
            f"the document has {spreads} fragment spreads, more than {limits.max_fragment_spreads}",
            limit=limits.max_fragment_spreads,
        )
    return document


def count_fragment_spreads(document: DocumentNode) -> int:
    """Spreads as written (not expanded): one pass over the text's selections."""
    count = 0
    stack: list[SelectionSetNode] = [
        d.selection_set for d in document.definitions if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)
    ]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                count += 1
            elif isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set is not None:
                stack.append(selection.selection_set)
    return count


@dataclass(frozen=True)
class Measure:
    """A selection set's depth (levels of fields with a selection, introspection fields not counted,
    as strawberry's limiter counts them) and its aliases counted at each use."""

    depth: int
    aliases: int


class DocumentMeasurer:
    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self._measured: dict[str, Measure] = {}
        self._in_progress: set[str] = set()

    def selection_set(self, selection_set: SelectionSetNode | None) -> Measure:
        depth = aliases = 0
        for selection in selection_set.selections if selection_set is not None else ():
            if isinstance(selection, FieldNode):
                aliases += 1 if selection.alias is not None else 0
                if selection.name.value.startswith("__") or selection.selection_set is None:
                    continue
                inner = self.selection_set(selection.selection_set)
                depth, aliases = max(depth, 1 + inner.depth), aliases + inner.aliases
            elif isinstance(selection, InlineFragmentNode):
                inner = self.selection_set(selection.selection_set)
                depth, aliases = max(depth, inner.depth), aliases + inner.aliases
            elif isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection.name.value)
                depth, aliases = max(depth, inner.depth), aliases + inner.aliases
        return Measure(depth, aliases)

    def fragment(self, name: str) -> Measure:
        measured = self._measured.get(name)
        if measured is not None:
            return measured
        definition = self.fragments.get(name)
        if definition is None or name in self._in_progress:
            return Measure(0, 0)  # unknown or cyclic: other validation rules refuse both
        self._in_progress.add(name)
        measured = self.selection_set(definition.selection_set)
        self._in_progress.discard(name)
        self._measured[name] = measured
        return measured


def depth_and_alias_rule(max_depth: int, max_aliases: int) -> type[ValidationRule]:
    """A validation rule class for these limits. Made once per schema: the validation cache keys its
    entries on the rule classes."""

    class DepthAndAliasLimits(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            measurer = DocumentMeasurer(context.document)
            aliases = 0
            for definition in context.document.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                measure = measurer.selection_set(definition.selection_set)
                aliases += measure.aliases
                if measure.depth > max_depth:
                    name = definition.name.value if definition.name is not None else "anonymous"
                    context.report_error(
                        GraphQLError(
                            f"'{name}' exceeds maximum operation depth of {max_depth} (it is {measure.depth} deep)",
                            definition,
                        )
                    )
            if aliases > max_aliases:
                context.report_error(GraphQLError(f"{aliases} aliases found. Allowed: {max_aliases}"))

    return DepthAndAliasLimits


__all__ = [
    "DOCUMENT_TOO_LARGE",
    "LIMIT_CODES",
    "TOO_MANY_FRAGMENT_SPREADS",
    "TOO_MANY_TOKENS",
    "DocumentLimits",
    "DocumentMeasurer",
    "check_size",
    "count_fragment_spreads",
    "depth_and_alias_rule",
    "parse_limited",
]
