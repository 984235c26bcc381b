"""The REST contract exists once: the gateway's clients and its test stand-ins use the services' own
models, and these tests fail when either drifts from the services' apps (a route moved or renamed, a
response or request model changed, a new route the gateway does not reach)."""

from __future__ import annotations

import typing
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from gateway import clients
from gateway.clients import ENDPOINTS, NOT_CALLED, Endpoint
from gateway.tests.fakes import HANDLERS, SERVICES, Downstream, stand_in_app


def service_app(name: str) -> FastAPI:
    # Each service module builds its app at import with default settings; nothing connects until its
    # lifespan runs, so reading its routes is safe.
    module = __import__(f"services.{name}.main", fromlist=["app"])
    app: FastAPI = module.app
    return app


def _walk(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute with its full path template, through included routers (which this FastAPI keeps as
    wrappers naming the router and the prefix it was included with)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path_format, route  # the template, without convertors (`{id:uuid}`)
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _walk(included.routes, prefix + route.include_context.prefix)


def api_routes(name: str) -> dict[tuple[str, str], APIRoute]:
    routes: dict[tuple[str, str], APIRoute] = {}
    for path, route in _walk(service_app(name).routes):
        if path.startswith("/api/"):
            for method in route.methods:
                routes[(method, path)] = route
    assert routes, f"found no REST routes in {name}'s app"
    return routes


def body_model(route: APIRoute) -> Any:
    params = route.dependant.body_params
    return params[0].field_info.annotation if params else None


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.service} {e.method} {e.path}")
def test_every_client_call_is_a_route_of_its_service_with_the_routes_own_models(endpoint: Endpoint[Any]) -> None:
    route = api_routes(endpoint.service).get((endpoint.method, endpoint.path))

    assert route is not None, f"{endpoint.service} has no route {endpoint.method} {endpoint.path}"
    assert route.response_model == endpoint.response, "the client parses with another model than the route answers"
    assert body_model(route) == endpoint.body, "the client sends another body model than the route reads"
    if endpoint.response is None:
        assert route.status_code == 204


def test_every_route_of_every_service_is_reachable_through_the_gateway() -> None:
    """Item 8 of issue 5: a frontend never has to call a service's REST API. A new route fails this test
    until the gateway calls it (or NOT_CALLED says why it need not)."""
    routes = {(name, method, path) for name in SERVICES for method, path in api_routes(name)}
    called = {(e.service, e.method, e.path) for e in ENDPOINTS}

    assert routes - called - set(NOT_CALLED) == set()
    assert set(NOT_CALLED) <= routes, "NOT_CALLED names a route that no longer exists"
    assert called.isdisjoint(NOT_CALLED)


def test_the_stand_ins_serve_exactly_the_clients_endpoints() -> None:
    assert set(HANDLERS) == set(ENDPOINTS)
    for name in SERVICES:
        served = {
            (method, path)
            for path, route in _walk(stand_in_app(name, Downstream()).routes)
            if path != "/healthz"
            for method in route.methods
        }
        assert served == {(e.method, e.path) for e in ENDPOINTS if e.service == name}


def test_the_clients_keep_no_models_of_their_own() -> None:
    """Every model the clients parse or send comes from a service's models module (or the shared page)."""
    for endpoint in ENDPOINTS:
        for model in (endpoint.response, endpoint.body):
            if model is None:
                continue
            inner = typing.get_args(model) or (model,)
            for cls in inner:
                owner = getattr(cls, "__pydantic_generic_metadata__", {}).get("origin") or cls
                assert owner.__module__.startswith(("services.", "condividi.pagination")), (endpoint.path, cls)
    own = [
        name
        for name, value in vars(clients).items()
        if isinstance(value, type)
        and issubclass(value, clients.BaseModel)
        and value.__module__ == clients.__name__
        # pydantic names a parametrised generic (Page[SharePublic]) after the module that first made it
        and value.__pydantic_generic_metadata__["origin"] is None
    ]
    assert own == []
