"""SCIM Users and Groups as JSON, to and from the roster's rows, and PATCH applied to that JSON.

PATCH works on the resource's own JSON: the current resource is rendered, the operations are applied to
it, and the result is read back exactly as a PUT body is. So a PATCH can never store what a PUT could
not, and the quirks of each identity provider are handled in one place (listed in docs/scim.md).
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.policy.scim.errors import invalid_syntax, invalid_value, no_target
from services.policy.scim.filter import Compare, PatchPath, matches, parse_patch_path

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Canonical spelling of the attributes we keep, by lower-cased name (SCIM names are case-insensitive).
_CANONICAL = {
    name.lower(): name
    for name in (
        "schemas",
        "id",
        "externalId",
        "userName",
        "name",
        "displayName",
        "emails",
        "active",
        "title",
        "preferredLanguage",
        "locale",
        "timezone",
        "addresses",
        "groups",
        "members",
        "meta",
        "roles",
        "department",
        "employeeNumber",
        "manager",
        "givenName",
        "familyName",
        "formatted",
        "value",
        "type",
        "primary",
        "display",
        "locality",
    )
}
_MULTI_VALUED = frozenset({"emails", "addresses", "groups", "members", "roles", "phonenumbers", "schemas"})


def canonical(name: str) -> str:
    return _CANONICAL.get(name.lower(), name)


def meta(resource_type: str, location: str, created: datetime, modified: datetime, version: int) -> dict[str, Any]:
    return {
        "resourceType": resource_type,
        "created": created.isoformat(),
        "lastModified": modified.isoformat(),
        "location": location,
        "version": f'W/"{version}"',
    }


# --- reading a User or Group body (POST, PUT, and the result of a PATCH) ------------------------------


@dataclass
class UserInput:
    user_name: str
    name: str
    email: str
    active: bool = True
    external_id: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    title: str | None = None
    language: str | None = None
    time_zone: str | None = None
    location: str | None = None
    department: str | None = None
    employee_number: str | None = None
    manager_id: str | None = None


@dataclass
class GroupInput:
    display_name: str
    external_id: str | None = None
    member_ids: list[str] = field(default_factory=list)


def _key(body: dict[str, Any], name: str) -> Any:
    wanted = name.lower()
    for key, value in body.items():
        if key.lower() == wanted:
            return value
    return None


def _text(body: dict[str, Any] | None, name: str, limit: int, *, where: str = "") -> str | None:
    if not isinstance(body, dict):
        return None
    value = _key(body, name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_value(f"{where}{name} must be a string")
    value = value.strip()
    if len(value) > limit:
        raise invalid_value(f"{where}{name} is longer than {limit} characters")
    if any(ch < " " for ch in value):
        raise invalid_value(f"{where}{name} contains control characters")
    return value or None


def read_bool(value: Any, name: str) -> bool:
    """SCIM booleans, and the strings "True"/"False" Entra ID sends without the aadOptscim062020 flag."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise invalid_value(f"{name} must be true or false")


def _pick(items: Any, name: str) -> dict[str, Any] | None:
    """The entry a person means by "their" e-mail or address: primary, else type work, else the first."""
    if items is None:
        return None
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise invalid_value(f"{name} must be a list of objects")
    for item in items:
        if _key(item, "primary") is True:
            return dict(item)
    for item in items:
        if str(_key(item, "type") or "").lower() == "work":
            return dict(item)
    return dict(items[0]) if items else None


def read_user(body: Any, *, active_when_absent: bool = True) -> UserInput:
    """A User body as the roster reads it. ``active_when_absent``: a new user is active unless told
    otherwise; a replaced or patched one keeps its state, so a PUT or PATCH that leaves ``active`` out
    never brings an offboarded member back by accident."""
    if not isinstance(body, dict):
        raise invalid_syntax("the body must be a JSON object")
    user_name = _text(body, "userName", 255)
    if not user_name:
        raise invalid_value("userName is required")
    active_value = _key(body, "active")
    active = active_when_absent if active_value is None else read_bool(active_value, "active")
    name_obj = _key(body, "name")
    if name_obj is not None and not isinstance(name_obj, dict):
        raise invalid_value("name must be an object")
    given = _text(name_obj, "givenName", 200, where="name.")
    family = _text(name_obj, "familyName", 200, where="name.")
    display = (
        _text(body, "displayName", 200)
        or _text(name_obj, "formatted", 200, where="name.")
        or " ".join(p for p in (given, family) if p)
        or user_name[:200]
    )
    email_entry = _pick(_key(body, "emails"), "emails")
    email = _text(email_entry, "value", 320, where="emails.") if email_entry else None
    # Stored as sent (the identity provider is the authority on addresses, as Entra asks); without
    # one, a userName that is an address stands in, else the member has none yet.
    if email is None:
        email = user_name if _EMAIL.match(user_name) else ""
    address = _pick(_key(body, "addresses"), "addresses")
    enterprise = _key(body, ENTERPRISE)
    if enterprise is not None and not isinstance(enterprise, dict):
        raise invalid_value(f"{ENTERPRISE} must be an object")
    manager = _key(enterprise, "manager") if isinstance(enterprise, dict) else None
    if isinstance(manager, list):  # Entra's PATCH sends the manager as a one-element list
        manager = manager[0] if manager else None
    manager_id = None
    if isinstance(manager, dict):
        manager_id = _text(manager, "value", 64, where="manager.")
    elif isinstance(manager, str):
        manager_id = manager.strip() or None
    elif manager is not None:
        raise invalid_value("manager must be an object with a value")
    return UserInput(
        user_name=user_name,
        name=display,
        email=email,
        active=active,
        external_id=_text(body, "externalId", 255),
        given_name=given,
        family_name=family,
        title=_text(body, "title", 200),
        language=_text(body, "preferredLanguage", 64) or _text(body, "locale", 64),
        time_zone=_text(body, "timezone", 64),
        location=_text(address, "locality", 200, where="addresses.") if address else None,
        department=_text(enterprise, "department", 200, where="enterprise."),
        employee_number=_text(enterprise, "employeeNumber", 64, where="enterprise."),
        manager_id=manager_id,
    )


def read_group(body: Any) -> GroupInput:
    if not isinstance(body, dict):
        raise invalid_syntax("the body must be a JSON object")
    display_name = _text(body, "displayName", 200)
    if not display_name:
        raise invalid_value("displayName is required")
    members = _key(body, "members") or []
    if not isinstance(members, list):
        raise invalid_value("members must be a list")
    ids: list[str] = []
    for member in members:
        value = _key(member, "value") if isinstance(member, dict) else None
        if not isinstance(value, str) or not value.strip():
            raise invalid_value("every member needs a value (the id of a User)")
        if value.strip() not in ids:
            ids.append(value.strip())
    return GroupInput(display_name=display_name, external_id=_text(body, "externalId", 255), member_ids=ids)


def parse_member_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


# --- PATCH ------------------------------------------------------------------------------------------


def apply_patch(resource: dict[str, Any], body: Any) -> dict[str, Any]:
    """The resource after the PatchOp ``body``; all operations or none (a failing one raises, and the
    caller has changed nothing)."""
    if not isinstance(body, dict):
        raise invalid_syntax("the body must be a PatchOp object")
    schemas = _key(body, "schemas")
    if not isinstance(schemas, list) or PATCH_SCHEMA not in schemas:
        raise invalid_syntax(f"schemas must list {PATCH_SCHEMA}")
    operations = _key(body, "Operations")
    if not isinstance(operations, list) or not operations:
        raise invalid_syntax("Operations must be a non-empty list")
    doc = copy.deepcopy(resource)
    for number, operation in enumerate(operations, start=1):
        if not isinstance(operation, dict):
            raise invalid_syntax(f"operation {number} is not an object")
        op = _key(operation, "op")
        # Entra sends "Add", "Replace", "Remove".
        if not isinstance(op, str) or op.lower() not in ("add", "replace", "remove"):
            raise invalid_syntax(f"operation {number}: op must be add, replace or remove")
        _operate(doc, op.lower(), _key(operation, "path"), _key(operation, "value"))
    return doc


def _operate(doc: dict[str, Any], op: str, path: Any, value: Any) -> None:
    if path is None or (isinstance(path, str) and not path.strip()):
        if op == "remove":
            raise no_target("remove needs a path")
        if not isinstance(value, dict):
            raise invalid_value(f"{op} without a path needs an object of attributes as its value")
        for key, item in value.items():
            if key.lower() in ("schemas", "id", "meta"):
                continue  # Okta's group rename repeats the read-only id
            if key.lower() == ENTERPRISE.lower() and isinstance(item, dict):
                for sub, sub_value in item.items():
                    _apply(doc, op, parse_patch_path(f"{ENTERPRISE}:{sub}"), sub_value)
                continue
            # Entra (aadOptscim062020) keys the value by paths: "name.givenName", "urn:...:employeeNumber".
            _apply(doc, op, parse_patch_path(key), item)
        return
    if not isinstance(path, str):
        raise invalid_syntax("path must be a string")
    if path.strip().lower() == ENTERPRISE.lower():
        # The extension as a whole: its attributes, one by one.
        if op == "remove":
            doc[ENTERPRISE] = {}
            return
        if not isinstance(value, dict):
            raise invalid_value(f"{ENTERPRISE} takes an object")
        for sub, sub_value in value.items():
            if sub.lower() != "schemas":
                _apply(doc, op, parse_patch_path(f"{ENTERPRISE}:{sub}"), sub_value)
        return
    _apply(doc, op, parse_patch_path(path), value)


def _container(doc: dict[str, Any], path: PatchPath) -> dict[str, Any]:
    if path.urn and ":extension:" in path.urn:
        key = next((k for k in doc if k.lower() == path.urn), ENTERPRISE if path.urn == ENTERPRISE.lower() else None)
        if key is None:
            raise invalid_value(f"unknown schema {path.urn}")
        target = doc.setdefault(key, {})
        if not isinstance(target, dict):
            doc[key] = target = {}
        return target
    # Entra's manager update uses the bare path "manager", which lives in the enterprise extension.
    if path.urn is None and path.attr in ("manager", "department", "employeenumber"):
        extension: dict[str, Any] = doc.setdefault(ENTERPRISE, {})
        return extension
    return doc


def _apply(doc: dict[str, Any], op: str, path: PatchPath, value: Any) -> None:
    container = _container(doc, path)
    key = next((k for k in container if k.lower() == path.attr), canonical(path.attr))
    current = container.get(key)
    multi = path.attr in _MULTI_VALUED or isinstance(current, list)
    if path.filter is not None:
        _apply_filtered(container, key, op, path, value)
        return
    if path.sub is not None:
        sub = canonical(path.sub)
        if isinstance(current, list):
            for item in current:
                if isinstance(item, dict):
                    _set_or_pop(item, sub, op, value)
            return
        if current is None:
            if op == "remove":
                return
            container[key] = current = {}
        if not isinstance(current, dict):
            raise invalid_value(f"{path.attr} has no sub-attributes")
        _set_or_pop(current, sub, op, value)
        return
    if op == "remove":
        if multi and isinstance(value, list) and isinstance(current, list):
            # Entra (without the flag) removes group members with a value list; honour it rather than
            # emptying the group as the RFC's reading would.
            unwanted = {str(_key(v, "value")) for v in value if isinstance(v, dict)}
            container[key] = [i for i in current if str(_key(i, "value")) not in unwanted]
        else:
            container.pop(key, None)
        return
    if multi:
        values = value if isinstance(value, list) else [value]
        if op == "replace" or not isinstance(current, list):
            container[key] = list(values) if op == "replace" else [*(current or []), *values]
        else:
            container[key] = current + [v for v in values if not _same_value_present(current, v)]
        return
    if isinstance(value, dict) and isinstance(current, dict):
        current.update({canonical(k): v for k, v in value.items()})
        return
    container[key] = value


def _same_value_present(items: list[Any], candidate: Any) -> bool:
    wanted = _key(candidate, "value") if isinstance(candidate, dict) else candidate
    return any((_key(i, "value") if isinstance(i, dict) else i) == wanted for i in items)


def _set_or_pop(target: dict[str, Any], sub: str, op: str, value: Any) -> None:
    existing = next((k for k in target if k.lower() == sub.lower()), sub)
    if op == "remove":
        target.pop(existing, None)
    else:
        target[existing] = value


def _apply_filtered(container: dict[str, Any], key: str, op: str, path: PatchPath, value: Any) -> None:
    assert path.filter is not None
    items = container.get(key)
    items = items if isinstance(items, list) else []
    hits = [item for item in items if matches(path.filter, item)]
    if op == "remove":
        if path.sub is None:
            container[key] = [item for item in items if not any(item is hit for hit in hits)]
        else:
            for hit in hits:
                _set_or_pop(hit, canonical(path.sub), op, value)
        return
    if not hits:
        # Entra sets a typed value that is not there yet (emails[type eq "work"].value) and expects it
        # created; the RFC would answer noTarget. Create it when the filter names just a type.
        created = _entry_for(path, value)
        if created is None:
            raise no_target(f"no value of {key} matches the path's filter")
        container[key] = [*items, created]
        return
    for hit in hits:
        if path.sub is not None:
            _set_or_pop(hit, canonical(path.sub), op, value)
        elif isinstance(value, dict):
            hit.update({canonical(k): v for k, v in value.items()})
        else:
            raise invalid_value(f"the value for {key}[...] must be an object")


def _entry_for(path: PatchPath, value: Any) -> dict[str, Any] | None:
    condition = path.filter
    if isinstance(condition, Compare) and condition.op == "eq" and condition.path.attr == "type":
        if path.sub is not None:
            return {"type": condition.value, canonical(path.sub): value}
        if isinstance(value, dict):
            return {"type": condition.value, **{canonical(k): v for k, v in value.items()}}
    return None
