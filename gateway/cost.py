"""A query's cost, checked against a budget before it runs (beside the depth and alias limits).

The cost counts the objects a query can make the gateway fetch. Every field that returns an object
costs 1; a field taking ``first``/``last`` (a connection) sets how many items its lists hold, and a
list field costs that many times its item. So nested connections multiply, while a connection's
singular parts (``pageInfo``) count once. Scalar fields are free (they come with their object), and so
is introspection (GraphiQL's query must always run).

    feed(first: 20) { pageInfo { hasNextPage } edges { node { stats { shares } } } }
        1 + pageInfo 1 + 20 * (edges 1 + node 1 + stats 1)                             =     62
    feed(first: 100) { edges { node { shares(first: 100) { edges { node { id } } } } } }
        1 + 100 * (edges 1 + node 1 + shares 1 + 100 * (edges 1 + node 1))               = 20 301

``max_list_size`` is the largest page a list field serves (the resolvers refuse more, with their own
error): a larger ``first`` counts as it. A list argument left out counts as the field's declared
default, or as ``default_list_size`` (the page size the resolvers use when none is asked for) when the
schema declares none. ``first``/``last`` usually come as variables, so the cost is computed with the
request's variable values, once validation has passed.

Linear in the document's size: a selection set's cost is ``fixed + size * per_item`` (``size`` being
its lists' length), so each fragment is costed once, as that pair, and every further spread of it is
a lookup however many times fragments spread fragments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLArgument,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
)
from graphql.utilities.coerce_input_value import coerce_default_value

COST_LIMIT_EXCEEDED = "COST_LIMIT_EXCEEDED"
LIST_ARGUMENTS = ("first", "last")


class CostCalculator:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: Mapping[str, Any],
        *,
        max_list_size: int,
        default_list_size: int,
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.max_list_size = max_list_size
        self.default_list_size = min(default_list_size, max_list_size)
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self._fragment_costs: dict[str, Cost] = {}
        self._in_progress: set[str] = set()

    def operation_cost(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        return self._selection_cost(operation.selection_set, root).at(1)

    def _selection_cost(self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None) -> Cost:
        fixed = per_item = 0
        if selection_set is None or parent is None:
            return Cost(0, 0)
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                part = self._field_cost(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                scope = self.schema.get_type(condition.name.value) if condition is not None else parent
                part = self._selection_cost(selection.selection_set, scope)
            elif isinstance(selection, FragmentSpreadNode):
                part = self._fragment_cost(selection.name.value)
            else:  # pragma: no cover - graphql-core has no other kind of selection
                continue
            fixed += part.fixed
            per_item += part.per_item
        return Cost(fixed, per_item)

    def _fragment_cost(self, name: str) -> Cost:
        cached = self._fragment_costs.get(name)
        if cached is not None:
            return cached
        fragment = self.fragments.get(name)
        if fragment is None or name in self._in_progress:
            return Cost(0, 0)  # unknown or cyclic: validation refuses both before costs are computed
        self._in_progress.add(name)
        cost = self._selection_cost(fragment.selection_set, self.schema.get_type(fragment.type_condition.name.value))
        self._in_progress.discard(name)
        self._fragment_costs[name] = cost
        return cost

    def _field_cost(self, node: FieldNode, parent: GraphQLNamedType) -> Cost:
        """A list field's cost is per item of the enclosing connection's page; any other's is fixed."""
        name = node.name.value
        if name.startswith("__") or not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return Cost(0, 0)
        definition = parent.fields.get(name)
        if definition is None:
            return Cost(0, 0)
        field_type = get_named_type(definition.type)
        if is_leaf_type(field_type):
            return Cost(0, 0)
        children = self._selection_cost(node.selection_set, field_type)
        size = self._list_size(node, definition.args)
        returns_list = is_list_type(get_nullable_type(definition.type))
        if size is not None and returns_list:
            return Cost(size * (1 + children.at(1)), 0)  # a plain list with a page size of its own
        if size is not None:
            return Cost(1 + children.at(size), 0)  # a connection: its lists hold ``size`` items
        if returns_list:
            return Cost(0, 1 + children.at(1))
        return Cost(1 + children.at(1), 0)

    def _list_size(self, node: FieldNode, arguments: Mapping[str, GraphQLArgument]) -> int | None:
        declared = [a for a in LIST_ARGUMENTS if a in arguments]
        if not declared:
            return None
        sizes: list[int] = []
        given = {a.name.value: a.value for a in node.arguments or ()}
        for name in declared:
            value: Any = None
            if name in given:
                literal = given[name]
                if isinstance(literal, IntValueNode):
                    value = int(literal.value)
                elif isinstance(literal, VariableNode):
                    value = self.variables.get(literal.name.value)
            else:
                value = coerce_default_value(arguments[name])
            if isinstance(value, int):
                sizes.append(min(max(value, 0), self.max_list_size))
        # Neither given nor declared: the resolver's own default page size.
        return max(sizes) if sizes else self.default_list_size


@dataclass(frozen=True)
class Cost:
    """A selection set's cost as a function of its lists' length: ``fixed + size * per_item``."""

    fixed: int
    per_item: int

    def at(self, size: int) -> int:
        return self.fixed + size * self.per_item


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
    *,
    max_list_size: int = 100,
    default_list_size: int = 20,
) -> int:
    calculator = CostCalculator(
        schema, document, variables, max_list_size=max_list_size, default_list_size=default_list_size
    )
    return calculator.operation_cost(operation)
