"""A small HTTP server on loopback serving pages a test arranges: each path answers a status, headers
and a body (bytes, or a callable for pages that stream slowly or forever). It records what it was
asked, with the headers, so that a test can check what a fetcher sent."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


@dataclass
class Page:
    status: int = 200
    body: bytes | Callable[[], Iterator[bytes]] = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"})


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class PageServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.pages: dict[str, Page] = {}
        self.seen: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
                page = server.pages.get(self.path, Page(status=404, body=b"<html><title>Not found</title></html>"))
                self.send_response(page.status)
                for name, value in page.headers.items():
                    self.send_header(name, value)
                if isinstance(page.body, bytes):
                    self.send_header("Content-Length", str(len(page.body)))
                    self.end_headers()
                    self.wfile.write(page.body)
                    return
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for chunk in page.body():
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer((host, 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.host = host
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def add(self, path: str, page: Page) -> str:
        self.pages[path] = page
        return self.url(path)

    def redirect(self, path: str, to: str, status: int = 301) -> str:
        return self.add(path, Page(status=status, headers={"Location": to}))

    def __enter__(self) -> PageServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def html_page(
    *,
    title: str | None = "Our new plant opens",
    description: str | None = "Two hundred jobs in Brescia.",
    image: str | None = None,
    width: int | None = None,
    height: int | None = None,
    canonical: str | None = None,
    site_name: str | None = "Acme News",
    robots: str | None = None,
    extra: str = "",
) -> bytes:
    """A page with the Open Graph tags given (None leaves a tag out)."""
    tags = []
    if title is not None:
        tags.append(f'<meta property="og:title" content="{title}">')
    if description is not None:
        tags.append(f'<meta property="og:description" content="{description}">')
    if image is not None:
        tags.append(f'<meta property="og:image" content="{image}">')
    if width is not None:
        tags.append(f'<meta property="og:image:width" content="{width}">')
    if height is not None:
        tags.append(f'<meta property="og:image:height" content="{height}">')
    if canonical is not None:
        tags.append(f'<link rel="canonical" href="{canonical}">')
    if site_name is not None:
        tags.append(f'<meta property="og:site_name" content="{site_name}">')
    if robots is not None:
        tags.append(f'<meta name="robots" content="{robots}">')
    head = "\n".join(tags)
    return f"<!doctype html><html><head><title>Page</title>{head}{extra}</head><body><p>Hi</p></body></html>".encode()
