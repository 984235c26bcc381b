"""The checked-in schema is the code's schema, and the schema keeps its conventions (docs/graphql.md):
a new type or field that breaks one fails here, not in a client."""

from __future__ import annotations

from graphql import (
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLType,
    get_named_type,
)

from gateway.schema import build_schema
from gateway.schema_file import SCHEMA_FILE, printed
from gateway.types import NODE_FETCHERS


def test_schema_graphql_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == printed(), (
        "gateway/schema.graphql differs from the code's schema: run `make schema` and commit the file"
    )


def graphql_schema() -> GraphQLSchema:
    schema: GraphQLSchema = build_schema()._schema
    return schema


def object_types(schema: GraphQLSchema) -> list[GraphQLObjectType]:
    return [
        t
        for name, t in schema.type_map.items()
        if isinstance(t, GraphQLObjectType)
        and not name.startswith("__")
        and name not in ("Query", "Mutation", "Subscription")
    ]


def implements(type_: GraphQLObjectType, interface: str) -> bool:
    return any(i.name == interface for i in type_.interfaces)


def unwrap_list(type_: GraphQLType) -> GraphQLType | None:
    """The item type when ``type_`` is a list (nullable or not), else None."""
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return type_.of_type if isinstance(type_, GraphQLList) else None


def test_every_object_with_an_id_is_a_node_that_node_can_refetch() -> None:
    schema = graphql_schema()
    nodes = {t.name for t in object_types(schema) if implements(t, "Node")}
    with_id = {t.name for t in object_types(schema) if "id" in t.fields}

    assert with_id == nodes, "an object type with an id must implement Node (and a Node has an id)"
    assert nodes == set(NODE_FETCHERS), "every Node type needs a fetcher for node(id:), and only those"


def test_every_list_of_objects_with_identity_is_a_connection() -> None:
    schema = graphql_schema()
    node_names = {t.name for t in object_types(schema) if implements(t, "Node")}
    plain_lists = []
    for owner in [schema.query_type, *object_types(schema)]:
        assert owner is not None
        for name, field in owner.fields.items():
            item = unwrap_list(field.type)
            if item is None:
                continue
            named: GraphQLNamedType = get_named_type(item)
            is_node_list = named.name in node_names or named.name == "Node"
            if is_node_list and not (owner.name.endswith("Connection") or (owner.name, name) == ("Query", "nodes")):
                plain_lists.append(f"{owner.name}.{name}")
    assert plain_lists == []

    for connection in (t for t in object_types(schema) if t.name.endswith("Connection")):
        assert set(connection.fields) == {"edges", "pageInfo"}, connection.name
        edge = get_named_type(connection.fields["edges"].type)
        assert isinstance(edge, GraphQLObjectType) and set(edge.fields) == {"cursor", "node"}


def _connection_fields(schema: GraphQLSchema) -> list[tuple[str, GraphQLField]]:
    assert schema.query_type is not None
    return [
        (name, field)
        for name, field in schema.query_type.fields.items()
        if get_named_type(field.type).name.endswith("Connection")
    ]


def test_every_connection_pages_both_ways() -> None:
    fields = _connection_fields(graphql_schema())

    assert {name for name, _ in fields} == {
        "feed",
        "contentItems",
        "myShares",
        "socialAccounts",
        "teams",
        "members",
        "provisioningTokens",
        "policyVersions",
        "trainingModules",
        "auditEntries",
        "campaigns",
        "complianceRules",
        "suggestions",
        "mySuggestions",
    }
    for name, field in fields:
        assert {"first", "after", "last", "before"} <= set(field.args), name


def test_every_mutation_takes_one_input_and_answers_a_payload_with_typed_errors() -> None:
    schema = graphql_schema()
    assert schema.mutation_type is not None
    user_error = schema.type_map["UserError"]
    assert isinstance(user_error, GraphQLInterfaceType)
    assert set(user_error.fields) == {"message", "path"}
    for name, field in schema.mutation_type.fields.items():
        assert list(field.args) == ["input"], name
        assert isinstance(field.args["input"].type, GraphQLNonNull), name
        payload = field.type.of_type if isinstance(field.type, GraphQLNonNull) else None
        assert isinstance(payload, GraphQLObjectType), name
        assert payload.name == name[0].upper() + name[1:] + "Payload"
        errors = payload.fields["errors"].type
        assert str(errors) == "[UserError!]!", name
        results = [f for f in payload.fields if f != "errors"]
        assert len(results) == 1 and not isinstance(payload.fields[results[0]].type, GraphQLNonNull), name
    implementations = {t.name for t in object_types(schema) if implements(t, "UserError")}
    assert implementations == {
        "ValidationError",
        "NotFoundError",
        "ConflictError",
        "PolicyRejectedError",
        "PermissionDeniedError",
    }
