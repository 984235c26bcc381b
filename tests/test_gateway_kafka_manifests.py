"""The gateway reads Kafka for its subscriptions (gateway/live.py): its Deployment and ``make run``
give it the brokers the services use, and its network policy lets it reach them."""

from __future__ import annotations

from condividi.devstack.launcher import StackConfig, build_env
from tests.test_devstack import config  # noqa: F401 - the fixture
from tests.test_k8s_manifests import (
    GATEWAY,
    allowed_to,
    app_container,
    env_of,
    kafka_pod_labels,
    named,
    of_kind,
    pod_peers,
    selects,
)


def test_the_gateway_is_given_the_kafka_brokers() -> None:
    env = env_of(app_container(named("Deployment", GATEWAY)))
    reference = env["KAFKA_BOOTSTRAP_SERVERS"]["valueFrom"]["configMapKeyRef"]
    assert reference == {"name": "condividi-runtime", "key": "KAFKA_BOOTSTRAP_SERVERS"}


def test_the_gateway_may_reach_kafka() -> None:
    (kafka,) = of_kind("Kafka")
    tos = pod_peers(allowed_to(named("NetworkPolicy", GATEWAY)))
    assert any(selects(s, kafka_pod_labels(kafka)) for s in tos)


def test_the_launcher_gives_the_gateway_the_services_kafka(config: StackConfig) -> None:  # noqa: F811
    env = build_env(config.spec("gateway"), config, {"KAFKA_NAMESPACE": "dev1"})
    sharing = build_env(config.spec("sharing"), config, {"KAFKA_NAMESPACE": "dev1"})
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == sharing["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:19092"
    assert env["KAFKA_NAMESPACE"] == sharing["KAFKA_NAMESPACE"] == "dev1"
