"""SCIM discovery documents (RFC 7643 §5-§7): what this service provider supports, for IdPs and
conformance checkers that read them before they provision."""

from __future__ import annotations

from typing import Any

from services.policy.scim.resources import ENTERPRISE, GROUP_SCHEMA, USER_SCHEMA

MAX_RESULTS = 200


def _attr(name: str, kind: str = "string", **options: Any) -> dict[str, Any]:
    sub = options.pop("sub", None)
    attribute = {
        "name": name,
        "type": kind,
        "multiValued": options.pop("multi", False),
        "description": options.pop("description", name),
        "required": options.pop("required", False),
        "caseExact": options.pop("caseExact", False),
        "mutability": options.pop("mutability", "readWrite"),
        "returned": options.pop("returned", "default"),
        "uniqueness": options.pop("uniqueness", "none"),
    }
    if sub:
        attribute["subAttributes"] = sub
    if kind == "reference":
        attribute["referenceTypes"] = options.pop("referenceTypes", ["User"])
    return attribute


def _schema(schema_id: str, name: str, attributes: list[dict[str, Any]], base: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": schema_id,
        "name": name,
        "description": name,
        "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{schema_id}"},
    }


def schemas(base: str) -> list[dict[str, Any]]:
    user = [
        _attr("userName", required=True, uniqueness="server", description="The person's OIDC subject."),
        _attr("externalId", caseExact=True),
        _attr(
            "name",
            "complex",
            sub=[_attr("formatted"), _attr("givenName"), _attr("familyName")],
        ),
        _attr("displayName"),
        _attr("title"),
        _attr("preferredLanguage"),
        _attr("timezone"),
        _attr("active", "boolean"),
        _attr(
            "emails",
            "complex",
            multi=True,
            sub=[_attr("value"), _attr("type"), _attr("primary", "boolean")],
        ),
        _attr(
            "addresses",
            "complex",
            multi=True,
            sub=[_attr("locality"), _attr("type"), _attr("primary", "boolean")],
        ),
        _attr(
            "groups",
            "complex",
            multi=True,
            mutability="readOnly",
            sub=[
                _attr("value", mutability="readOnly"),
                _attr("$ref", "reference", mutability="readOnly", referenceTypes=["Group"]),
                _attr("display", mutability="readOnly"),
            ],
        ),
    ]
    enterprise = [
        _attr("employeeNumber"),
        _attr("department"),
        _attr(
            "manager",
            "complex",
            sub=[_attr("value"), _attr("$ref", "reference"), _attr("displayName", mutability="readOnly")],
        ),
    ]
    group = [
        _attr("displayName", required=True, uniqueness="server"),
        _attr("externalId", caseExact=True),
        _attr(
            "members",
            "complex",
            multi=True,
            sub=[
                _attr("value", mutability="immutable"),
                _attr("$ref", "reference", mutability="immutable", referenceTypes=["User"]),
                _attr("display", mutability="readOnly"),
                _attr("type", mutability="immutable"),
            ],
        ),
    ]
    return [
        _schema(USER_SCHEMA, "User", user, base),
        _schema(ENTERPRISE, "EnterpriseUser", enterprise, base),
        _schema(GROUP_SCHEMA, "Group", group, base),
    ]


def resource_types(base: str) -> list[dict[str, Any]]:
    return [
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "A member of the org's roster",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE, "required": False}],
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"},
        },
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "A team, or a role when named <prefix><role>",
            "schema": GROUP_SCHEMA,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/Group"},
        },
    ]


def service_provider_config(base: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/condividi/condividi/blob/main/docs/scim.md",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Provisioning token",
                "description": "An org's provisioning token (POST /api/v1/provisioning-tokens), as a Bearer token.",
                "primary": True,
            }
        ],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base}/ServiceProviderConfig"},
    }
