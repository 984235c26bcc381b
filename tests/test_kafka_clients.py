"""How the Kafka clients connect: PLAINTEXT locally, TLS and a SCRAM login in production.

Offline: the clients are built, not started, and what aiokafka took from the factories is read back
from them, so a setting that a factory forgets (or that aiokafka would refuse) fails here.
"""

from __future__ import annotations

import datetime
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from condividi.kafka import connection_options, make_admin, make_consumer, make_producer
from condividi.settings import ServiceSettings

PRODUCTION = {
    "KAFKA_BOOTSTRAP_SERVERS": "condividi-kafka-bootstrap:9093",
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USERNAME": "condividi-sharing",
    "KAFKA_SASL_PASSWORD": "s3cret",
}


def write_ca(path: Path, common_name: str) -> Path:
    """A self-signed CA certificate, as Strimzi's cluster CA is."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def security_of(client: Any) -> dict[str, Any]:
    """What an aiokafka client (AIOKafkaClient, inside every producer, consumer and admin) connects with."""
    return {
        "security_protocol": client._security_protocol,
        "ssl_context": client._ssl_context,
        "sasl_mechanism": client._sasl_mechanism,
        "username": client._sasl_plain_username,
        "password": client._sasl_plain_password,
    }


Clients = tuple[AIOKafkaProducer, AIOKafkaConsumer, AIOKafkaAdminClient]


@pytest.fixture
async def clients_of() -> AsyncIterator[Any]:
    made: list[Clients] = []

    def build(settings: ServiceSettings) -> Clients:
        clients = (make_producer(settings), make_consumer(settings, "sharing.decisions"), make_admin(settings))
        made.append(clients)
        return clients

    yield build
    for producer, consumer, admin in made:
        await producer.stop()
        await consumer.stop()
        await admin.close()


async def test_local_default_is_plaintext_without_a_login(clients_of: Any) -> None:
    settings = ServiceSettings()
    assert settings.KAFKA_SECURITY_PROTOCOL == "PLAINTEXT"
    assert connection_options(settings) == {"bootstrap_servers": "localhost:9092", "security_protocol": "PLAINTEXT"}
    producer, consumer, admin = clients_of(settings)
    for client in (producer.client, consumer._client, admin._client):
        security = security_of(client)
        assert security["security_protocol"] == "PLAINTEXT"
        assert security["ssl_context"] is None
        assert security["username"] is None and security["password"] is None


async def test_production_clients_use_tls_and_scram_with_the_cluster_ca(tmp_path: Path, clients_of: Any) -> None:
    ca_file = write_ca(tmp_path / "ca.crt", "cluster-ca condividi")
    settings = ServiceSettings(**PRODUCTION, KAFKA_SSL_CAFILE=str(ca_file))  # type: ignore[arg-type]
    producer, consumer, admin = clients_of(settings)
    for client in (producer.client, consumer._client, admin._client):
        security = security_of(client)
        assert security["security_protocol"] == "SASL_SSL"
        assert security["sasl_mechanism"] == "SCRAM-SHA-512"
        assert (security["username"], security["password"]) == ("condividi-sharing", "s3cret")
        context: ssl.SSLContext = security["ssl_context"]
        # The brokers are verified, by name, against the cluster CA (and only it: no system CAs).
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        trusted: list[Any] = context.get_ca_certs()
        assert [ca["subject"] for ca in trusted] == [((("commonName", "cluster-ca condividi"),),)]
    # The rest of each client's configuration is unchanged by the login.
    assert consumer._group_id == "sharing.decisions"
    assert consumer._client._client_id == "condividi-sharing.decisions"


async def test_tls_without_a_ca_file_trusts_the_system_cas(clients_of: Any) -> None:
    settings = ServiceSettings(KAFKA_SECURITY_PROTOCOL="SSL")
    producer, _, _ = clients_of(settings)
    security = security_of(producer.client)
    assert security["security_protocol"] == "SSL"
    assert security["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert security["username"] is None  # TLS alone: no SASL login


def test_a_missing_ca_file_fails_when_the_client_is_made(tmp_path: Path) -> None:
    settings = ServiceSettings(**PRODUCTION, KAFKA_SSL_CAFILE=str(tmp_path / "absent.crt"))  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        connection_options(settings)


@pytest.mark.parametrize("missing", ["KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"])
def test_sasl_without_credentials_is_refused_at_start(missing: str) -> None:
    values = {**PRODUCTION, missing: ""}
    with pytest.raises(ValidationError, match=missing):
        ServiceSettings(**values)  # type: ignore[arg-type]


def test_unknown_protocol_or_mechanism_is_refused() -> None:
    with pytest.raises(ValidationError, match="KAFKA_SECURITY_PROTOCOL"):
        ServiceSettings(KAFKA_SECURITY_PROTOCOL="SASL_TLS")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="KAFKA_SASL_MECHANISM"):
        ServiceSettings(**{**PRODUCTION, "KAFKA_SASL_MECHANISM": "SCRAM-SHA-1"})  # type: ignore[arg-type]


def test_the_password_stays_out_of_logs_and_reprs() -> None:
    settings = ServiceSettings(**PRODUCTION)  # type: ignore[arg-type]
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())
