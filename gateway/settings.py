"""The gateway's configuration: where the four services are, the GraphQL guards, and the development
issuer.

The gateway has no database (the ``DATABASE_*`` settings it inherits are unused). It reads Kafka for
subscriptions (``gateway/live.py``) with the ``KAFKA_*`` settings it inherits: ``KAFKA_BOOTSTRAP_SERVERS``
and ``KAFKA_NAMESPACE`` must be the services'."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from condividi.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    SERVICE_NAME: str = "gateway"

    CONTENT_SERVICE_URL: str = "http://localhost:8001"
    POLICY_SERVICE_URL: str = "http://localhost:8002"
    SHARING_SERVICE_URL: str = "http://localhost:8003"
    METRICS_SERVICE_URL: str = "http://localhost:8004"

    # Calls to the services: a slow service must not hold a GraphQL request (and its connection)
    # forever. ``connect`` is short so that a service that is down fails fast.
    SERVICE_TIMEOUT_SECONDS: float = 10.0
    SERVICE_CONNECT_TIMEOUT_SECONDS: float = 2.0
    SERVICE_MAX_CONNECTIONS: int = 200
    # How long an idle connection to a service is kept for the next call: under the services' own
    # keep-alive (uvicorn's 5 s), so the gateway never sends on a connection the service is closing.
    SERVICE_KEEPALIVE_SECONDS: float = Field(default=4.0, gt=0)

    # GraphQL guards: the deepest selection accepted (introspection fields are not counted) and the
    # most aliases in one document (aliases can repeat an expensive field many times).
    GRAPHQL_MAX_DEPTH: int = 10
    GRAPHQL_MAX_ALIASES: int = 30
    GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION: int = 10
    # Bounds on a document, checked before it is validated (gateway/limits.py): its size in bytes, its
    # lexical tokens and its fragment spreads as written. Validation is linear in the document within them.
    GRAPHQL_MAX_DOCUMENT_BYTES: int = Field(default=32 * 1024, ge=1)
    GRAPHQL_MAX_TOKENS: int = Field(default=5000, ge=1)
    GRAPHQL_MAX_FRAGMENT_SPREADS: int = Field(default=100, ge=0)
    # The largest request body /graphql reads (413 above it), checked before it is parsed.
    GRAPHQL_MAX_BODY_BYTES: int = Field(default=64 * 1024, ge=1)
    # The most a query may cost (gateway/cost.py: objects it can fetch, lists multiplied by their
    # first/last). A list size above the largest page counts as the largest page; one not given counts
    # as the field's declared default, else as the default page size.
    GRAPHQL_MAX_COST: int = Field(default=1000, ge=1)
    GRAPHQL_COST_MAX_LIST_SIZE: int = Field(default=100, ge=1)
    GRAPHQL_COST_DEFAULT_LIST_SIZE: int = Field(default=20, ge=1)
    # Automatic persisted queries: the most query text a replica remembers, in bytes.
    GRAPHQL_APQ_CACHE_BYTES: int = Field(default=4 * 1024 * 1024, ge=0)
    # Production switch: a JSON manifest {"<sha256 hex>": "<document>"} of the documents the frontends
    # were built with. When set, only those run (by hash); query text and unknown hashes are refused.
    GRAPHQL_TRUSTED_DOCUMENTS_FILE: Path | None = None

    # Subscriptions: pushed from the events the gateway reads; without events (broker down, or this
    # off) a subscription still re-reads what it watches every GRAPHQL_SUBSCRIPTION_REREAD_SECONDS.
    GRAPHQL_LIVE_EVENTS: bool = True
    GRAPHQL_SUBSCRIPTION_REREAD_SECONDS: float = Field(default=30.0, gt=0)

    # What helps a developer explore the API and helps an attacker map it: GraphiQL in a browser,
    # introspection without a token, and "Did you mean ...?" in error messages. Unset, each is on with
    # ENVIRONMENT=development and off anywhere else (production).
    GRAPHQL_IDE: bool | None = None
    GRAPHQL_UNAUTHENTICATED_INTROSPECTION: bool | None = None
    GRAPHQL_FIELD_SUGGESTIONS: bool | None = None

    # Serves the development OIDC issuer under /dev-issuer when set (``make run`` sets it). Refused when
    # ENVIRONMENT is "production": anyone could mint a token there.
    DEV_ISSUER_KEY_FILE: Path | None = None

    @field_validator("DEV_ISSUER_KEY_FILE", "GRAPHQL_TRUSTED_DOCUMENTS_FILE", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def graphql_ide(self) -> bool:
        return self._by_environment(self.GRAPHQL_IDE)

    @property
    def graphql_unauthenticated_introspection(self) -> bool:
        return self._by_environment(self.GRAPHQL_UNAUTHENTICATED_INTROSPECTION)

    @property
    def graphql_field_suggestions(self) -> bool:
        return self._by_environment(self.GRAPHQL_FIELD_SUGGESTIONS)

    def _by_environment(self, value: bool | None) -> bool:
        return self.ENVIRONMENT == "development" if value is None else value

    def service_urls(self) -> dict[str, str]:
        return {
            "content": self.CONTENT_SERVICE_URL.rstrip("/"),
            "policy": self.POLICY_SERVICE_URL.rstrip("/"),
            "sharing": self.SHARING_SERVICE_URL.rstrip("/"),
            "metrics": self.METRICS_SERVICE_URL.rstrip("/"),
        }
