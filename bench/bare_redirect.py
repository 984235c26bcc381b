"""The ceiling for the click redirect: the least an ASGI app can do to answer a 302, served by the
same uvicorn, with the same flags, on the same machine as the real one."""

from starlette.types import Receive, Scope, Send

_LOCATION = b"https://acme.example/news?utm_source=x&utm_medium=employee_advocacy&utm_campaign=condividi"


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return  # lifespan: nothing to start
    await send(
        {
            "type": "http.response.start",
            "status": 302,
            "headers": [(b"location", _LOCATION), (b"cache-control", b"no-store"), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})
