"""The ``/scim/v2`` endpoints. They speak SCIM, not the REST APIs' conventions: SCIM JSON in and out
(``application/scim+json``, ``application/json`` accepted), the SCIM error shape with ``scimType``, and a
provisioning token instead of a user's OIDC token. Bodies and query strings are read by hand so that
every bad input answers in SCIM's shape rather than FastAPI's."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlmodel import col, select

from condividi.service import DatabaseDep
from services.policy import provisioning
from services.policy.models import Member, ScimGroup
from services.policy.scim import discovery, store
from services.policy.scim.errors import (
    ScimError,
    invalid_syntax,
    invalid_value,
    not_found,
    scim_response,
)
from services.policy.scim.filter import parse
from services.policy.scim.query import GROUP_COLUMNS, GROUP_SPECIAL, USER_COLUMNS, USER_SPECIAL, to_sql
from services.policy.scim.resources import LIST_SCHEMA, apply_patch, read_group, read_user
from services.policy.settings import PolicySettings

router = APIRouter(prefix="/scim/v2", include_in_schema=False)

MAX_BODY_BYTES = 1_000_000
DEFAULT_COUNT = 100


async def provisioned_org(request: Request, db: DatabaseDep) -> uuid.UUID:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ScimError(401, "a provisioning token is required (Authorization: Bearer <token>)")
    async with db.read() as session:
        org_id = await provisioning.org_of(session, token.strip())
    if org_id is None:
        raise ScimError(401, "the provisioning token is not valid (unknown or rotated)")
    return org_id


Org = Annotated[uuid.UUID, Depends(provisioned_org)]


def _base(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}/scim/v2"


def _prefix(request: Request) -> str:
    settings: PolicySettings = request.app.state.runtime.settings
    return settings.SCIM_ROLE_GROUP_PREFIX


async def _body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ScimError(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_syntax("the body is not JSON") from exc


def _int(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise invalid_value(f"{name} must be an integer") from exc


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def project(resource: dict[str, Any], attributes: list[str], excluded: list[str]) -> dict[str, Any]:
    """``attributes`` / ``excludedAttributes`` (RFC 7644 §3.4.2.5), at the level of top-level attributes;
    ``id``, ``schemas`` and ``meta`` always stay."""
    always = {"id", "schemas", "meta"}

    def top(name: str) -> str:
        if name.lower().startswith("urn:"):
            urn, _, rest = name.rpartition(":")
            return urn.lower() if ":extension:" in urn.lower() and "." not in rest else rest.split(".")[0].lower()
        return name.split(".")[0].lower()

    if attributes:
        keep = {top(a) for a in attributes} | always
        return {k: v for k, v in resource.items() if k.lower() in keep}
    if excluded:
        drop = {top(a) for a in excluded} - always
        return {k: v for k, v in resource.items() if k.lower() not in drop}
    return resource


def _etag(resource: dict[str, Any]) -> dict[str, str]:
    return {"ETag": resource["meta"]["version"]}


def _check_if_match(request: Request, version: int) -> None:
    wanted = request.headers.get("if-match")
    if wanted and wanted.strip() != "*" and f'W/"{version}"' not in [w.strip() for w in wanted.split(",")]:
        raise ScimError(412, "the resource has changed since that version")


# --- discovery ------------------------------------------------------------------------------------


def _list(resources: list[dict[str, Any]], total: int | None = None, start: int = 1) -> dict[str, Any]:
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": len(resources) if total is None else total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


@router.get("/ServiceProviderConfig")
async def service_provider_config(request: Request, _: Org) -> JSONResponse:
    return scim_response(discovery.service_provider_config(_base(request)))


@router.get("/ResourceTypes")
async def resource_types(request: Request, _: Org) -> JSONResponse:
    return scim_response(_list(discovery.resource_types(_base(request))))


@router.get("/ResourceTypes/{name}")
async def resource_type(name: str, request: Request, _: Org) -> JSONResponse:
    for item in discovery.resource_types(_base(request)):
        if item["id"].lower() == name.lower():
            return scim_response(item)
    raise not_found("resource type")


@router.get("/Schemas")
async def schemas(request: Request, _: Org) -> JSONResponse:
    return scim_response(_list(discovery.schemas(_base(request))))


@router.get("/Schemas/{schema_id}")
async def schema(schema_id: str, request: Request, _: Org) -> JSONResponse:
    for item in discovery.schemas(_base(request)):
        if item["id"].lower() == schema_id.lower():
            return scim_response(item)
    raise not_found("schema")


# --- listing and searching ---------------------------------------------------------------------------


async def _search(request: Request, db: Any, org_id: uuid.UUID, kind: str, params: dict[str, Any]) -> JSONResponse:
    start = max(_int(_str(params.get("startIndex")), "startIndex", 1), 1)
    count = min(max(_int(_str(params.get("count")), "count", DEFAULT_COUNT), 0), discovery.MAX_RESULTS)
    text = params.get("filter")
    if text is not None and not isinstance(text, str):
        raise invalid_value("filter must be a string")
    if kind == "User":
        query = store._active_members(org_id)
        order = (col(Member.created_at), col(Member.id))
        if text:
            query = query.where(to_sql(parse(text), USER_COLUMNS, USER_SPECIAL))
    else:
        query = select(ScimGroup).where(col(ScimGroup.org_id) == org_id)
        order = (col(ScimGroup.created_at), col(ScimGroup.id))
        if text:
            query = query.where(to_sql(parse(text), GROUP_COLUMNS, GROUP_SPECIAL))
    async with db.read() as session:
        total = await session.scalar(select(sa.func.count()).select_from(query.subquery()))
        rows = list(await session.scalars(query.order_by(*order).offset(start - 1).limit(count))) if count else []
        base = _base(request)
        rendered = await (
            store.render_users(session, base, rows) if kind == "User" else store.render_groups(session, base, rows)
        )
    attributes, excluded = _names(params.get("attributes")), _names(params.get("excludedAttributes"))
    return scim_response(_list([project(r, attributes, excluded) for r in rendered], int(total or 0), start))


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


@router.get("/Users")
async def list_users(request: Request, org_id: Org, db: DatabaseDep) -> JSONResponse:
    return await _search(request, db, org_id, "User", dict(request.query_params))


@router.get("/Groups")
async def list_groups(request: Request, org_id: Org, db: DatabaseDep) -> JSONResponse:
    return await _search(request, db, org_id, "Group", dict(request.query_params))


@router.post("/.search")
async def search_everything(request: Request, org_id: Org, db: DatabaseDep) -> JSONResponse:
    """RFC 7644 §3.4.3 at the root: Users, then Groups, as one list paged with startIndex/count."""
    body = await _body(request)
    if not isinstance(body, dict):
        raise invalid_syntax("a SearchRequest must be a JSON object")
    start = max(_int(_str(body.get("startIndex")), "startIndex", 1), 1)
    count = min(max(_int(_str(body.get("count")), "count", DEFAULT_COUNT), 0), discovery.MAX_RESULTS)
    users = json.loads(
        bytes((await _search(request, db, org_id, "User", {**body, "startIndex": start, "count": count})).body)
    )
    skipped = max(0, start - 1 - users["totalResults"])
    remaining = count - len(users["Resources"])
    groups = json.loads(
        bytes(
            (await _search(request, db, org_id, "Group", {**body, "startIndex": skipped + 1, "count": remaining})).body
        )
    )
    found = [*users["Resources"], *groups["Resources"]]
    return scim_response(_list(found, users["totalResults"] + groups["totalResults"], start))


@router.post("/Users/.search")
async def search_users(request: Request, org_id: Org, db: DatabaseDep) -> JSONResponse:
    body = await _body(request)
    if not isinstance(body, dict):
        raise invalid_syntax("a SearchRequest must be a JSON object")
    return await _search(request, db, org_id, "User", body)


@router.post("/Groups/.search")
async def search_groups(request: Request, org_id: Org, db: DatabaseDep) -> JSONResponse:
    body = await _body(request)
    if not isinstance(body, dict):
        raise invalid_syntax("a SearchRequest must be a JSON object")
    return await _search(request, db, org_id, "Group", body)


# --- Users ----------------------------------------------------------------------------------------


async def _user_response(request: Request, db: Any, member_id: uuid.UUID, status: int = 200) -> JSONResponse:
    async with db.read() as session:
        member = await session.get(Member, member_id)
        assert member is not None
        (resource,) = await store.render_users(session, _base(request), [member])
    params = request.query_params
    shown = project(resource, _names(params.get("attributes")), _names(params.get("excludedAttributes")))
    headers = _etag(resource)
    if status == 201:
        headers["Location"] = resource["meta"]["location"]
    return scim_response(shown, status, headers)


@router.post("/Users")
async def create_user(request: Request, org_id: Org, db: DatabaseDep) -> JSONResponse:
    data = read_user(await _body(request))
    async with db.unit_of_work() as uow:
        member = await store.create_user(uow, org_id, data)
    return await _user_response(request, db, member.id, 201)


@router.get("/Users/{user_id}")
async def get_user(user_id: str, request: Request, org_id: Org, db: DatabaseDep) -> Response:
    async with db.read() as session:
        member = await store.find_user(session, org_id, user_id)
    if member is None:
        raise not_found("User")
    if request.headers.get("if-none-match", "").strip() == f'W/"{member.version}"':
        return Response(status_code=304)
    return await _user_response(request, db, member.id)


@router.put("/Users/{user_id}")
async def replace_user(user_id: str, request: Request, org_id: Org, db: DatabaseDep) -> JSONResponse:
    body = await _body(request)
    async with db.unit_of_work() as uow:
        member = await store.find_user(uow.session, org_id, user_id)
        if member is None:
            raise not_found("User")
        _check_if_match(request, member.version)
        await store.replace_user(uow, member, read_user(body, active_when_absent=member.active))
    return await _user_response(request, db, member.id)


@router.patch("/Users/{user_id}")
async def patch_user(user_id: str, request: Request, org_id: Org, db: DatabaseDep) -> JSONResponse:
    body = await _body(request)
    async with db.unit_of_work() as uow:
        member = await store.find_user(uow.session, org_id, user_id)
        if member is None:
            raise not_found("User")
        _check_if_match(request, member.version)
        (current,) = await store.render_users(uow.session, _base(request), [member])
        patched = apply_patch(current, body)
        await store.replace_user(uow, member, read_user(patched, active_when_absent=member.active))
    return await _user_response(request, db, member.id)


@router.delete("/Users/{user_id}", status_code=204)
async def delete_user(user_id: str, request: Request, org_id: Org, db: DatabaseDep) -> Response:
    async with db.unit_of_work() as uow:
        member = await store.find_user(uow.session, org_id, user_id)
        if member is None:
            raise not_found("User")
        _check_if_match(request, member.version)
        await store.delete_user(uow, member)
    return Response(status_code=204)


# --- Groups ---------------------------------------------------------------------------------------


async def _group_response(request: Request, db: Any, group_id: uuid.UUID, status: int = 200) -> JSONResponse:
    async with db.read() as session:
        group = await session.get(ScimGroup, group_id)
        assert group is not None
        (resource,) = await store.render_groups(session, _base(request), [group])
    params = request.query_params
    shown = project(resource, _names(params.get("attributes")), _names(params.get("excludedAttributes")))
    headers = _etag(resource)
    if status == 201:
        headers["Location"] = resource["meta"]["location"]
    return scim_response(shown, status, headers)


@router.post("/Groups")
async def create_group(request: Request, org_id: Org, db: DatabaseDep) -> JSONResponse:
    data = read_group(await _body(request))
    async with db.unit_of_work() as uow:
        group = await store.save_group(uow, org_id, data, _prefix(request))
    return await _group_response(request, db, group.id, 201)


@router.get("/Groups/{group_id}")
async def get_group(group_id: str, request: Request, org_id: Org, db: DatabaseDep) -> JSONResponse:
    async with db.read() as session:
        group = await store.find_group(session, org_id, group_id)
    if group is None:
        raise not_found("Group")
    return await _group_response(request, db, group.id)


@router.put("/Groups/{group_id}")
async def replace_group(group_id: str, request: Request, org_id: Org, db: DatabaseDep) -> JSONResponse:
    data = read_group(await _body(request))
    async with db.unit_of_work() as uow:
        group = await store.find_group(uow.session, org_id, group_id)
        if group is None:
            raise not_found("Group")
        _check_if_match(request, group.version)
        await store.save_group(uow, org_id, data, _prefix(request), group)
    return await _group_response(request, db, group.id)


@router.patch("/Groups/{group_id}")
async def patch_group(group_id: str, request: Request, org_id: Org, db: DatabaseDep) -> JSONResponse:
    body = await _body(request)
    async with db.unit_of_work() as uow:
        group = await store.find_group(uow.session, org_id, group_id)
        if group is None:
            raise not_found("Group")
        _check_if_match(request, group.version)
        (current,) = await store.render_groups(uow.session, _base(request), [group])
        await store.save_group(uow, org_id, read_group(apply_patch(current, body)), _prefix(request), group)
    return await _group_response(request, db, group.id)


@router.delete("/Groups/{group_id}", status_code=204)
async def delete_group(group_id: str, request: Request, org_id: Org, db: DatabaseDep) -> Response:
    async with db.unit_of_work() as uow:
        group = await store.find_group(uow.session, org_id, group_id)
        if group is None:
            raise not_found("Group")
        _check_if_match(request, group.version)
        await store.delete_group(uow, group, _prefix(request))
    return Response(status_code=204)


_ENDPOINTS = frozenset({"serviceproviderconfig", "resourcetypes", "schemas", "users", "groups"})


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def unknown(rest: str, request: Request, _: Org) -> JSONResponse:
    if rest.split("/")[0].lower() in _ENDPOINTS:
        raise ScimError(405, f"{request.method} is not allowed on /{rest[:100]}")
    raise ScimError(404, f"/{rest[:100]} is not a SCIM endpoint of this service provider (Bulk and Me are not offered)")
