"""Persisted documents: Apollo's automatic persisted queries (APQ) and the production list of trusted
documents.

A request names its document by ``extensions.persistedQuery = {"version": 1, "sha256Hash": <hex>}``,
the SHA-256 of the exact query text. Two modes, chosen by settings:

- **APQ** (default): a hash the replica has not seen answers ``PersistedQueryNotFound``; the client
  retries with the text and the hash, the replica checks that they match and remembers the text in a
  bounded store (least recently used out first, bounded by bytes). Each replica has its own store: a
  miss costs one retry, nothing else. APQ saves bandwidth and makes query URLs short enough for GET; it
  is not a security boundary (anyone may register anything).
- **Trusted documents** (``GRAPHQL_TRUSTED_DOCUMENTS_FILE``): the documents the frontends were built
  with, as a JSON manifest ``{"<sha256 hex>": "<document>"}``. Only those run: a request must name one
  by its hash (free text is refused), and an unknown hash is refused. That *is* a security boundary:
  nobody can send the API a query its clients were not built with.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
PERSISTED_QUERY_ID_REQUIRED = "PERSISTED_QUERY_ID_REQUIRED"
PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
PERSISTED_QUERY_VERSION = "PERSISTED_QUERY_VERSION_NOT_SUPPORTED"
BAD_PERSISTED_QUERY = "BAD_REQUEST"

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def sha256_hex(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


class PersistedQueryError(Exception):
    """A persisted-query failure; ``retry`` says the client may resend the text (a cache miss, which
    must never be cached by an HTTP cache either)."""

    def __init__(self, code: str, message: str, *, status: int, retry: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry = retry


class DocumentStore:
    """The APQ store: hash → text, least recently used out first, at most ``max_bytes`` of text (a
    count bound would let a few huge documents take the memory). Thread-safe: uvicorn may run the app's
    handlers on one loop only, but tests drive several apps from several threads."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, digest: str) -> str | None:
        with self._lock:
            document = self._entries.get(digest)
            if document is not None:
                self._entries.move_to_end(digest)
            return document

    def put(self, digest: str, document: str) -> None:
        size = len(document.encode("utf-8"))
        if size > self.max_bytes:
            return  # it would evict everything else and still not fit
        with self._lock:
            if digest in self._entries:
                self._entries.move_to_end(digest)
                return
            self._entries[digest] = document
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.encode("utf-8"))

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __contains__(self, digest: object) -> bool:
        return digest in self._entries


def load_trusted_documents(path: Path) -> dict[str, str]:
    """Reads the manifest and checks every entry (a wrong key would never match, silently): refuses to
    start on a file that is not a JSON object of ``sha256 hex → document`` with matching hashes."""
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"GRAPHQL_TRUSTED_DOCUMENTS_FILE {path}: cannot read a JSON manifest ({exc})") from exc
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"GRAPHQL_TRUSTED_DOCUMENTS_FILE {path}: expected a non-empty object of sha256 → document")
    documents: dict[str, str] = {}
    for key, document in raw.items():
        digest = key.removeprefix("sha256:").lower()
        if not isinstance(document, str) or sha256_hex(document) != digest:
            raise ValueError(f"GRAPHQL_TRUSTED_DOCUMENTS_FILE {path}: entry {key!r} is not the SHA-256 of its document")
        documents[digest] = document
    return documents


class PersistedDocuments:
    """Turns a request's ``query`` and ``extensions`` into the document to run."""

    def __init__(self, store: DocumentStore, trusted: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.trusted = trusted

    def resolve(self, query: str | None, extensions: Mapping[str, Any] | None) -> str | None:
        """The document text; ``None`` when the request names none (the caller refuses that)."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            if self.trusted is not None:
                raise PersistedQueryError(
                    PERSISTED_QUERY_ID_REQUIRED,
                    "only trusted documents run here: send extensions.persistedQuery.sha256Hash, not query text",
                    status=400,
                )
            return query
        digest = _digest(persisted)
        if query is not None and sha256_hex(query) != digest:
            # Stops "hash hijacking": storing a document under another document's hash.
            raise PersistedQueryError(PERSISTED_QUERY_HASH_MISMATCH, "provided sha does not match query", status=400)
        if self.trusted is not None:
            document = self.trusted.get(digest)
            if document is None:
                raise PersistedQueryError(
                    PERSISTED_QUERY_NOT_IN_LIST, "this document is not in the list of trusted documents", status=400
                )
            return document
        if query is not None:
            return query  # stored by ``remember`` once it proves to be a runnable document
        document = self.store.get(digest)
        if document is None:
            raise PersistedQueryError(PERSISTED_QUERY_NOT_FOUND, "PersistedQueryNotFound", status=200, retry=True)
        return document

    def remember(self, query: str | None, extensions: Mapping[str, Any] | None) -> None:
        """Stores a registered document (text + hash, already checked by ``resolve``) after it parsed
        and validated: the store's bytes are not spent on documents that can never run."""
        persisted = (extensions or {}).get("persistedQuery")
        if self.trusted is None and query is not None and isinstance(persisted, Mapping):
            self.store.put(sha256_hex(query), query)


def _digest(persisted: object) -> str:
    if not isinstance(persisted, Mapping):
        raise PersistedQueryError(BAD_PERSISTED_QUERY, "extensions.persistedQuery must be an object", status=400)
    if persisted.get("version") != 1:
        raise PersistedQueryError(PERSISTED_QUERY_VERSION, "Unsupported persisted query version", status=400)
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
        raise PersistedQueryError(
            BAD_PERSISTED_QUERY, "extensions.persistedQuery.sha256Hash must be 64 lower-case hex digits", status=400
        )
    return digest
