"""Serves a development issuer's JWKS over HTTP from a background thread, as an identity provider
would, for the tests and the benchmarks (``make run`` has the gateway serve it instead)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from condividi.identity.dev_issuer import DevIssuer


@contextmanager
def serving_jwks(issuer: DevIssuer, port: int) -> Iterator[str]:
    """Yields the JWKS URL while the server runs."""
    body = json.dumps(issuer.jwks()).encode()

    class JwksHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", port), JwksHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/dev-issuer/jwks"
    finally:
        server.shutdown()
        server.server_close()
