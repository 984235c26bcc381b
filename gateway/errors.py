"""The errors the gateway shows in a GraphQL response.

Every error carries ``extensions = {"code", "status", "details"}``: ``code`` is the same stable code a
service's REST error body has (``not_found``, ``conflict``, ``validation_failed``...) or one of the
gateway's own (``unauthenticated``, ``service_unavailable``, ``bad_gateway``, ``internal``,
``invalid_cursor``); ``status`` is the HTTP status the same failure has in REST; ``details`` lists
field-level problems (``loc``/``message``).

Lower-case codes are for operations that ran. A request refused before anything ran (it does not
parse, breaks validation, has variables of the wrong type, costs too much) carries an UPPER_CASE code
of the GraphQL vocabulary instead (``GRAPHQL_PARSE_FAILED``, ``BAD_USER_INPUT``...): see
``gateway/protocol.py``."""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """Raised by resolvers, clients and the context; graphql-core copies ``extensions`` into the
    GraphQL error it builds from it."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int,
        details: list[dict[str, Any]] | None = None,
        conflicting_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details or []
        # A service's 409 may name the object the request conflicts with (contract 2 of issue 5).
        self.conflicting_id = conflicting_id
        self.extensions: dict[str, Any] = {"code": code, "status": status, "details": self.details}


def unauthenticated(message: str) -> GatewayError:
    return GatewayError("unauthenticated", message, status=401)


def validation_failed(field: str, message: str) -> GatewayError:
    return GatewayError(
        "validation_failed", f"{field}: {message}", status=422, details=[{"loc": [field], "message": message}]
    )


def validation_failed_details(details: list[dict[str, Any]]) -> GatewayError:
    """Several field problems at once, ``loc`` as the service would give them (``["body", "text"]``)."""
    first = details[0]["message"] if details else "the request is not valid"
    return GatewayError("validation_failed", first, status=422, details=details)


def invalid_cursor(message: str = "the cursor is not one this list handed out") -> GatewayError:
    return GatewayError("invalid_cursor", message, status=400)


def service_unavailable(service: str, why: str = "is unavailable") -> GatewayError:
    return GatewayError("service_unavailable", f"the {service} service {why}; try again shortly", status=503)


def bad_gateway(service: str) -> GatewayError:
    message = f"the {service} service gave an answer the gateway does not understand"
    return GatewayError("bad_gateway", message, status=502)
