"""SCIM 2.0 through HTTP as Okta and Entra ID call it (docs/scim.md lists each quirk with its test)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from condividi.identity import Role
from condividi.testing import Issuer
from services.policy.tests.conftest import headers, new_org

pytestmark = pytest.mark.asyncio(loop_scope="package")

SCIM = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


async def provisioning_token(client: httpx.AsyncClient, issuer: Issuer, org: uuid.UUID) -> dict[str, str]:
    issued = await client.post("/api/v1/provisioning-tokens", headers=headers(issuer, org, Role.ADMIN, subject="it"))
    assert issued.status_code == 201, issued.text
    return {"Authorization": f"Bearer {issued.json()['token']}", "Accept": SCIM, "Content-Type": SCIM}


def user_body(user_name: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [USER, ENTERPRISE],
        "userName": user_name,
        "externalId": f"ext-{user_name}",
        "name": {"givenName": "Bianca", "familyName": "Jensen"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "active": True,
        "password": "placeholder-okta-always-sends",
        ENTERPRISE: {"department": "Sales", "employeeNumber": "701984"},
    }
    return body | changes


def assert_scim_error(response: httpx.Response, status: int, scim_type: str | None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(SCIM)
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body["detail"]
    assert body.get("scimType") == scim_type


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}


async def create_user(
    client: httpx.AsyncClient, scim: dict[str, str], user_name: str, **changes: Any
) -> dict[str, Any]:
    created = await client.post("/scim/v2/Users", json=user_body(user_name, **changes), headers=scim)
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def test_discovery_answers_scim_json_and_needs_a_provisioning_token(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    scim = await provisioning_token(client, issuer, new_org())
    config = await client.get("/scim/v2/ServiceProviderConfig", headers=scim)
    assert config.status_code == 200 and config.headers["content-type"].startswith(SCIM)
    assert config.json()["patch"] == {"supported": True}
    assert config.json()["filter"]["supported"] is True
    types = (await client.get("/scim/v2/ResourceTypes", headers=scim)).json()
    assert {t["id"] for t in types["Resources"]} == {"User", "Group"}
    schemas = (await client.get("/scim/v2/Schemas", headers=scim)).json()
    assert {s["id"] for s in schemas["Resources"]} == {USER, ENTERPRISE, "urn:ietf:params:scim:schemas:core:2.0:Group"}

    assert_scim_error(await client.get("/scim/v2/Users"), 401, None)
    assert_scim_error(await client.get("/scim/v2/Users", headers={"Authorization": "Bearer cdv_scim_nope"}), 401, None)
    # A user's OIDC token is not a provisioning token.
    oidc = headers(issuer, new_org(), Role.ADMIN)
    assert_scim_error(await client.get("/scim/v2/Users", headers=oidc), 401, None)
    assert_scim_error(await client.get("/scim/v2/Bulk", headers=scim), 404, None)


async def test_okta_lookup_create_conflict_and_case_insensitive_user_name(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    scim = await provisioning_token(client, issuer, new_org())
    # Okta (and Entra's Test Connection) look a user up first: no match is 200 with totalResults 0.
    missing = await client.get(
        "/scim/v2/Users",
        params={"filter": 'userName eq "nobody@acme.example"', "startIndex": 1, "count": 100},
        headers=scim,
    )
    assert missing.status_code == 200
    assert missing.json()["totalResults"] == 0 and missing.json()["Resources"] == []

    user = await create_user(client, scim, "bjensen@acme.example")
    assert user["userName"] == "bjensen@acme.example" and user["active"] is True
    assert user[ENTERPRISE] == {"department": "Sales", "employeeNumber": "701984"}
    assert user["meta"]["resourceType"] == "User" and "password" not in user

    again = await client.post("/scim/v2/Users", json=user_body("BJensen@acme.example"), headers=scim)
    assert_scim_error(again, 409, "uniqueness")
    # Okta's own tests send plain JSON; the answer is SCIM's media type all the same.
    plain = await client.post(
        "/scim/v2/Users", json=user_body("plain@acme.example"), headers={**scim, "Content-Type": "application/json"}
    )
    assert plain.status_code == 201 and plain.headers["content-type"].startswith(SCIM)

    found = await client.get("/scim/v2/Users", params={"filter": 'userName eq "BJENSEN@ACME.EXAMPLE"'}, headers=scim)
    assert found.json()["totalResults"] == 1
    assert found.json()["Resources"][0]["id"] == user["id"]
    assert isinstance(found.json()["startIndex"], int) and isinstance(found.json()["itemsPerPage"], int)

    fetched = await client.get(f"/scim/v2/Users/{user['id']}", headers=scim)
    assert fetched.status_code == 200 and fetched.headers["etag"] == fetched.json()["meta"]["version"]
    assert_scim_error(await client.get(f"/scim/v2/Users/{uuid.uuid4()}", headers=scim), 404, None)
    assert_scim_error(await client.get("/scim/v2/Users/not-an-id", headers=scim), 404, None)


async def test_okta_deactivates_with_put_and_with_a_pathless_patch(client: httpx.AsyncClient, issuer: Issuer) -> None:
    org = new_org()
    scim = await provisioning_token(client, issuer, org)
    put_user = await create_user(client, scim, "put@acme.example")
    replaced = await client.put(
        f"/scim/v2/Users/{put_user['id']}", json=user_body("put@acme.example", active=False), headers=scim
    )
    assert replaced.status_code == 200 and replaced.json()["active"] is False

    patch_user = await create_user(client, scim, "patch@acme.example")
    patched = await client.patch(
        f"/scim/v2/Users/{patch_user['id']}", json=patch({"op": "replace", "value": {"active": False}}), headers=scim
    )
    assert patched.status_code == 200 and patched.json()["active"] is False
    # A deactivated user is still returned by GET (Entra and Okta read it back).
    assert (await client.get(f"/scim/v2/Users/{patch_user['id']}", headers=scim)).json()["active"] is False
    # Leaving `active` out of a PUT, or removing it, keeps the member offboarded.
    body = user_body("put@acme.example")
    del body["active"]
    kept = await client.put(f"/scim/v2/Users/{put_user['id']}", json=body, headers=scim)
    assert kept.status_code == 200 and kept.json()["active"] is False
    removed = await client.patch(
        f"/scim/v2/Users/{patch_user['id']}", json=patch({"op": "remove", "path": "active"}), headers=scim
    )
    assert removed.status_code == 200 and removed.json()["active"] is False

    roster = await client.get(
        "/api/v1/roster/members", params={"active": "false"}, headers=headers(issuer, org, Role.ADMIN, subject="it")
    )
    assert {m["subject"] for m in roster.json()["items"]} == {"put@acme.example", "patch@acme.example"}


async def test_entra_patches_with_capitalised_ops_string_booleans_and_path_keyed_values(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    scim = await provisioning_token(client, issuer, new_org())
    manager = await create_user(client, scim, "boss@acme.example")
    user = await create_user(client, scim, "entra@acme.example", emails=None)
    url = f"/scim/v2/Users/{user['id']}"

    # Without aadOptscim062020: "Replace" and the string "False".
    disabled = await client.patch(url, json=patch({"op": "Replace", "path": "active", "value": "False"}), headers=scim)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["active"] is False
    enabled = await client.patch(url, json=patch({"op": "Replace", "path": "active", "value": "True"}), headers=scim)
    assert enabled.json()["active"] is True

    # With the flag: one replace without a path, its value keyed by paths (core and extension).
    keyed = await client.patch(
        url,
        json=patch(
            {
                "op": "replace",
                "value": {
                    "displayName": "Entra Person",
                    "name.givenName": "Entra",
                    f"{ENTERPRISE}:employeeNumber": "42",
                },
            }
        ),
        headers=scim,
    )
    assert keyed.status_code == 200, keyed.text
    assert keyed.json()["displayName"] == "Entra Person"
    assert keyed.json()["name"]["givenName"] == "Entra"
    assert keyed.json()[ENTERPRISE]["employeeNumber"] == "42"

    # A typed value set through a filtered path is replaced (and would be created if missing).
    email = await client.patch(
        url,
        json=patch({"op": "Replace", "path": 'emails[type eq "work"].value', "value": "new@acme.example"}),
        headers=scim,
    )
    assert email.json()["emails"][0]["value"] == "new@acme.example"
    # The manager as Entra sends it: un-prefixed path, a one-element list.
    managed = await client.patch(
        url,
        json=patch({"op": "Add", "path": "manager", "value": [{"$ref": None, "value": manager["id"]}]}),
        headers=scim,
    )
    assert managed.json()[ENTERPRISE]["manager"]["value"] == manager["id"]


async def test_entra_creates_a_typed_value_that_is_not_there_yet(client: httpx.AsyncClient, issuer: Issuer) -> None:
    scim = await provisioning_token(client, issuer, new_org())
    user = await create_user(client, scim, "typed@acme.example", addresses=None)
    added = await client.patch(
        f"/scim/v2/Users/{user['id']}",
        json=patch({"op": "Add", "path": 'addresses[type eq "work"].locality', "value": "Milano"}),
        headers=scim,
    )
    assert added.status_code == 200, added.text
    assert added.json()["addresses"] == [{"type": "work", "locality": "Milano", "primary": True}]


async def test_groups_become_teams_and_roles_and_follow_okta_and_entra_membership_changes(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    org = new_org()
    scim = await provisioning_token(client, issuer, org)
    admin = headers(issuer, org, Role.ADMIN, subject="it")
    alice = await create_user(client, scim, "alice@acme.example")
    bob = await create_user(client, scim, "bob@acme.example")

    # Entra creates groups empty, with Microsoft's own schema URN beside the core one.
    entra_schemas = [
        "urn:ietf:params:scim:schemas:core:2.0:Group",
        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group",
    ]
    sales = await client.post(
        "/scim/v2/Groups", json={"schemas": entra_schemas, "displayName": "Sales Italia", "members": []}, headers=scim
    )
    assert sales.status_code == 201, sales.text
    admins = await client.post(
        "/scim/v2/Groups", json={"displayName": "condividi-admin", "members": [{"value": alice["id"]}]}, headers=scim
    )
    assert admins.status_code == 201, admins.text
    sales_url = f"/scim/v2/Groups/{sales.json()['id']}"

    # Entra: "Add" members with a value list.
    added = await client.patch(
        sales_url,
        json=patch(
            {"op": "Add", "path": "members", "value": [{"$ref": None, "value": alice["id"]}, {"value": bob["id"]}]}
        ),
        headers=scim,
    )
    assert added.status_code == 200, added.text
    assert {m["value"] for m in added.json()["members"]} == {alice["id"], bob["id"]}

    members = {m["subject"]: m for m in (await client.get("/api/v1/roster/members", headers=admin)).json()["items"]}
    assert members["alice@acme.example"]["roles"] == ["admin", "employee"]
    assert members["bob@acme.example"]["roles"] == ["employee"]
    teams = {t["name"]: t["id"] for t in (await client.get("/api/v1/teams", headers=admin)).json()["items"]}
    assert set(teams) == {"Sales Italia"}  # the role group is not a team
    assert members["bob@acme.example"]["team_ids"] == [teams["Sales Italia"]]

    # Entra without the flag: "Remove" with a value list removes those members only.
    removed = await client.patch(
        sales_url, json=patch({"op": "Remove", "path": "members", "value": [{"value": bob["id"]}]}), headers=scim
    )
    assert [m["value"] for m in removed.json()["members"]] == [alice["id"]]
    # Okta and Entra with the flag: a value filter in the path.
    filtered = await client.patch(
        sales_url, json=patch({"op": "remove", "path": f'members[value eq "{alice["id"]}"]'}), headers=scim
    )
    assert filtered.json()["members"] == []
    # Okta's rename repeats the read-only id in the value.
    renamed = await client.patch(
        sales_url,
        json=patch({"op": "replace", "value": {"id": sales.json()["id"], "displayName": "Sales EMEA"}}),
        headers=scim,
    )
    assert renamed.json()["displayName"] == "Sales EMEA"

    # Entra reads groups by displayName without their members; members[value eq] finds a user's groups.
    by_name = await client.get(
        "/scim/v2/Groups",
        params={"filter": 'displayName eq "condividi-admin"', "excludedAttributes": "members"},
        headers=scim,
    )
    assert by_name.json()["totalResults"] == 1 and "members" not in by_name.json()["Resources"][0]
    by_member = await client.get(
        "/scim/v2/Groups", params={"filter": f'members[value eq "{alice["id"]}"]'}, headers=scim
    )
    assert [g["displayName"] for g in by_member.json()["Resources"]] == ["condividi-admin"]

    # Leaving the role group takes the role away; the roster is what the Caller dependency trusts.
    await client.delete(f"/scim/v2/Groups/{admins.json()['id']}", headers=scim)
    members = {m["subject"]: m for m in (await client.get("/api/v1/roster/members", headers=admin)).json()["items"]}
    assert members["alice@acme.example"]["roles"] == ["employee"]
    as_alice = headers(issuer, org, Role.ADMIN, subject="alice@acme.example")
    assert (await client.get("/api/v1/roster/members", headers=as_alice)).status_code == 403


async def test_filters_and_pages(client: httpx.AsyncClient, issuer: Issuer) -> None:
    scim = await provisioning_token(client, issuer, new_org())
    for name in ("ann", "anna", "bea", "carl"):
        await create_user(client, scim, f"{name}@acme.example", displayName=name.title())
    await client.patch(
        f"/scim/v2/Users/{(await create_user(client, scim, 'gone@acme.example'))['id']}",
        json=patch({"op": "replace", "path": "active", "value": False}),
        headers=scim,
    )

    async def names(filter_: str, **params: Any) -> list[str]:
        answer = await client.get("/scim/v2/Users", params={"filter": filter_, **params}, headers=scim)
        assert answer.status_code == 200, answer.text
        return [u["userName"].split("@")[0] for u in answer.json()["Resources"]]

    assert await names('userName sw "ann"') == ["ann", "anna"]
    assert await names('userName co "NN"') == ["ann", "anna"]
    assert await names('displayName eq "Bea" or displayName eq "Carl"') == ["bea", "carl"]
    assert await names('userName sw "a" and not (userName eq "ann@acme.example")') == ["anna"]
    assert await names("active eq false") == ["gone"]
    assert await names('emails.value eq "CARL@acme.example"') == ["carl"]
    assert await names('emails[type eq "work" and value co "bea"]') == ["bea"]
    assert await names('emails[type eq "work"].value eq "bea@acme.example"') == ["bea"]
    assert await names('externalId eq "ext-ann@acme.example"') == ["ann"]
    assert len(await names("title pr or userName pr")) == 5
    assert await names('userName ew "example"', startIndex=2, count=2) == ["anna", "bea"]
    counted = await client.get("/scim/v2/Users", params={"count": 0}, headers=scim)
    assert counted.json()["totalResults"] == 5 and counted.json()["Resources"] == []
    searched = await client.post(
        "/scim/v2/Users/.search",
        json={"filter": 'userName eq "carl@acme.example"', "attributes": ["userName"]},
        headers=scim,
    )
    assert set(searched.json()["Resources"][0]) == {"id", "schemas", "meta", "userName"}

    for bad in (
        "userName eq",
        'userName zz "x"',
        "(userName pr",
        'nickName eq "x"',
        "active gt true",
        'userName eq "x" )',
    ):
        answer = await client.get("/scim/v2/Users", params={"filter": bad}, headers=scim)
        assert_scim_error(answer, 400, "invalidFilter")


async def test_bad_input_answers_scim_errors_and_changes_nothing(client: httpx.AsyncClient, issuer: Issuer) -> None:
    scim = await provisioning_token(client, issuer, new_org())
    user = await create_user(client, scim, "keep@acme.example")
    url = f"/scim/v2/Users/{user['id']}"
    assert_scim_error(await client.post("/scim/v2/Users", content=b"{nope", headers=scim), 400, "invalidSyntax")
    assert_scim_error(await client.post("/scim/v2/Users", json={"schemas": [USER]}, headers=scim), 400, "invalidValue")
    assert_scim_error(
        await client.post("/scim/v2/Users", json=user_body("x@acme.example", active="maybe"), headers=scim),
        400,
        "invalidValue",
    )
    assert_scim_error(await client.patch(url, json=patch({"op": "remove"}), headers=scim), 400, "noTarget")
    assert_scim_error(
        await client.patch(url, json=patch({"op": "move", "path": "x"}), headers=scim), 400, "invalidSyntax"
    )
    assert_scim_error(await client.patch(url, json={"Operations": []}, headers=scim), 400, "invalidSyntax")
    assert_scim_error(
        await client.patch(url, json=patch({"op": "add", "path": "emails[type eq"}), headers=scim), 400, "invalidPath"
    )
    assert_scim_error(
        await client.patch(url, json=patch({"op": "replace", "path": "name..x", "value": 1}), headers=scim),
        400,
        "invalidPath",
    )
    assert_scim_error(
        await client.patch(
            url, json=patch({"op": "replace", "path": 'emails[value eq "z"].value', "value": "a@b.cd"}), headers=scim
        ),
        400,
        "noTarget",
    )
    # Atomic: a good operation before a failing one is not kept.
    atomic = await client.patch(
        url,
        json=patch({"op": "replace", "path": "displayName", "value": "Changed"}, {"op": "remove"}),
        headers=scim,
    )
    assert_scim_error(atomic, 400, "noTarget")
    assert (await client.get(url, headers=scim)).json()["displayName"] == user["displayName"]
    stale = await client.put(url, json=user_body("keep@acme.example"), headers={**scim, "If-Match": 'W/"999"'})
    assert_scim_error(stale, 412, None)


async def test_delete_removes_the_user_for_scim_and_deactivates_the_member(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    org = new_org()
    scim = await provisioning_token(client, issuer, org)
    user = await create_user(client, scim, "leaver@acme.example")
    deleted = await client.delete(f"/scim/v2/Users/{user['id']}", headers=scim)
    assert deleted.status_code == 204
    assert_scim_error(await client.get(f"/scim/v2/Users/{user['id']}", headers=scim), 404, None)
    member = await client.get(
        f"/api/v1/roster/members/{user['id']}", headers=headers(issuer, org, Role.ADMIN, subject="it")
    )
    assert member.json()["active"] is False
    # The leaver's own token is refused from now on.
    own = headers(issuer, org, Role.EMPLOYEE, subject="leaver@acme.example")
    refused = await client.get("/api/v1/members/me", headers=own)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "member_deactivated"


async def test_a_provisioning_token_sees_and_changes_only_its_own_org(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    ours, theirs = (
        await provisioning_token(client, issuer, new_org()),
        await provisioning_token(client, issuer, new_org()),
    )
    stranger = await create_user(client, theirs, "stranger@other.example")
    url = f"/scim/v2/Users/{stranger['id']}"
    assert_scim_error(await client.get(url, headers=ours), 404, None)
    assert_scim_error(await client.put(url, json=user_body("stranger@other.example"), headers=ours), 404, None)
    assert_scim_error(
        await client.patch(url, json=patch({"op": "replace", "value": {"active": False}}), headers=ours), 404, None
    )
    assert_scim_error(await client.delete(url, headers=ours), 404, None)
    listed = await client.get("/scim/v2/Users", params={"filter": 'userName eq "stranger@other.example"'}, headers=ours)
    assert listed.json()["totalResults"] == 0
    borrowed = await client.post(
        "/scim/v2/Groups", json={"displayName": "Borrowers", "members": [{"value": stranger["id"]}]}, headers=ours
    )
    assert_scim_error(borrowed, 400, "invalidValue")
    assert (await client.get(url, headers=theirs)).json()["active"] is True


async def test_rotating_a_token_shows_the_new_secret_once_and_retires_the_old(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    org = new_org()
    admin = headers(issuer, org, Role.ADMIN, subject="it")
    first = (await client.post("/api/v1/provisioning-tokens", headers=admin)).json()
    old = {"Authorization": f"Bearer {first['token']}"}
    assert (await client.get("/scim/v2/Users", headers=old)).status_code == 200
    rotated = await client.post(f"/api/v1/provisioning-tokens/{first['id']}/rotate", headers=admin)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["token"] != first["token"]
    assert_scim_error(await client.get("/scim/v2/Users", headers=old), 401, None)
    new = {"Authorization": f"Bearer {rotated.json()['token']}"}
    assert (await client.get("/scim/v2/Users", headers=new)).status_code == 200
    listed = (await client.get("/api/v1/provisioning-tokens", headers=admin)).json()
    assert all("token" not in t for t in listed) and len(listed) == 2
    assert (await client.post(f"/api/v1/provisioning-tokens/{first['id']}/rotate", headers=admin)).status_code == 409
    other = headers(issuer, new_org(), Role.ADMIN)
    assert (
        await client.post(f"/api/v1/provisioning-tokens/{rotated.json()['id']}/rotate", headers=other)
    ).status_code == 404
    assert (
        await client.post("/api/v1/provisioning-tokens", headers=headers(issuer, org, Role.EMPLOYEE))
    ).status_code == 403
