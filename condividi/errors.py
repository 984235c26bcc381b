"""One error shape for every REST endpoint of every service.

    {"error": {"code": "not_found", "message": "...", "details": [...], "request_id": "..."}}

``code`` is stable and meant for programs; ``message`` is for people; ``details`` lists field-level
problems (``loc``/``message``) when the input was at fault. A conflict caused by an existing object
(``duplicate_share``) also names it in ``conflicting_id``, so a client can open it instead of
retrying; the field is absent from every other error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, compile_path

from condividi.observability import current_request_id

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    loc: list[str | int] = []
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] = []
    request_id: str | None = None
    conflicting_id: str | None = Field(
        default=None,
        description="The id of the existing object a conflict is about (409 duplicate_share); absent otherwise.",
    )


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    """Raise from a route or use case to answer with the stable error shape."""

    # Response headers the error needs (a 401's challenge).
    headers: dict[str, str] | None = None

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        *,
        conflicting_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.conflicting_id = conflicting_id


REALM = "condividi"


class Unauthenticated(ApiError):
    """A 401 with the challenge RFC 6750 asks for: ``Bearer realm=...`` when no token came, plus
    ``error="invalid_token"`` and the reason when one came and was refused, so that a client can tell
    "log in" from "get a new token"."""

    def __init__(self, message: str, *, token_sent: bool) -> None:
        super().__init__(401, "unauthenticated", message)
        challenge = f'Bearer realm="{REALM}"'
        if token_sent:
            # RFC 6750 allows printable ASCII but '"' and '\\' in error_description; the reason can quote
            # the token library's words, so keep only what is allowed.
            reason = "".join(c for c in message if " " <= c <= "~" and c not in '"\\')
            challenge += f', error="invalid_token", error_description="{reason}"'
        self.headers = {"WWW-Authenticate": challenge}


def not_found(what: str, loc: list[str | int] | None = None) -> ApiError:
    """``loc`` names the request field that held the id, when the id came in the body or the query: a
    client (the gateway's typed errors among them) can then point at the field."""
    details = [{"loc": loc, "message": f"names no {what} of the org"}] if loc else None
    return ApiError(404, "not_found", f"{what} not found", details)


def forbidden(message: str = "your role does not allow this") -> ApiError:
    return ApiError(403, "forbidden", message)


def conflict(message: str, conflicting_id: object = None) -> ApiError:
    """``conflicting_id`` names the existing object the request clashes with, when there is one."""
    return ApiError(409, "conflict", message, conflicting_id=str(conflicting_id) if conflicting_id else None)


# The stable code of each status an API answers with, when nothing more specific applies.
CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
}


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    *,
    conflicting_id: str | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "details": details or [],
        "request_id": current_request_id(),
    }
    if conflicting_id is not None:
        error["conflicting_id"] = conflicting_id
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(err.get("loc", ())), "message": _message(err)} for err in exc.errors()]


def _message(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "invalid"))
    # Our validators' own words ("unsupported network; use one of: ..."), without pydantic's prefix.
    return message.removeprefix("Value error, ") if error.get("type") == "value_error" else message


def allowed_methods(routes: Sequence[BaseRoute], path: str) -> list[str]:
    """What ``Allow`` lists on a 405: every method of the resource. Starlette names only the methods
    of the first route whose path matched, and each of FastAPI's routes has one method, so
    ``/members`` (GET and POST) would say only one. Where several templates match a path
    (``/content-stats/batch`` and ``/content-stats/{content_id}``), the resource is the most literal
    one, as it is for routing."""
    by_template: dict[str, set[str]] = {}
    for route in iter_route_contexts(routes):
        if not route.methods or route.path is None:
            continue
        pattern, template = _compiled(route.path)
        if pattern.match(path):
            by_template.setdefault(template, set()).update(route.methods)
    if not by_template:
        return []
    fewest = min(template.count("{") for template in by_template)
    allowed = set().union(*(m for t, m in by_template.items() if t.count("{") == fewest))
    return sorted(allowed)


@lru_cache(maxsize=512)
def _compiled(path: str) -> tuple[re.Pattern[str], str]:
    pattern, template, _ = compile_path(path)
    return pattern, template


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status, exc.code, exc.message, exc.details, headers=exc.headers, conflicting_id=exc.conflicting_id
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "validation_failed", "the request is not valid", _validation_details(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = CODES_BY_STATUS.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            allowed = allowed_methods(request.app.router.routes, request.url.path)
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
            message = f"{request.method} is not allowed here; use {', '.join(allowed)}"
        return error_response(exc.status_code, code, message, headers=headers)

    @app.exception_handler(DataError)
    async def _unstorable(_: Request, exc: DataError) -> JSONResponse:
        # Input the validators let through but PostgreSQL refuses (a value out of a column's range):
        # the request's fault, so a 4xx, never a 500.
        log.warning("input refused by the database", extra={"error": str(exc.orig)[:300]})
        return error_response(422, "validation_failed", "a value in the request cannot be stored")

    # The database (or a socket under it) cannot be reached: the request was fine and may succeed in a
    # moment, so 503 rather than a 500 with a traceback in the log.
    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable", extra={"error": str(exc)[:300]})
        return error_response(503, "database_unavailable", "the database is unavailable; try again shortly")

    @app.exception_handler(ConnectionError)
    @app.exception_handler(TimeoutError)
    async def _dependency_unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("a dependency is unavailable", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
        return error_response(503, "unavailable", "a dependency of this service is unavailable; try again shortly")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal", "an unexpected error occurred; it has been logged")
