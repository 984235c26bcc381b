"""How every process describes its REST API in OpenAPI, so that generated clients read alike:

- one bearer security scheme (``bearerAuth``, a JWT), declared by the dependency that verifies the
  token, so the operations that need one say so and ``/docs`` has a working Authorize button;
- ``<tag>-<verb>`` operation ids, set on each route (``shares-create``), never a Python name;
- each operation documents the errors it can really answer, in the one error shape: the route class
  below reads them off the route's dependencies (a token: 401; a role: 403; the database: 503; any
  parameter or body: 422; a body that is not JSON: 400; an id in the path: 404), and a route adds what
  only its code knows (409);
- ``info.version`` is the package's version.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from starlette.routing import compile_path

from condividi.errors import ErrorResponse

BEARER_SCHEME = "bearerAuth"

# Declares the scheme in the document; the token itself is checked by ``condividi.identity``, which
# answers 401 in the one error shape (FastAPI's own refusal would not be), hence auto_error=False.
bearer = HTTPBearer(
    scheme_name=BEARER_SCHEME,
    bearerFormat="JWT",
    description="An OIDC access token (RS256) from the organisation's identity provider.",
    auto_error=False,
)

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The request is malformed (a body that is not JSON, or a cursor this API did not hand out).",
    401: "No bearer token, or one that is not valid (the answer carries `WWW-Authenticate: Bearer`).",
    403: "The caller's roles do not allow this.",
    404: "Not found, or not visible to the caller (another organisation's id answers exactly the same).",
    409: "Conflicts with the current state.",
    422: "The input is not valid; `details` names each field at fault.",
    503: "A dependency (the database, the identity provider, another service) is unavailable; try again.",
}

# RFC 6750, section 3.
_CHALLENGE_HEADER = {
    "description": '`Bearer realm="condividi"`, with `error="invalid_token"` when a token was sent and refused.',
    "schema": {"type": "string"},
}

_ERRORS_ATTRIBUTE = "documented_errors"
F = TypeVar("F", bound=Callable[..., Any])


def documents_errors(*statuses: int, **descriptions: str) -> Callable[[F], F]:
    """Marks a dependency with the error statuses it can answer (``s403="..."`` says more than the
    general description), so that every route that depends on it documents them without repeating them."""

    def mark(call: F) -> F:
        documented = {status: descriptions.get(f"s{status}", "") for status in statuses}
        setattr(call, _ERRORS_ATTRIBUTE, documented)
        return call

    return mark


def error_responses(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """The error shape, documented for each of ``statuses`` (a description per status may be given as
    ``s409="..."``)."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "model": ErrorResponse,
            "description": descriptions.get(f"s{status}", ERROR_DESCRIPTIONS.get(status, "An error.")),
        }
        if status == 401:
            response["headers"] = {"WWW-Authenticate": _CHALLENGE_HEADER}
        documented[status] = response
    return documented


def derived_errors(path: str, endpoint: Callable[..., Any]) -> dict[int, str]:
    """The errors a route can answer because of what it takes and what it depends on, each with what a
    dependency says of it (empty for the general description)."""
    # The template without convertors (``{content_id:uuid}`` declares the parameter ``content_id``).
    dependant = get_dependant(path=compile_path(path)[1], call=endpoint)
    errors: dict[int, str] = {}
    for dependency in _nested(dependant):
        _merge(errors, getattr(dependency.call, _ERRORS_ATTRIBUTE, {}))
    if dependant.path_params:
        errors.setdefault(404, "")
    if any(d.body_params for d in _every(dependant)):
        errors.setdefault(400, "")  # a body that is not JSON at all
    if any(
        d.path_params or d.query_params or d.header_params or d.cookie_params or d.body_params
        for d in _every(dependant)
    ):
        errors.setdefault(422, "")
    return errors


def _merge(errors: dict[int, str], more: dict[int, str]) -> None:
    for status, description in more.items():
        errors[status] = errors.get(status) or description


def _nested(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _nested(dependency)


def _every(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    yield from _nested(dependant)


class DocumentedRoute(APIRoute):
    """An ``APIRoute`` that documents the errors it can answer (see the module's docstring). Use it as
    every service router's ``route_class``."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        responses: dict[int | str, dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        errors = derived_errors(path, endpoint)
        for depends in kwargs.get("dependencies") or ():
            _merge(errors, getattr(depends.dependency, _ERRORS_ATTRIBUTE, {}))
        described = {f"s{status}": description for status, description in errors.items() if description}
        derived = error_responses(*sorted(errors), **described)
        super().__init__(path, endpoint, responses={**derived, **(responses or {})}, **kwargs)


def operation_id(route: APIRoute) -> str:
    """``<tag>-<name>`` for a route without an explicit operation id. Routes should set one; a route
    that does not shows its Python name here, which the OpenAPI tests refuse."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


@cache
def package_version() -> str:
    """Condividi's version: the installed package's, else (run from a checkout, as in development and in
    the image) the one ``pyproject.toml`` declares."""
    try:
        return importlib.metadata.version("condividi")
    except importlib.metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        with pyproject.open("rb") as file:
            version: str = tomllib.load(file)["project"]["version"]
        return version


_READABLE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_SCHEMA_REF = "#/components/schemas/"


def _readable_schema_names(document: dict[str, Any]) -> dict[str, Any]:
    """Renames the schemas pydantic names after their Python generics (``Page_ContentItemPublic_``) to
    their title (``ContentItemPage``, from ``Page.model_parametrized_name``), references included."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    renames: dict[str, str] = {}
    for name, schema in schemas.items():
        title = schema.get("title", "")
        if not _READABLE_NAME.match(name) and _READABLE_NAME.match(title) and title not in schemas:
            renames[name] = title
    if not renames:
        return document

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: (
                    _SCHEMA_REF + renames.get(value.removeprefix(_SCHEMA_REF), value.removeprefix(_SCHEMA_REF))
                    if key == "$ref" and isinstance(value, str) and value.startswith(_SCHEMA_REF)
                    else rewrite(value)
                )
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    rewritten: dict[str, Any] = rewrite(document)
    rewritten["components"]["schemas"] = {renames.get(n, n): s for n, s in rewritten["components"]["schemas"].items()}
    return rewritten


def install_openapi(app: FastAPI, *, token_optional_paths: tuple[str, ...] = ()) -> None:
    """Finishes ``app``'s OpenAPI document: the bearer scheme is always declared (the gateway's own routes
    do not verify tokens themselves), and the operations under ``token_optional_paths`` accept a token
    without requiring one (GraphQL: each field decides)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes.setdefault(BEARER_SCHEME, bearer.model.model_dump(mode="json", by_alias=True, exclude_none=True))
        for path in token_optional_paths:
            for operation in document.get("paths", {}).get(path, {}).values():
                operation["security"] = [{BEARER_SCHEME: []}, {}]
        document = _readable_schema_names(document)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
