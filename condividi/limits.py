"""Request size limits, checked before anything parses the request: headers larger than
``MAX_HEADER_BYTES`` in all answer 431, a body larger than ``MAX_BODY_BYTES`` answers 413, whether it
says so in ``Content-Length`` (refused before a byte of it is read) or comes chunked (refused as soon as
the bytes read pass the limit). Both in the one error shape.

What the HTTP server does first matters. uvicorn's httptools parser (the one ``uvicorn[standard]``
picks) sets no limit of its own on headers: a request with megabytes of them reaches the app, which is
why this check exists. Its h11 parser refuses a request whose head passes
``--h11-max-incomplete-event-size`` (16 KiB by default) with a bare 400 of its own; keep that setting
above ``MAX_HEADER_BYTES`` so that the answer is this 431. Either way the server has read the head
into memory first: the ingress in front (``deploy/k8s``) is what bounds that.
"""

from __future__ import annotations

import uuid

from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope, Send

from condividi.errors import error_response
from condividi.observability import request_id_var


class BodyTooLargeError(HTTPException):
    """Raised from ``receive`` once a streamed body passes the limit; FastAPI's error handling turns it
    into the 413 (the route has not answered yet: it is still reading its body)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


def header_bytes(scope: Scope) -> int:
    # Names, values and the ": " and CRLF around each, as the request carried them (near enough).
    return sum(len(name) + len(value) + 4 for name, value in scope["headers"])


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str) -> None:
    # Outside the request-id middleware (this runs before it), so the request id is made here.
    request_id = uuid.uuid4().hex
    token = request_id_var.set(request_id)
    try:
        response = error_response(status, code, message, headers={"x-request-id": request_id, "connection": "close"})
        await response(scope, receive, send)
    finally:
        request_id_var.reset(token)


async def headers_within_limit(scope: Scope, receive: Receive, send: Send, *, max_header_bytes: int) -> bool:
    """False when the request's headers are over the limit and it has been refused here: an HTTP request,
    or a websocket's upgrade (answered with the 431 when the server can send a response in place of the
    handshake, else closed, which the server turns into a 403)."""
    if header_bytes(scope) <= max_header_bytes:
        return True
    if scope["type"] == "websocket" and "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1009})
        return False
    await _refuse(
        scope, receive, send, 431, "request_header_fields_too_large",
        f"the request's headers are larger than {max_header_bytes} bytes",
    )  # fmt: skip
    return False


async def within_limits(
    scope: Scope, receive: Receive, send: Send, *, max_header_bytes: int, max_body_bytes: int
) -> Receive | None:
    """The ``receive`` to go on with (one that counts the body's bytes), or None when the request has
    been refused and answered here."""
    if not await headers_within_limit(scope, receive, send, max_header_bytes=max_header_bytes):
        return None
    for name, value in scope["headers"]:
        # uvicorn's parsers refuse a Content-Length that is not a number before the app sees it.
        if name == b"content-length" and value.isdigit() and int(value) > max_body_bytes:
            await _refuse(
                scope, receive, send, 413, "payload_too_large",
                f"the request body is larger than {max_body_bytes} bytes",
            )  # fmt: skip
            return None
    received = 0

    async def counting_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_body_bytes:
                raise BodyTooLargeError(max_body_bytes)
        return message

    return counting_receive
