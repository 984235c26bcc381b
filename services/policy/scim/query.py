"""SCIM filters as SQL over the roster's tables: each supported attribute names its column and how it
compares (case-insensitively for userName, exactly for ids). An attribute outside these tables answers
``invalidFilter``, as RFC 7644 §3.4.2.2 asks for an unsupported attribute."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from services.policy.models import Member, ScimGroup, ScimGroupMember
from services.policy.scim.errors import invalid_filter
from services.policy.scim.filter import And, AttrPath, Compare, Filter, Not, Or, Present, ValuePath


@dataclass(frozen=True)
class Column:
    expression: Any
    kind: str  # "text" (case-insensitive), "exact", "bool", "uuid", "time"


Special = Callable[[Compare | Present], ColumnElement[bool]]

USER_COLUMNS: dict[tuple[str, str | None], Column] = {
    ("username", None): Column(col(Member.subject), "text"),
    ("externalid", None): Column(col(Member.external_id), "exact"),
    ("id", None): Column(col(Member.id), "uuid"),
    ("displayname", None): Column(col(Member.name), "text"),
    ("name", "formatted"): Column(col(Member.name), "text"),
    ("name", "givenname"): Column(col(Member.given_name), "text"),
    ("name", "familyname"): Column(col(Member.family_name), "text"),
    ("emails", None): Column(col(Member.email), "text"),
    ("emails", "value"): Column(col(Member.email), "text"),
    ("active", None): Column(col(Member.active), "bool"),
    ("title", None): Column(col(Member.title), "text"),
    ("preferredlanguage", None): Column(col(Member.language), "text"),
    ("timezone", None): Column(col(Member.time_zone), "text"),
    ("department", None): Column(col(Member.department), "text"),
    ("employeenumber", None): Column(col(Member.employee_number), "exact"),
    ("meta", "created"): Column(col(Member.created_at), "time"),
    ("meta", "lastmodified"): Column(col(Member.updated_at), "time"),
}


def _user_email_type(node: Compare | Present) -> ColumnElement[bool]:
    # The roster keeps one address, the work one, which is also the primary.
    if isinstance(node, Present):
        return sa.true()
    if node.path.attr == "type" or node.path.sub == "type":
        hit = isinstance(node.value, str) and node.value.lower() == "work"
    else:
        hit = node.value is True
    if node.op not in ("eq", "ne"):
        raise invalid_filter(f"{node.op} is not supported on emails.{node.path.sub or node.path.attr}")
    return sa.true() if hit == (node.op == "eq") else sa.false()


USER_SPECIAL: dict[tuple[str, str | None], Special] = {
    ("emails", "type"): _user_email_type,
    ("emails", "primary"): _user_email_type,
}


def _group_member(node: Compare | Present) -> ColumnElement[bool]:
    if isinstance(node, Present):
        return sa.exists().where(col(ScimGroupMember.group_id) == col(ScimGroup.id))
    if node.op != "eq" or not isinstance(node.value, str):
        raise invalid_filter("members.value supports eq with a string only")
    try:
        member_id = uuid.UUID(node.value)
    except ValueError:
        return sa.false()
    return sa.exists().where(
        col(ScimGroupMember.group_id) == col(ScimGroup.id), col(ScimGroupMember.member_id) == member_id
    )


GROUP_COLUMNS: dict[tuple[str, str | None], Column] = {
    ("displayname", None): Column(col(ScimGroup.display_name), "text"),
    ("externalid", None): Column(col(ScimGroup.external_id), "exact"),
    ("id", None): Column(col(ScimGroup.id), "uuid"),
    ("meta", "created"): Column(col(ScimGroup.created_at), "time"),
    ("meta", "lastmodified"): Column(col(ScimGroup.updated_at), "time"),
}
GROUP_SPECIAL: dict[tuple[str, str | None], Special] = {
    ("members", "value"): _group_member,
    ("members", None): _group_member,
}


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _compare(column: Column, node: Compare | Present) -> ColumnElement[bool]:
    expression = column.expression
    if isinstance(node, Present):
        present = expression.is_not(None)
        return sa.and_(present, expression != "") if column.kind in ("text", "exact") else present
    op, value = node.op, node.value
    if value is None:
        if op == "eq":
            return expression.is_(None)  # type: ignore[no-any-return]
        if op == "ne":
            return expression.is_not(None)  # type: ignore[no-any-return]
        raise invalid_filter(f"{op} cannot compare with null")
    if column.kind == "bool":
        if op not in ("eq", "ne") or not isinstance(value, bool):
            raise invalid_filter(f"{node.path} is a boolean: only eq and ne with true or false")
        return (expression == value) if op == "eq" else (expression != value)  # type: ignore[no-any-return]
    if column.kind == "uuid":
        if op not in ("eq", "ne") or not isinstance(value, str):
            raise invalid_filter(f"{node.path} supports eq and ne with a string only")
        try:
            wanted = uuid.UUID(value)
        except ValueError:
            return sa.false() if op == "eq" else sa.true()
        return (expression == wanted) if op == "eq" else (expression != wanted)  # type: ignore[no-any-return]
    if column.kind == "time":
        if op in ("co", "sw", "ew") or not isinstance(value, str):
            raise invalid_filter(f"{node.path} is a date-time: compare it with eq, ne, gt, ge, lt or le")
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise invalid_filter(f"{value!r} is not a date-time") from exc
        return _ordered(expression, op, moment)
    if not isinstance(value, str):
        raise invalid_filter(f"{node.path} is a string: compare it with a string")
    if column.kind == "text":
        expression, value = sa.func.lower(expression), value.lower()
    match op:
        case "co":
            return expression.like(f"%{_like(value)}%", escape="\\")  # type: ignore[no-any-return]
        case "sw":
            return expression.like(f"{_like(value)}%", escape="\\")  # type: ignore[no-any-return]
        case "ew":
            return expression.like(f"%{_like(value)}", escape="\\")  # type: ignore[no-any-return]
    return _ordered(expression, op, value)


def _ordered(expression: Any, op: str, value: Any) -> ColumnElement[bool]:
    operations = {
        "eq": expression.__eq__,
        "ne": expression.__ne__,
        "gt": expression.__gt__,
        "ge": expression.__ge__,
        "lt": expression.__lt__,
        "le": expression.__le__,
    }
    if op not in operations:
        raise invalid_filter(f"unsupported operator {op}")
    return operations[op](value)  # type: ignore[no-any-return]


def to_sql(
    node: Filter,
    columns: dict[tuple[str, str | None], Column],
    special: dict[tuple[str, str | None], Special],
    prefix: str | None = None,
) -> ColumnElement[bool]:
    match node:
        case And(left, right):
            return sa.and_(to_sql(left, columns, special, prefix), to_sql(right, columns, special, prefix))
        case Or(left, right):
            return sa.or_(to_sql(left, columns, special, prefix), to_sql(right, columns, special, prefix))
        case Not(inner):
            return sa.not_(to_sql(inner, columns, special, prefix))
        case ValuePath(path, inner):
            if prefix is not None:
                raise invalid_filter("value filters cannot be nested")
            return to_sql(inner, columns, special, path.attr)
        case Compare() | Present():
            attr: AttrPath = node.path
            key = (prefix, attr.attr) if prefix is not None else (attr.attr, attr.sub)
            if key in special:
                return special[key](node)
            if key not in columns:
                raise invalid_filter(f"filtering on {'.'.join(k for k in key if k)} is not supported")
            return _compare(columns[key], node)
    raise invalid_filter("unsupported filter")
