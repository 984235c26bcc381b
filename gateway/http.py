"""The ``/graphql`` endpoint for GET and POST (the websocket stays with strawberry's router).

Written here rather than left to strawberry's view because the protocol's answers are the point:
status codes by media type, persisted queries, GET for queries only, and the request checks before
the caller's token is even verified (a malformed request costs no JWKS lookup). See ``protocol.py``
for the rules and docs/graphql.md for the table.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response

from gateway.context import get_context
from gateway.persisted import PersistedDocuments
from gateway.protocol import (
    REQUEST_ERROR_CODES,
    ProtocolError,
    allowed_operations,
    check_operation,
    error_response,
    graphql_response,
    ide_response,
    negotiate,
    parse_document,
    process_result,
    read_request,
    resolve_document,
    result_status,
    select_operation,
    wants_ide,
)
from gateway.schema import GatewaySchema, shape_error

log = logging.getLogger(__name__)


def graphql_http_endpoint(
    schema: GatewaySchema, documents: PersistedDocuments, *, max_body_bytes: int, ide: bool = True
) -> Callable[[Request], Awaitable[Response]]:
    """``max_body_bytes``: the largest body read (413 above it, before it is parsed). ``ide``: whether a
    browser's GET gets GraphiQL (off in production: it is a map of the API for anyone)."""

    async def graphql_http(request: Request) -> Response:
        """GraphQL queries (GET or POST) and mutations (POST); GraphiQL for a browser's GET."""
        if ide and wants_ide(request):
            return ide_response()
        media = negotiate(request.headers.get("accept"))
        try:
            operation_request = await read_request(request, max_body_bytes)
            query = resolve_document(operation_request, documents)
            try:
                document = parse_document(query, schema.limits)
                operation = select_operation(document, operation_request.operation_name)
            except GraphQLError as error:
                raise ProtocolError.from_graphql(error) from None
            check_operation(request.method, operation)
        except ProtocolError as refused:
            log.info("graphql request refused", extra={"code": refused.code, "error": refused.message})
            return error_response(refused, media)

        context = await get_context(request)
        result = await schema.execute(
            query,
            variable_values=operation_request.variables,
            context_value=context,
            operation_name=operation_request.operation_name,
            allowed_operation_types=allowed_operations(request.method),
            operation_extensions=operation_request.extensions,
        )
        if result.errors:
            result.errors = [shape_error(e) for e in result.errors]
        refused_request = result.data is None and any(
            (e.extensions or {}).get("code") in REQUEST_ERROR_CODES for e in result.errors or ()
        )
        body = dict(process_result(result))
        if refused_request:
            body.pop("data", None)  # the spec: a request error has no `data` entry at all
        else:
            documents.remember(operation_request.query, operation_request.extensions)
        # Every answer depends on the caller's token and the negotiated type; a shared cache keeps
        # nothing for a request with Authorization unless told to (RFC 9111 §3.5), and is not told.
        headers = {"Vary": "Accept, Authorization"} if request.method == "GET" else {}
        return graphql_response(body, status=result_status(result, media), media=media, headers=headers)

    return graphql_http
