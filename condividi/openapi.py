"""How every process describes its REST API in OpenAPI, so that generated clients read alike."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute

from condividi.errors import ErrorResponse


def operation_id(route: APIRoute) -> str:
    """``<tag>-<name>``, so that generated clients get readable method names."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error shape, documented for each status an API can answer with."""
    return {status: {"model": ErrorResponse} for status in statuses}
