"""The REST conventions, read off each process's OpenAPI document (no database needed: each app is
built, not started): the bearer scheme, `<tag>-<verb>` operation ids, readable schema names, the
package's version, and error responses that document what each operation can really answer."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from condividi.openapi import package_version
from gateway.main import build_app as build_gateway
from gateway.settings import GatewaySettings
from services.content.main import build_app as build_content
from services.metrics.main import build_app as build_metrics
from services.policy.main import build_app as build_policy
from services.sharing.main import build_app as build_sharing

ROOT = Path(__file__).resolve().parents[1]
SERVICES: dict[str, Callable[[], FastAPI]] = {
    "content": build_content,
    "policy": build_policy,
    "sharing": build_sharing,
    "metrics": build_metrics,
}
ERROR_REF = "#/components/schemas/ErrorResponse"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}

# Which operations need a role beyond being a member of the org, and which can conflict with the state:
# written out, so that a route that gains or loses a role check or a conflict has to say so here.
NEEDS_A_ROLE = {
    "content-items-create",
    "content-items-publish",
    "content-items-list",
    "content-items-update",
    "content-items-delete",
    "content-items-unpublish",
    "content-items-archive",
    "content-items-pin",
    "content-items-unpin",
    "content-items-list-revisions",
    "teams-create",
    "members-create",
    "members-list",
    "summary-get",
    "roster-list-members",
    "roster-get-member",
    "roster-deactivate-member",
    "roster-import-csv",
    "provisioning-tokens-create",
    "provisioning-tokens-list",
    "provisioning-tokens-rotate",
    "policy-versions-create",
    "policy-versions-publish",
    "policy-versions-progress",
    "policy-versions-export",
    "training-modules-create",
    "training-modules-progress",
    "link-previews-refresh",
    # the audit log and the near-duplicate guard (issue 8)
    "audit-entries-list",
    "audit-verification-get",
    "audit-export",
    "audit-retention-get",
    "audit-retention-update",
    "compliance-near-duplicates-get",
    "compliance-near-duplicates-update",
    "content-items-set-audience",
    "campaigns-create",
    "campaigns-list",
    "campaigns-get",
    "campaigns-update",
    "campaigns-archive",
    "campaigns-add-item",
    "campaigns-remove-item",
    "campaigns-list-items",
    "compliance-rules-create",
    "compliance-rules-list",
    "compliance-rules-get",
    "compliance-rules-replace",
    "compliance-rules-delete",
    "captions-list",
    "captions-replace",
    "suggestions-list",
    "suggestions-accept",
    "suggestions-decline",
}
CAN_CONFLICT = {
    "content-items-publish",
    "content-items-update",
    "content-items-delete",
    "content-items-unpublish",
    "content-items-archive",
    "content-items-pin",
    "teams-create",
    "members-create",
    "connections-create",
    "shares-create",
    "provisioning-tokens-rotate",
    "policy-versions-publish",
    "policy-acknowledgements-create",
    "campaigns-create",
    "campaigns-update",
    "campaigns-archive",
    "suggestions-create",
    "suggestions-accept",
    "suggestions-decline",
}


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    docs = {name: build().openapi() for name, build in SERVICES.items()}
    key_file = tmp_path_factory.mktemp("issuer") / "key.pem"
    docs["gateway"] = build_gateway(GatewaySettings(DEV_ISSUER_KEY_FILE=key_file)).openapi()
    return docs


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def service_operations(documents: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for name in SERVICES:
        for path, method, operation in operations(documents[name]):
            yield name, path, method, operation


def test_every_service_has_operations(documents: dict[str, dict[str, Any]]) -> None:
    # Guards the other tests against passing on empty documents.
    for name in SERVICES:
        assert len(list(operations(documents[name]))) >= 3, name


def test_operation_ids_are_tag_and_verb_and_unique(documents: dict[str, dict[str, Any]]) -> None:
    seen: dict[str, str] = {}
    for name, document in documents.items():
        for path, method, operation in operations(document):
            where = f"{name} {method.upper()} {path}"
            [tag, *_] = operation["tags"]
            operation_id = operation["operationId"]
            assert re.fullmatch(rf"{re.escape(tag)}(-[a-z]+)+", operation_id), (
                f"{where}: operation id {operation_id!r} is not '<tag>-<verb>' (tag {tag!r}); set operation_id="
            )
            assert operation_id not in seen, f"{where}: operation id {operation_id!r} is also {seen[operation_id]}"
            seen[operation_id] = where


def test_schema_names_are_readable(documents: dict[str, dict[str, Any]]) -> None:
    for name, document in documents.items():
        for schema in document["components"]["schemas"]:
            assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", schema), f"{name}: schema {schema!r}"
    assert "ContentItemPage" in documents["content"]["components"]["schemas"]
    assert {"TeamPage", "MemberPage"} <= set(documents["policy"]["components"]["schemas"])
    assert "SharePage" in documents["sharing"]["components"]["schemas"]


def test_info_version_is_the_package_version(documents: dict[str, dict[str, Any]]) -> None:
    with (ROOT / "pyproject.toml").open("rb") as file:
        declared = tomllib.load(file)["project"]["version"]
    assert package_version() == declared
    for name, document in documents.items():
        assert document["info"]["version"] == declared, name


def test_the_bearer_scheme_is_declared_once_for_all(documents: dict[str, dict[str, Any]]) -> None:
    for name, document in documents.items():
        assert document["components"]["securitySchemes"] == {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "An OIDC access token (RS256) from the organisation's identity provider.",
            }
        }, name


def test_every_service_operation_requires_the_token(documents: dict[str, dict[str, Any]]) -> None:
    for name, path, method, operation in service_operations(documents):
        assert path.startswith("/api/v1/"), f"{name} {path}"
        assert operation.get("security") == [{"bearerAuth": []}], f"{name} {method.upper()} {path}"


def test_public_endpoints_ask_for_no_token(documents: dict[str, dict[str, Any]]) -> None:
    public = ("/healthz", "/readyz", "/metrics", "/r/", "/dev-issuer/")
    for name, document in documents.items():
        for path, method, operation in operations(document):
            if path.startswith(public):
                assert "security" not in operation, f"{name} {method.upper()} {path}"
    # GraphQL accepts a token and answers some queries without one (each field decides).
    for _, operation in documents["gateway"]["paths"]["/graphql"].items():
        assert operation["security"] == [{"bearerAuth": []}, {}]


def test_error_responses_are_the_ones_each_operation_can_answer(documents: dict[str, dict[str, Any]]) -> None:
    for name, path, method, operation in service_operations(documents):
        where = f"{name} {method.upper()} {path} ({operation['operationId']})"
        responses = operation["responses"]
        errors = {int(status) for status in responses if int(status) >= 400}
        takes_input = bool(operation.get("parameters") or operation.get("requestBody"))

        assert {401, 503} <= errors, f"{where}: a token (and its issuer's keys) is needed"
        assert (422 in errors) == takes_input, f"{where}: 422 iff the operation takes input"
        if "{" in path:
            assert 404 in errors, f"{where}: an id in the path can be unknown"
        assert (403 in errors) == (operation["operationId"] in NEEDS_A_ROLE), where
        if 403 in errors:
            assert "this needs one of the roles: " in responses["403"]["description"], where
        assert (409 in errors) == (operation["operationId"] in CAN_CONFLICT), where
        # 400: a cursor this API did not hand out, or a JSON body that is not JSON at all (a text body,
        # such as the roster's CSV, has no such failure: its bad lines are reported as such).
        takes_a_cursor = any(p["name"] == "cursor" for p in operation.get("parameters", []))
        takes_json = "application/json" in operation.get("requestBody", {}).get("content", {})
        assert (400 in errors) == (takes_a_cursor or takes_json), f"{where}: 400 is for cursors and bodies"
        assert errors <= {400, 401, 403, 404, 409, 422, 503}, where
        for status in errors:
            content = responses[str(status)]["content"]["application/json"]["schema"]
            assert content == {"$ref": ERROR_REF}, f"{where}: {status} is not in the one error shape"
            assert responses[str(status)]["description"], where
        assert "WWW-Authenticate" in responses["401"]["headers"], where


def test_validation_errors_are_documented_in_the_one_shape_everywhere(documents: dict[str, dict[str, Any]]) -> None:
    # FastAPI's own 422 shape must not appear next to ours.
    for name, document in documents.items():
        assert "HTTPValidationError" not in document["components"]["schemas"], name
        for path, method, operation in operations(document):
            if "422" in operation["responses"]:
                schema = operation["responses"]["422"]["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_REF}, f"{name} {method.upper()} {path}"


async def test_a_method_a_path_does_not_have_answers_405_with_allow() -> None:
    """Routing alone answers (no database is reached). ``Allow`` lists every method of the path, not
    just the first route's, and a literal path (``/content-stats/batch``) is not taken for an id."""
    apps = {name: build() for name, build in SERVICES.items()}
    apps["gateway"] = build_gateway(GatewaySettings())
    for name, app in apps.items():
        document = app.openapi()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for path, item in document["paths"].items():
                declared = {m.upper() for m in item if m in METHODS}
                concrete = re.sub(r"\{[^}]+\}", "6f1d7a52-3c0e-4a4e-9a53-1d2f0e9b7c11", path)
                for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - declared:
                    response = await client.request(method, concrete)
                    where = f"{name} {method} {path}"
                    assert response.status_code == 405, where
                    assert response.json()["error"]["code"] == "method_not_allowed", where
                    allowed = {m.strip() for m in response.headers["allow"].split(",")}
                    assert allowed - {"HEAD"} == declared, where
