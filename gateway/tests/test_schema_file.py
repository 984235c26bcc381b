"""The checked-in schema is the code's schema."""

from __future__ import annotations

from gateway.schema_file import SCHEMA_FILE, printed


def test_schema_graphql_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == printed(), (
        "gateway/schema.graphql differs from the code's schema: run `make schema` and commit the file"
    )
