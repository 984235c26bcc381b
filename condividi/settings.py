"""Settings common to every process, read from the environment (upper-case names).

Each service subclasses ``ServiceSettings`` for what only it needs, so that one look at a service's
``settings.py`` shows its whole configuration surface.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=True)

    SERVICE_NAME: str = "condividi"
    ENVIRONMENT: str = "development"
    LOG_LEVEL: str = "INFO"

    # The service's own database. CloudNativePG hands out plain ``postgresql://`` URIs; asyncpg needs
    # the driver in the scheme, so the validator below adds it.
    DATABASE_URL: str = "postgresql+asyncpg://postgres@localhost:5432/condividi"
    DATABASE_POOL_SIZE: int = 10

    KAFKA_BOOTSTRAP_SERVERS: str = "localhost:9092"
    # Tansu (the local broker) implements neither idempotent producers nor transactions; real Kafka does.
    KAFKA_ENABLE_IDEMPOTENCE: bool = False
    # Prefixes every topic and consumer group ("<namespace>.condividi.sharing"), so that several
    # environments, or test runs, can share one Kafka cluster without reading each other's events.
    KAFKA_NAMESPACE: str = ""
    # A member that stops heart-beating this long is dropped from its group. Brokers also wait about
    # half of it for members to join a rebalance, so short values speed tests up; production keeps
    # the client's default.
    KAFKA_SESSION_TIMEOUT_MS: int = 10_000
    KAFKA_HEARTBEAT_INTERVAL_MS: int = 3_000
    KAFKA_TOPIC_PARTITIONS: int = 3
    KAFKA_REPLICATION_FACTOR: int = 1
    # How the clients reach the brokers. Locally PLAINTEXT; production's Strimzi listener takes SASL_SSL
    # with SCRAM-SHA-512, each process logging in as its own KafkaUser (deploy/k8s), and verifies the
    # brokers against KAFKA_SSL_CAFILE (the cluster CA; empty: the system's trusted CAs).
    KAFKA_SECURITY_PROTOCOL: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    KAFKA_SASL_MECHANISM: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    KAFKA_SASL_USERNAME: str = ""
    KAFKA_SASL_PASSWORD: SecretStr = SecretStr("")
    KAFKA_SSL_CAFILE: str = ""

    # OIDC: tokens are RS256 JWTs signed by the company's identity provider.
    OIDC_ISSUER: str = "http://localhost:8000/dev-issuer"
    OIDC_AUDIENCE: str = "condividi"
    OIDC_JWKS_URL: str = "http://localhost:8000/dev-issuer/jwks"

    # Request size limits (condividi/limits.py): larger headers, all of them together, answer 431; a
    # larger body answers 413, before it is parsed. A bearer token and the usual headers take 2-4 KiB.
    MAX_HEADER_BYTES: int = Field(default=16 * 1024, gt=0)
    MAX_BODY_BYTES: int = Field(default=1024 * 1024, gt=0)

    # Outbox relay: how long it sleeps when it finds nothing (a commit wakes it sooner in-process).
    OUTBOX_POLL_SECONDS: float = 0.5
    # At shutdown, after uvicorn has finished the requests in flight, the relay publishes what is
    # committed for up to this long (the rest goes after a restart). Every *_DRAIN_SECONDS setting is a
    # step of the shutdown, one after the other: deploy/k8s's terminationGracePeriodSeconds must cover
    # their sum plus preStop and uvicorn's --timeout-graceful-shutdown (tests/test_k8s_manifests.py).
    OUTBOX_DRAIN_SECONDS: float = 5.0
    # Consumer: attempts before a message goes to the dead-letter topic, and the first backoff.
    CONSUMER_MAX_ATTEMPTS: int = 3
    CONSUMER_RETRY_BACKOFF_SECONDS: float = 0.2
    # /readyz answers 503 when a consumer has made no progress this long while events wait for it (a
    # batch failing again and again, a handler hung), or when its task has ended.
    CONSUMER_STALL_SECONDS: float = 60.0

    # Traces go over OTLP/HTTP to this collector (``http://otel-collector:4318``; the traces endpoint,
    # if given, is used as it is), and nowhere when both are empty (condividi/tracing.py).
    OTEL_EXPORTER_OTLP_ENDPOINT: str = ""
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: str = ""

    # The proxies whose X-Forwarded-For is believed: IP addresses or CIDR ranges, comma-separated.
    # uvicorn reads this variable itself (ProxyHeadersMiddleware rewrites the client address, which
    # the click redirect hashes into the visitor). It is declared here so that every process checks it
    # at start: uvicorn takes a typo for a host name (trusting no one) and "*" trusts anyone, so that
    # a forged header would count a click as a new visitor.
    FORWARDED_ALLOW_IPS: str = "127.0.0.1,::1"

    def kafka_name(self, name: str) -> str:
        return f"{self.KAFKA_NAMESPACE}.{name}" if self.KAFKA_NAMESPACE else name

    @field_validator("DATABASE_URL")
    @classmethod
    def _use_asyncpg(cls, value: str) -> str:
        for plain in ("postgresql://", "postgres://"):
            if value.startswith(plain):
                return "postgresql+asyncpg://" + value[len(plain) :]
        return value

    @model_validator(mode="after")
    def _kafka_login(self) -> ServiceSettings:
        # Refused at start rather than as an authentication failure on the first connection.
        if self.KAFKA_SECURITY_PROTOCOL.startswith("SASL_"):
            missing = [
                name
                for name, value in (
                    ("KAFKA_SASL_USERNAME", self.KAFKA_SASL_USERNAME),
                    ("KAFKA_SASL_PASSWORD", self.KAFKA_SASL_PASSWORD.get_secret_value()),
                )
                if not value
            ]
            if missing:
                protocol = self.KAFKA_SECURITY_PROTOCOL
                raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs {' and '.join(missing)}")
        return self

    @field_validator("FORWARDED_ALLOW_IPS")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        for entry in (e.strip() for e in value.split(",")):
            if entry == "*":
                raise ValueError(
                    '"*" would believe X-Forwarded-For from anyone (a forged header would count a new '
                    "visitor); name the proxies' addresses or CIDR ranges"
                )
            try:
                ipaddress.ip_network(entry)  # strict, as uvicorn parses it: 10.0.0.1/8 is refused
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or a CIDR range (such as 10.0.0.0/16)") from None
        return value
