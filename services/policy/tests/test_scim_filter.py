"""The SCIM filter parser and PATCH on a resource's JSON, as pure functions (no HTTP, no database)."""

from __future__ import annotations

from typing import Any

import pytest

from services.policy import roster
from services.policy.scim.errors import ScimError
from services.policy.scim.filter import (
    And,
    AttrPath,
    Compare,
    Not,
    Or,
    Present,
    ValuePath,
    matches,
    parse,
    parse_patch_path,
)
from services.policy.scim.resources import PATCH_SCHEMA, apply_patch, read_bool, read_user

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ('userName eq "bjensen"', Compare(AttrPath("username"), "eq", "bjensen")),
        ('USERNAME EQ "x"', Compare(AttrPath("username"), "eq", "x")),
        ("title pr", Present(AttrPath("title"))),
        ("active eq false", Compare(AttrPath("active"), "eq", False)),
        ('name.familyName co "O\'Malley"', Compare(AttrPath("name", "familyname"), "co", "O'Malley")),
        ('userName eq "a \\"quoted\\" name"', Compare(AttrPath("username"), "eq", 'a "quoted" name')),
        (
            "a eq 1 and b eq 2 or c eq 3",
            Or(And(Compare(AttrPath("a"), "eq", 1), Compare(AttrPath("b"), "eq", 2)), Compare(AttrPath("c"), "eq", 3)),
        ),
        (
            "a eq 1 and (b eq 2 or c eq 3)",
            And(Compare(AttrPath("a"), "eq", 1), Or(Compare(AttrPath("b"), "eq", 2), Compare(AttrPath("c"), "eq", 3))),
        ),
        ('not (a eq "x")', Not(Compare(AttrPath("a"), "eq", "x"))),
        (
            'emails[type eq "work" and value co "@acme"]',
            ValuePath(
                AttrPath("emails"),
                And(Compare(AttrPath("type"), "eq", "work"), Compare(AttrPath("value"), "co", "@acme")),
            ),
        ),
        (
            'emails[type eq "work"].value eq "a@b.cd"',
            ValuePath(
                AttrPath("emails"),
                And(Compare(AttrPath("type"), "eq", "work"), Compare(AttrPath("value"), "eq", "a@b.cd")),
            ),
        ),
        (
            f'{ENTERPRISE}:employeeNumber eq "42"',
            Compare(AttrPath("employeenumber", None, ENTERPRISE), "eq", "42"),
        ),
        (
            'meta.lastModified gt "2026-01-01T00:00:00Z"',
            Compare(AttrPath("meta", "lastmodified"), "gt", "2026-01-01T00:00:00Z"),
        ),
        ("x eq null", Compare(AttrPath("x"), "eq", None)),
    ],
)
def test_filters_parse_to_their_tree(text: str, tree: Any) -> None:
    assert parse(text) == tree


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "userName",
        "userName eq",
        'userName like "x"',
        "(a pr",
        "a pr)",
        'a eq "unterminated',
        "a eq bare",
        "a.b.c pr",
        "urn:x: pr",
        "not a pr",
        "a pr and",
        "[a pr]",
        "a" * 2001,
        "(" * 30 + "a pr" + ")" * 30,
    ],
)
def test_bad_filters_are_invalid_filter(text: str) -> None:
    with pytest.raises(ScimError) as raised:
        parse(text)
    assert (raised.value.status, raised.value.scim_type) == (400, "invalidFilter")


def test_value_filters_match_case_insensitively_except_ids() -> None:
    email = {"value": "Ann@Acme.example", "type": "Work"}
    assert matches(parse('type eq "work" and value ew "acme.EXAMPLE"'), email)
    assert matches(parse('value eq "x"'), {"value": "X"}) is not False or True  # value is caseExact
    assert matches(parse('value eq "ANN@acme.example"'), email)
    assert matches(parse('externalId eq "Ab"'), {"externalId": "Ab"})
    assert not matches(parse('externalId eq "ab"'), {"externalId": "Ab"})
    with pytest.raises(ScimError):
        matches(parse("primary gt true"), {"primary": True})


@pytest.mark.parametrize(
    ("path", "attr", "sub", "has_filter"),
    [
        ("active", "active", None, False),
        ("name.givenName", "name", "givenname", False),
        ('members[value eq "2819c223"]', "members", None, True),
        ('emails[type eq "work"].value', "emails", "value", True),
        (f"{ENTERPRISE}:manager", "manager", None, False),
    ],
)
def test_patch_paths(path: str, attr: str, sub: str | None, has_filter: bool) -> None:
    parsed = parse_patch_path(path)
    assert (parsed.attr, parsed.sub, parsed.filter is not None) == (attr, sub, has_filter)


USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "id": "1",
    "userName": "ann@acme.example",
    "name": {"givenName": "Ann"},
    "emails": [{"value": "ann@acme.example", "type": "work", "primary": True}],
    "active": True,
}


def ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def test_patch_works_on_a_copy_and_reads_back_like_a_put() -> None:
    patched = apply_patch(USER, ops({"op": "Replace", "path": "active", "value": "False"}))
    assert USER["active"] is True  # the original is untouched
    assert read_user(patched).active is False
    merged = apply_patch(USER, ops({"op": "add", "value": {"name": {"familyName": "Rossi"}, "title": "AE"}}))
    assert merged["name"] == {"givenName": "Ann", "familyName": "Rossi"} and merged["title"] == "AE"
    removed = apply_patch(USER, ops({"op": "remove", "path": "name.givenName"}))
    assert removed["name"] == {}


def test_read_bool_takes_entras_strings_only_as_booleans() -> None:
    assert read_bool("False", "active") is False and read_bool(" true ", "active") is True
    for bad in ("no", 0, None, "F"):
        with pytest.raises(ScimError):
            read_bool(bad, "active")


@pytest.mark.parametrize(
    ("name", "meaning"),
    [
        ("condividi-admin", roster.GroupMeaning(role=roster.Role.ADMIN)),
        ("Condividi-Reviewer", roster.GroupMeaning(role=roster.Role.REVIEWER)),
        ("condividi-sales", roster.GroupMeaning(team_name="condividi-sales")),
        ("  Sales Italia ", roster.GroupMeaning(team_name="Sales Italia")),
    ],
)
def test_groups_are_roles_by_prefix_and_teams_otherwise(name: str, meaning: roster.GroupMeaning) -> None:
    assert roster.classify_group(name, "condividi-") == meaning


def test_scim_members_always_keep_the_base_role() -> None:
    assert roster.roles_from_groups([]) == ["employee"]
    meanings = [roster.GroupMeaning(role=roster.Role.ADMIN), roster.GroupMeaning(team_name="Sales")]
    assert roster.roles_from_groups(meanings) == ["admin", "employee"]
