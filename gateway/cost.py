"""A query's cost, checked against a budget before it runs (beside the depth and alias limits).

The cost counts the objects a query can make the gateway fetch: every field that returns an object
(or a list of them) costs 1 for each time it can occur, and a field taking ``first``/``last`` makes its
selection occur that many times — so nested lists multiply. Scalar fields are free (they come with
their object), introspection is free (GraphiQL's query must always run).

    feed(first: 20) { edges { node { stats { shares } } } }      1 + 20 * (1 + 1 + 1)        =  61
    feed(first: 100) { edges { node { shares(first: 100)         1 + 100 * (1 + 1 + 1 + 100 * (1 + 1))
        { edges { node { id } } } } } }                                                        = 20 301

``max_list_size`` is the largest page a list field serves (the resolvers refuse more, with their own
error): a larger ``first`` counts as it, and a list argument left out counts as the field's declared
default, or as the largest page when it has none. ``first``/``last`` usually come as variables, so
the cost is computed with the request's variable values, once validation has passed.

Linear in the document's size: a selection set's cost with multiplier ``m`` is ``m`` times its cost
with multiplier 1, so each fragment is costed once and every further spread of it is a lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
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
    is_leaf_type,
)

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
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.max_list_size = max_list_size
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self._fragment_costs: dict[str, int] = {}
        self._in_progress: set[str] = set()

    def operation_cost(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        return self._selection_cost(operation.selection_set, root) if root is not None else 0

    def _selection_cost(self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None) -> int:
        if selection_set is None or parent is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field_cost(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                scope = self.schema.get_type(condition.name.value) if condition is not None else parent
                total += self._selection_cost(selection.selection_set, scope)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment_cost(selection.name.value)
        return total

    def _fragment_cost(self, name: str) -> int:
        cached = self._fragment_costs.get(name)
        if cached is not None:
            return cached
        fragment = self.fragments.get(name)
        if fragment is None or name in self._in_progress:
            return 0  # unknown or cyclic: validation refuses both before costs are computed
        self._in_progress.add(name)
        cost = self._selection_cost(fragment.selection_set, self.schema.get_type(fragment.type_condition.name.value))
        self._in_progress.discard(name)
        self._fragment_costs[name] = cost
        return cost

    def _field_cost(self, node: FieldNode, parent: GraphQLNamedType) -> int:
        name = node.name.value
        if name.startswith("__") or not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 0
        definition = parent.fields.get(name)
        if definition is None:
            return 0
        field_type = get_named_type(definition.type)
        if is_leaf_type(field_type):
            return 0
        return 1 + self._list_size(node, definition.args) * self._selection_cost(node.selection_set, field_type)

    def _list_size(self, node: FieldNode, arguments: Mapping[str, Any]) -> int:
        declared = [a for a in LIST_ARGUMENTS if a in arguments]
        if not declared:
            return 1
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
            elif isinstance(arguments[name].default_value, int):
                value = arguments[name].default_value
            if isinstance(value, int):
                sizes.append(min(max(value, 0), self.max_list_size))
        # Neither given nor defaulted: the resolver picks a page size the schema cannot tell; the
        # largest page is the safe guess.
        return max(sizes) if sizes else self.max_list_size


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
    *,
    max_list_size: int = 100,
) -> int:
    return CostCalculator(schema, document, variables, max_list_size=max_list_size).operation_cost(operation)
