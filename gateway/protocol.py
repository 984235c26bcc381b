"""GraphQL over HTTP: how a request reaches the schema and how its failures are answered.

Error codes come in two families, told apart by case:

- UPPER_CASE codes (Apollo's vocabulary, which GraphQL clients and tools recognise) mean the request
  itself was wrong and nothing ran: ``GRAPHQL_PARSE_FAILED``, ``GRAPHQL_VALIDATION_FAILED``,
  ``BAD_USER_INPUT`` (variables that do not fit their declared types), ``OPERATION_RESOLUTION_FAILURE``
  (no operation of that name), ``COST_LIMIT_EXCEEDED``, the document limits (``DOCUMENT_TOO_LARGE``,
  ``TOO_MANY_TOKENS``, ``TOO_MANY_FRAGMENT_SPREADS``: gateway/limits.py), ``INTROSPECTION_DISABLED``,
  ``PERSISTED_QUERY_*``, ``BAD_REQUEST`` (not a GraphQL request at all, or not JSON, UTF-8 and Unicode
  text), ``PAYLOAD_TOO_LARGE``. They never reach a service and are never logged as failures.
- lower_case codes are the same codes the services' REST errors carry (``not_found``,
  ``validation_failed``, ``unauthenticated``, ``service_unavailable``, ``internal``...): the operation
  ran and a field failed.

HTTP status follows the GraphQL-over-HTTP spec for the media type the client accepts (docs/graphql.md):
with ``application/graphql-response+json`` a request error is a 4xx (400 unparsable, 422 invalid);
with ``application/json`` (the default, as in the 2025 text) it is 200 with ``errors`` and no ``data``,
so that a client may trust the body only on a 200. Transport errors are 4xx in both: a body that is not
JSON 400, one too large 413, an unsupported ``Content-Type`` 415, a mutation over GET 405 with
``Allow: POST``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    VariableDefinitionNode,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.extensions import SchemaExtension
from strawberry.http import process_result
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperationType

from gateway.cost import COST_LIMIT_EXCEEDED, operation_cost
from gateway.limits import LIMIT_CODES, DocumentLimits, parse_limited
from gateway.persisted import PersistedDocuments, PersistedQueryError, sha256_hex

log = logging.getLogger(__name__)

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"
BAD_REQUEST = "BAD_REQUEST"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"

# Request errors by code: (status with graphql-response+json, status with application/json).
_RESULT_STATUS: dict[str, tuple[int, int]] = {
    PARSE_FAILED: (400, 200),
    VALIDATION_FAILED: (422, 200),
    BAD_USER_INPUT: (422, 200),
    OPERATION_RESOLUTION_FAILURE: (422, 200),
    COST_LIMIT_EXCEEDED: (422, 200),
    INTROSPECTION_DISABLED: (422, 200),
    **{code: (400, 200) for code in LIMIT_CODES},
}
REQUEST_ERROR_CODES = frozenset(_RESULT_STATUS)

# What the APQ protocol asks for on a miss: the client's retry with the text must not be answered
# from an HTTP cache.
NO_CACHE = "private, no-cache, must-revalidate"

VALIDATION_CACHE_SIZE = 128
# What a refused document is replaced by until its refusal is reported; it never runs.
_STAND_IN = parse("{ __typename }")
# strawberry's own rules, which its validation step would have added.
_STRAWBERRY_RULES = (MaybeNullValidationRule, OneOfInputValidationRule)


@lru_cache(maxsize=VALIDATION_CACHE_SIZE)
def validate_cached(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    hide_suggestions: bool,
) -> list[GraphQLError]:
    """One validation per parsed document (the parse cache hands out the same node for the same text)."""
    return validate(schema, document, (*rules, *_STRAWBERRY_RULES), hide_suggestions=hide_suggestions)


def request_error(
    code: str,
    message: str,
    *,
    nodes: Any = None,
    details: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> GraphQLError:
    """A GraphQL error for a request that never ran. ``status`` is 400 as for REST's bad requests;
    no ``original_error``, so the schema logs it briefly, without a traceback."""
    extensions = {"code": code, "status": 400, "details": details or [], **extra}
    return GraphQLError(message, nodes=nodes, extensions=extensions)


def parse_document(query: str, limits: DocumentLimits) -> DocumentNode:
    """Parses through the shared cache within the document limits (their own codes, gateway/limits.py);
    a syntax error becomes ``GRAPHQL_PARSE_FAILED``."""
    try:
        return parse_limited(query, limits)
    except GraphQLError as error:
        if (error.extensions or {}).get("code") in LIMIT_CODES:
            raise
        raise request_error(PARSE_FAILED, error.message) from None


def select_operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode:
    operation = get_operation_ast(document, operation_name)
    if operation is not None:
        return operation
    if operation_name is not None:
        message = f"Unknown operation named '{operation_name}'."
    else:
        message = "Must provide operation name if query contains multiple operations."
    raise request_error(OPERATION_RESOLUTION_FAILURE, message)


class RequestChecks(SchemaExtension):
    """The request-level rules, for every transport (HTTP and websocket): the document parses (through
    the shared cache) within the document limits, only trusted documents run when a list is configured,
    validation failures and variables that do not fit carry their UPPER_CASE codes, introspection needs
    a token where it is off for strangers, and the cost stays within the budget.

    Variables are coerced here before execution because graphql-core reports a wrong variable as an
    error with an ``original_error``, which is indistinguishable from a resolver's bug once it is out."""

    def __init__(
        self,
        *,
        max_cost: int,
        max_list_size: int,
        default_list_size: int,
        limits: DocumentLimits | None = None,
        trusted: frozenset[str] | None = None,
        unauthenticated_introspection: bool = True,
        field_suggestions: bool = True,
    ) -> None:
        super().__init__()
        self.max_cost = max_cost
        self.max_list_size = max_list_size
        self.default_list_size = default_list_size
        self.limits = limits or DocumentLimits()
        self.trusted = trusted
        self.unauthenticated_introspection = unauthenticated_introspection
        self.field_suggestions = field_suggestions
        self._refused: GraphQLError | None = None

    def on_parse(self) -> Iterator[None]:
        # Nothing may be raised here: over a websocket strawberry does not catch an error raised by a
        # hook of this step. A document beyond a limit is remembered, replaced by a stand-in so that
        # strawberry does not parse the text itself, and refused at validation. A text that does not
        # parse is left to strawberry (within the same token limit), which reports it; its error gets
        # its code on the way out.
        context = self.execution_context
        context.parse_options["max_tokens"] = self.limits.max_tokens
        if context.graphql_document is None and context.query:
            try:
                context.graphql_document = parse_limited(context.query, self.limits)
            except GraphQLError as refusal:
                if (refusal.extensions or {}).get("code") in LIMIT_CODES:
                    self._refused = refusal
                    context.graphql_document = _STAND_IN
        yield
        for error in context.pre_execution_errors or ():
            if not (error.extensions or {}).get("code"):
                error.extensions = {"code": PARSE_FAILED, "status": 400, "details": []}

    def on_validate(self) -> Iterator[None]:
        # Validates here (in place of ValidationCache, through a shared cache) so that the errors get
        # their code before strawberry reads them: it builds its result inside the validation step.
        context = self.execution_context
        if self._refused is not None:
            context.pre_execution_errors = [self._refused]
        elif self.trusted is not None and sha256_hex(context.query or "") not in self.trusted:
            # Over HTTP the document came from the list already; a websocket sends text.
            context.pre_execution_errors = [
                request_error("PERSISTED_QUERY_NOT_IN_LIST", "this document is not in the list of trusted documents")
            ]
        elif context.graphql_document is not None and context.pre_execution_errors is None:
            schema, document = context.schema._schema, context.graphql_document
            hide = not self.field_suggestions
            errors = validate_cached(schema, document, tuple(context.validation_rules), hide)
            context.pre_execution_errors = [
                error
                if error.extensions and "code" in error.extensions
                else request_error(VALIDATION_FAILED, error.message, nodes=error.nodes)
                for error in errors
            ]
            if not errors and not self.unauthenticated_introspection and _caller_of(context.context) is None:
                introspects = validate_cached(schema, document, (NoSchemaIntrospectionCustomRule,), hide)
                if introspects:
                    context.pre_execution_errors = [
                        request_error(
                            INTROSPECTION_DISABLED,
                            "introspection needs a bearer token here; the schema is in gateway/schema.graphql",
                            nodes=introspects[0].nodes,
                        )
                    ]
        yield

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        operation = get_operation_ast(document, context.operation_name) if document is not None else None
        if document is not None and operation is not None:
            schema = context.schema._schema
            if not encodable(context.variables):
                # Over a websocket the variables come straight from the message: no service could be
                # sent such a string (UTF-8 cannot encode a lone surrogate), so it is refused here.
                raise request_error(
                    BAD_USER_INPUT,
                    "a variable has a string with a lone surrogate (not Unicode text)",
                    details=[{"loc": ["variables"], "message": "not Unicode text"}],
                )
            coerced = get_variable_values(
                schema,
                operation.variable_definitions or (),
                context.variables or {},
                hide_suggestions=not self.field_suggestions,
            )
            if isinstance(coerced, list):
                raise request_error(
                    BAD_USER_INPUT,
                    coerced[0].message,
                    nodes=coerced[0].nodes,
                    details=[{"loc": _variable_loc(e), "message": e.message} for e in coerced],
                )
            cost = operation_cost(
                schema,
                document,
                operation,
                coerced.coerced,
                max_list_size=self.max_list_size,
                default_list_size=self.default_list_size,
            )
            if cost > self.max_cost:
                raise request_error(
                    COST_LIMIT_EXCEEDED,
                    f"the query's cost {cost} exceeds the budget of {self.max_cost}; ask for smaller pages "
                    "(first/last) or fewer nested lists",
                    cost=cost,
                    budget=self.max_cost,
                )
        yield


def _caller_of(context: object) -> object | None:
    # The context is the gateway's (gateway/context.py); not imported here, which it imports.
    return getattr(context, "caller", None)


def _variable_loc(error: GraphQLError) -> list[str]:
    for node in error.nodes or ():
        if isinstance(node, VariableDefinitionNode):
            return ["variables", node.variable.name.value]
    return ["variables"]


# --- HTTP ---------------------------------------------------------------------------------------


class ProtocolError(Exception):
    """A request refused before execution. ``statuses`` = (graphql-response+json, application/json)."""

    def __init__(
        self, code: str, message: str, statuses: tuple[int, int], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.statuses = statuses
        self.headers = dict(headers or {})

    @classmethod
    def from_graphql(cls, error: GraphQLError) -> ProtocolError:
        code = (error.extensions or {}).get("code", BAD_REQUEST)
        return cls(code, error.message, _RESULT_STATUS.get(code, (400, 400)))


@dataclass(frozen=True)
class GraphQLRequest:
    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


def negotiate(accept: str | None) -> str:
    """The response media type: the new one when the client prefers it (or ranks it equal); the legacy
    ``application/json`` otherwise, and when nothing acceptable is listed (the spec lets a server ignore
    ``Accept`` rather than answer 406)."""
    best: tuple[float, int, str] = (0.0, 0, APPLICATION_JSON)
    for part in (accept or "").split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        quality = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media == GRAPHQL_RESPONSE_JSON:
            candidate = (quality, 1, GRAPHQL_RESPONSE_JSON)
        elif media in (APPLICATION_JSON, "application/*", "*/*"):
            candidate = (quality, 0, APPLICATION_JSON)
        else:
            continue
        if quality > 0 and candidate[:2] > best[:2]:
            best = candidate
    return best[2]


def _json_field(raw: object, name: str) -> dict[str, Any] | None:
    """``variables``/``extensions``: an object or null; over GET a JSON string (empty = absent)."""
    if isinstance(raw, str):
        if raw == "":
            return None
        raw = loads(raw, f"`{name}`")
    if raw is None or isinstance(raw, dict):
        return raw
    raise ProtocolError(BAD_REQUEST, f"`{name}` must be an object or null", (422, 400))


def _request_from(data: Mapping[str, Any]) -> GraphQLRequest:
    query = data.get("query")
    operation_name = data.get("operationName")
    if query == "":
        query = None
    if query is not None and not isinstance(query, str):
        raise ProtocolError(BAD_REQUEST, "`query` must be a string", (422, 400))
    if operation_name == "":
        operation_name = None
    if operation_name is not None and not isinstance(operation_name, str):
        raise ProtocolError(BAD_REQUEST, "`operationName` must be a string or null", (422, 400))
    return GraphQLRequest(
        query=query,
        variables=_json_field(data.get("variables"), "variables"),
        operation_name=operation_name,
        extensions=_json_field(data.get("extensions"), "extensions"),
    )


async def read_request(request: Request, max_body_bytes: int) -> GraphQLRequest:
    if request.method == "GET":
        return _request_from(dict(request.query_params))
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != APPLICATION_JSON:
        raise ProtocolError(
            UNSUPPORTED_MEDIA_TYPE,
            f"send the request as {APPLICATION_JSON} (got {content_type or 'no Content-Type'})",
            (415, 415),
        )
    body = await read_body(request, max_body_bytes)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(BAD_REQUEST, "the body is not valid UTF-8", (400, 400)) from None
    data = loads(text, "the body")
    if not isinstance(data, dict):
        raise ProtocolError(BAD_REQUEST, "the body must be a JSON object (batches are not accepted)", (422, 400))
    return _request_from(data)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refused with 413 as soon as it is known to be larger than ``max_bytes``: from its
    ``Content-Length`` before reading anything, else while it streams in (chunked), so that a large
    body is never held whole."""
    too_large = ProtocolError(
        PAYLOAD_TOO_LARGE,
        f"the request body is larger than {max_bytes} bytes",
        (413, 413),
        headers={"Connection": "close"},
    )
    declared = request.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def loads(text: str, what: str) -> Any:
    """JSON from a client: a syntax error, nesting Python cannot follow and a string no service could
    be sent (a lone surrogate such as ``"\\ud800"``, which UTF-8 cannot encode) are the client's
    mistakes (400), not the gateway's."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise ProtocolError(BAD_REQUEST, f"{what} is nested too deeply", (400, 400)) from None
    except ValueError:
        raise ProtocolError(BAD_REQUEST, f"{what} is not valid JSON", (400, 400)) from None
    if not encodable(data):
        raise ProtocolError(BAD_REQUEST, f"{what} has a string with a lone surrogate (not Unicode text)", (400, 400))
    return data


def encodable(value: object) -> bool:
    """Whether every string in a decoded JSON value (keys too) can be encoded as UTF-8. Iterative:
    the value may be nested as deep as the decoder allows."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not _is_text(item):
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def wants_ide(request: Request) -> bool:
    """A browser opening /graphql: a GET naming no document, asking for HTML."""
    params = request.query_params
    return (
        request.method == "GET"
        and not params.get("query")
        and not params.get("extensions")
        and "text/html" in request.headers.get("accept", "")
    )


_IDE_HTML: str | None = None


def ide_response() -> HTMLResponse:
    global _IDE_HTML
    if _IDE_HTML is None:
        _IDE_HTML = get_graphql_ide_html("graphiql")
    return HTMLResponse(_IDE_HTML)


def encode(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def graphql_response(body: object, *, status: int, media: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(encode(body), status_code=status, media_type=media, headers=dict(headers or {}))


def error_response(error: ProtocolError, media: str) -> Response:
    status = error.statuses[0] if media == GRAPHQL_RESPONSE_JSON else error.statuses[1]
    body = {"errors": [{"message": error.message, "extensions": {"code": error.code, "status": 400, "details": []}}]}
    return graphql_response(body, status=status, media=media, headers=error.headers)


def result_status(result: ExecutionResult, media: str) -> int:
    """200 when the operation ran (even with field errors: ``data`` is there); the request error's
    status when it did not."""
    if result.data is not None or not result.errors:
        return 200
    for error in result.errors:
        code = (error.extensions or {}).get("code")
        if code in _RESULT_STATUS:
            statuses = _RESULT_STATUS[code]
            return statuses[0] if media == GRAPHQL_RESPONSE_JSON else statuses[1]
    return 200


def allowed_operations(method: str) -> set[StrawberryOperationType]:
    if method == "GET":
        return {StrawberryOperationType.QUERY}
    return {StrawberryOperationType.QUERY, StrawberryOperationType.MUTATION}


def check_operation(method: str, operation: OperationDefinitionNode) -> None:
    if operation.operation is OperationType.MUTATION and method == "GET":
        raise ProtocolError(
            METHOD_NOT_ALLOWED,
            "mutations are sent with POST: a GET must not change anything",
            (405, 405),
            headers={"Allow": "POST"},
        )
    if operation.operation is OperationType.SUBSCRIPTION:
        raise ProtocolError(
            OPERATION_RESOLUTION_FAILURE,
            "subscriptions are served over the websocket at /graphql (graphql-transport-ws)",
            _RESULT_STATUS[OPERATION_RESOLUTION_FAILURE],
        )


def persisted_error(error: PersistedQueryError) -> ProtocolError:
    headers = {"Cache-Control": NO_CACHE} if error.retry else {}
    return ProtocolError(error.code, error.message, (error.status, error.status), headers=headers)


def resolve_document(request: GraphQLRequest, documents: PersistedDocuments) -> str:
    try:
        query = documents.resolve(request.query, request.extensions)
    except PersistedQueryError as exc:
        raise persisted_error(exc) from None
    if query is None:
        raise ProtocolError(BAD_REQUEST, "no GraphQL document: send `query`, or a persisted query's hash", (422, 400))
    return query


__all__ = [
    "BAD_REQUEST",
    "BAD_USER_INPUT",
    "GRAPHQL_RESPONSE_JSON",
    "OPERATION_RESOLUTION_FAILURE",
    "PARSE_FAILED",
    "REQUEST_ERROR_CODES",
    "VALIDATION_FAILED",
    "GraphQLRequest",
    "ProtocolError",
    "RequestChecks",
    "allowed_operations",
    "check_operation",
    "error_response",
    "graphql_response",
    "ide_response",
    "negotiate",
    "parse_document",
    "process_result",
    "read_request",
    "request_error",
    "resolve_document",
    "result_status",
    "select_operation",
    "wants_ide",
]
