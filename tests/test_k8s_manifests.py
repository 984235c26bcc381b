"""Checks of the Kubernetes manifests in ``deploy/k8s``, with neither a cluster nor kustomize.

The YAML files are read as they are: the base and the components hold every resource, the overlays
only add a few resources and patches. So the rules of the deploy are checked on the base resources
(probes, drain on SIGTERM, non-root, read-only root, requests and limits, the environment each
process reads), the references between resources are checked to resolve (Services, autoscalers,
disruption budgets and NetworkPolicies select existing pods; ConfigMap and Secret keys exist), and
each overlay's patches are checked to aim at resources, containers and fields that exist.

The custom resources (Strimzi's, CloudNativePG's, the Barman Cloud plugin's) are checked as each
overlay renders them, here by a small kustomize of our own (the same output as ``kubectl kustomize``
where kubectl is installed, which a test compares), against the operators' CRDs in
``../shared/k8s-crds``; a custom resource kind without a CRD there fails unless it is listed, with
what checks it instead, in ``WITHOUT_CRD``. The Kafka users' ACLs and the topics are derived from the
services' own subscriptions, and the shutdown budget from the manifests and the settings.
"""

from __future__ import annotations

import copy
import datetime
import functools
import importlib
import ipaddress
import re
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from condividi.consumer import Subscription
from condividi.events import dead_letter_topic, topic_of
from condividi.settings import ServiceSettings
from tests.k8s_crds import CRD_DIR, schemas_for, validate

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
COMPONENTS = K8S / "components"
OVERLAYS = ("dev", "production")
KUSTOMIZATION_DIRS = (
    BASE,
    COMPONENTS / "network-policies",
    COMPONENTS / "data",
    COMPONENTS / "backups",
    COMPONENTS / "monitoring",
    *(K8S / "overlays" / name for name in OVERLAYS),
)

# The gateway owns no database; every other process is a service with its own.
GATEWAY = "gateway"
PART_OF = {"app.kubernetes.io/part-of": "condividi"}
SERVICE_ENV = (
    "SERVICE_NAME",
    "DATABASE_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_ENABLE_IDEMPOTENCE",
    "KAFKA_REPLICATION_FACTOR",
    "OIDC_ISSUER",
    "OIDC_AUDIENCE",
    "OIDC_JWKS_URL",
    "LOG_LEVEL",
)
# Closing the clients and the pool after the budgeted steps of the shutdown.
GRACEFUL_SHUTDOWN_MARGIN_SECONDS = 3

Resource = dict[str, Any]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def load(path: Path) -> tuple[Resource, ...]:
    with path.open(encoding="utf-8") as stream:
        return tuple(doc for doc in yaml.load_all(stream, Loader=_Loader) if doc is not None)


def yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.yaml") if p.name != "kustomization.yaml")


def kustomization(directory: Path) -> Resource:
    (doc,) = load(directory / "kustomization.yaml")
    return dict(doc)


@functools.cache
def base_resources() -> tuple[Resource, ...]:
    """Everything the base and the components declare (the overlays add little to it)."""
    files = yaml_files(BASE) + [f for d in sorted(COMPONENTS.iterdir()) for f in yaml_files(d)]
    return tuple(doc for f in files for doc in load(f))


def overlay_dir(overlay: str) -> Path:
    return K8S / "overlays" / overlay


def overlay_resources(overlay: str) -> tuple[Resource, ...]:
    """The base and components plus the overlay's own resources, before its patches."""
    own = tuple(doc for f in yaml_files(overlay_dir(overlay)) for doc in load(f))
    return base_resources() + own


def of_kind(kind: str, resources: tuple[Resource, ...] | None = None) -> list[Resource]:
    return [r for r in (resources or base_resources()) if r["kind"] == kind]


def named(kind: str, name: str, resources: tuple[Resource, ...] | None = None) -> Resource:
    matches = [r for r in of_kind(kind, resources) if r["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name!r}, found {len(matches)}"
    return matches[0]


def deployments() -> list[Resource]:
    return of_kind("Deployment")


def deployment_names() -> list[str]:
    return [d["metadata"]["name"] for d in deployments()]


def service_names() -> list[str]:
    return [name for name in deployment_names() if name != GATEWAY]


def pod_spec(deployment: Resource) -> Resource:
    return dict(deployment["spec"]["template"]["spec"])


def pod_labels(deployment: Resource) -> dict[str, str]:
    return dict(deployment["spec"]["template"]["metadata"]["labels"])


def all_containers(deployment: Resource) -> list[Resource]:
    spec = pod_spec(deployment)
    return [*spec.get("initContainers", []), *spec["containers"]]


def is_sidecar(container: Resource) -> bool:
    """A native sidecar: an init container that keeps running beside the app (restartPolicy Always)."""
    return container.get("restartPolicy") == "Always"


def app_container(deployment: Resource) -> Resource:
    (container,) = pod_spec(deployment)["containers"]
    return dict(container)


def env_of(container: Resource) -> dict[str, Resource]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def option(command: list[str], flag: str) -> str:
    """The value after ``flag`` in an argument list (``--flag value`` or ``--flag=value``)."""
    for index, arg in enumerate(command):
        if arg == flag:
            return command[index + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{flag} missing from {command}")


def selects(selector: Resource, labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels/matchExpressions, or a plain map) matches."""
    structured = "matchLabels" in selector or "matchExpressions" in selector
    match_labels = selector.get("matchLabels", {}) if structured else selector
    if any(labels.get(key) != value for key, value in match_labels.items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def selected_deployments(selector: Resource) -> list[Resource]:
    return [d for d in deployments() if selects(selector, pod_labels(d))]


@pytest.fixture(params=deployment_names())
def deployment(request: pytest.FixtureRequest) -> Resource:
    return named("Deployment", request.param)


@pytest.fixture(params=service_names())
def service_deployment(request: pytest.FixtureRequest) -> Resource:
    return named("Deployment", request.param)


# -- kustomizations ------------------------------------------------------------------------------


def referenced_paths(directory: Path) -> Iterator[tuple[str, Path]]:
    doc = kustomization(directory)
    for field in ("resources", "components"):
        for entry in doc.get(field, []):
            yield field, (directory / entry).resolve()
    for patch in doc.get("patches", []):
        if "path" in patch:
            yield "patches", (directory / patch["path"]).resolve()


@pytest.mark.parametrize("directory", KUSTOMIZATION_DIRS, ids=lambda p: str(p.relative_to(K8S)))
def test_every_path_a_kustomization_references_exists(directory: Path) -> None:
    for field, path in referenced_paths(directory):
        assert path.exists(), f"{directory.relative_to(K8S)}: {field} entry {path} does not exist"
        if path.is_dir():
            expected = "Component" if field == "components" else "Kustomization"
            assert kustomization(path)["kind"] == expected, f"{path} is not a {expected}"
        else:
            assert field != "components", f"a component must be a directory: {path}"


@pytest.mark.parametrize("directory", KUSTOMIZATION_DIRS, ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_file_is_referenced(directory: Path) -> None:
    referenced = {path for _, path in referenced_paths(directory)}
    on_disk = yaml_files(directory) + yaml_files(directory / "patches")
    forgotten = [str(p.relative_to(K8S)) for p in on_disk if p.resolve() not in referenced]
    assert not forgotten, f"files no kustomization.yaml lists: {forgotten}"


def test_base_and_components_are_namespace_less() -> None:
    for directory in (d for d in KUSTOMIZATION_DIRS if "overlays" not in d.parts):
        assert "namespace" not in kustomization(directory), directory
    for resource in base_resources():
        assert "namespace" not in resource["metadata"], resource["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_sets_namespace_and_image(overlay: str) -> None:
    doc = kustomization(overlay_dir(overlay))
    (namespace,) = of_kind("Namespace", overlay_resources(overlay))
    assert doc["namespace"] == namespace["metadata"]["name"]
    images = {image["name"]: image for image in doc["images"]}
    for d in deployments():
        for container in all_containers(d):
            assert container["image"] in images, f"{overlay} does not set the image of {container['name']}"


# -- Deployments: the rules of the deploy --------------------------------------------------------


def test_every_process_has_its_own_port() -> None:
    ports = [app_container(d)["ports"][0]["containerPort"] for d in deployments()]
    assert len(ports) == len(set(ports)), ports


def test_deployment_probes(deployment: Resource) -> None:
    container = app_container(deployment)
    port_names = {port["name"] for port in container["ports"]}
    expected = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    for probe, path in expected.items():
        assert probe in container, f"{deployment['metadata']['name']}: no {probe}"
        assert container[probe]["httpGet"]["path"] == path, probe
        assert container[probe]["httpGet"]["port"] in port_names, probe


def test_deployment_runs_non_root_with_read_only_root(deployment: Resource) -> None:
    spec = pod_spec(deployment)
    pod_security = spec["securityContext"]
    assert pod_security["seccompProfile"]["type"] == "RuntimeDefault"
    assert spec["automountServiceAccountToken"] is False
    tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
    for container in all_containers(deployment):
        security = container["securityContext"]
        name = container["name"]
        assert security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is True, name
        assert pod_security.get("runAsUser", 0) != 0, name
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        assert mounts.get("/tmp") in tmp_volumes, f"{name}: /tmp is not a writable emptyDir"


def test_deployment_has_requests_and_limits(deployment: Resource) -> None:
    for container in all_containers(deployment):
        resources = container["resources"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(kind, {})), f"{container['name']}: {kind}"


def test_deployment_drains_on_sigterm(deployment: Resource) -> None:
    spec = pod_spec(deployment)
    container = app_container(deployment)
    command = container["command"]
    # Exec form, uvicorn itself as the process that gets SIGTERM (no shell in between).
    assert isinstance(command, list) and command[0] == "uvicorn", command
    assert option(command, "--host") == "0.0.0.0"
    assert int(option(command, "--port")) == container["ports"][0]["containerPort"]
    assert "--proxy-headers" in command
    assert "--no-access-log" in command  # the app writes the one access line per request
    steps = shutdown_steps(deployment)
    needed = sum(steps.values()) + GRACEFUL_SHUTDOWN_MARGIN_SECONDS
    grace = spec["terminationGracePeriodSeconds"]
    assert grace >= needed, f"{deployment['metadata']['name']}: {steps} + margin = {needed} s > {grace} s"


def settings_of(deployment: Resource) -> ServiceSettings:
    """The process's settings as the manifest configures them (env values, literal or from the base's
    ConfigMaps; Secrets and what the manifest leaves out keep their defaults)."""
    module = app_container(deployment)["command"][1].split(":")[0]  # services.sharing.main
    package = importlib.import_module(module.rsplit(".", 1)[0] + ".settings")
    (cls,) = [
        c
        for c in vars(package).values()
        if isinstance(c, type) and issubclass(c, ServiceSettings) and c.__module__ == package.__name__
    ]
    env = env_of(app_container(deployment))
    values = {}
    for name, entry in env.items():
        ref = entry.get("valueFrom", {}).get("configMapKeyRef")
        if name in cls.model_fields and ("value" in entry or ref):
            values[name] = entry["value"] if "value" in entry else named("ConfigMap", ref["name"])["data"][ref["key"]]
    settings: ServiceSettings = cls.model_construct(**values)
    return settings


def shutdown_steps(deployment: Resource) -> dict[str, float]:
    """Seconds each step of the shutdown may take, one after the other: the preStop sleep (the pod
    leaves the endpoints), uvicorn finishing requests in flight, then every ``*_DRAIN_SECONDS`` of the
    process's settings (the outbox's only where there is a database, the outbox's home)."""
    container = app_container(deployment)
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep", pre_stop
    steps = {
        "preStop": float(pre_stop[1]),
        "uvicorn": float(option(container["command"], "--timeout-graceful-shutdown")),
    }
    settings = settings_of(deployment)
    has_database = "DATABASE_URL" in env_of(container)
    for name in type(settings).model_fields:
        if name.endswith("_DRAIN_SECONDS") and (has_database or name != "OUTBOX_DRAIN_SECONDS"):
            steps[name] = float(getattr(settings, name))
    return steps


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_shutdown_budget_holds_after_each_overlays_patches(overlay: str) -> None:
    for deployment in of_kind("Deployment", rendered(overlay)):
        test_deployment_drains_on_sigterm(deployment)


def test_shutdown_budget_counts_every_drain_and_catches_the_old_grace_period() -> None:
    sharing = copy.deepcopy(named("Deployment", "sharing"))
    steps = shutdown_steps(sharing)
    assert steps == {"preStop": 5, "uvicorn": 20, "OUTBOX_DRAIN_SECONDS": 5, "CLICK_DRAIN_SECONDS": 10}
    # The grace period of before (30 s) could not hold these 40 s: the check says so.
    sharing["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30
    with pytest.raises(AssertionError, match="> 30 s"):
        test_deployment_drains_on_sigterm(sharing)
    # A drain lengthened in the manifest's environment counts too, literal or from a ConfigMap.
    env = app_container(sharing)["env"]
    env.append({"name": "OUTBOX_DRAIN_SECONDS", "value": "12"})
    assert shutdown_steps(sharing)["OUTBOX_DRAIN_SECONDS"] == 12
    ref = {"configMapKeyRef": {"name": "condividi-runtime", "key": "KAFKA_TOPIC_PARTITIONS"}}
    env.append({"name": "CLICK_DRAIN_SECONDS", "valueFrom": ref})
    assert shutdown_steps(sharing)["CLICK_DRAIN_SECONDS"] == 12  # the ConfigMap's "12"
    # The gateway has no outbox (no database): its budget is preStop and uvicorn.
    assert set(shutdown_steps(named("Deployment", GATEWAY))) == {"preStop", "uvicorn"}


def test_deployment_is_scaled_by_its_autoscaler(deployment: Resource) -> None:
    name = deployment["metadata"]["name"]
    assert "replicas" not in deployment["spec"], f"{name}: the HPA owns the replica count"
    hpas = [h for h in of_kind("HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == name]
    assert len(hpas) == 1, name
    assert hpas[0]["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    assert 1 <= hpas[0]["spec"]["minReplicas"] <= hpas[0]["spec"]["maxReplicas"]
    budgets = of_kind("PodDisruptionBudget")
    assert len([p for p in budgets if selects(p["spec"]["selector"], pod_labels(deployment))]) == 1, name


def test_deployment_is_scraped_by_prometheus(deployment: Resource) -> None:
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == app_container(deployment)["ports"][0]["containerPort"]


def test_deployment_selector_and_service_account(deployment: Resource) -> None:
    assert selects(deployment["spec"]["selector"], pod_labels(deployment))
    assert selects(PART_OF, pod_labels(deployment))
    named("ServiceAccount", pod_spec(deployment)["serviceAccountName"])


def test_every_service_selects_a_deployment() -> None:
    for service in of_kind("Service"):
        matches = selected_deployments(service["spec"]["selector"])
        assert len(matches) == 1, f"Service {service['metadata']['name']} selects {len(matches)} Deployments"
        port_names = {p["name"] for p in app_container(matches[0])["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, service["metadata"]["name"]
    served = {selected_deployments(s["spec"]["selector"])[0]["metadata"]["name"] for s in of_kind("Service")}
    assert served == set(deployment_names())


# -- environment ---------------------------------------------------------------------------------


def test_service_environment(service_deployment: Resource) -> None:
    name = service_deployment["metadata"]["name"]
    env = env_of(app_container(service_deployment))
    missing = [var for var in SERVICE_ENV if var not in env]
    assert not missing, f"{name} lacks {missing}"
    assert env["SERVICE_NAME"]["value"] == name
    database = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert database == {"name": f"condividi-{name}-app", "key": "uri"}


def test_service_migrates_its_database_first(service_deployment: Resource) -> None:
    name = service_deployment["metadata"]["name"]
    (migrate,) = [c for c in pod_spec(service_deployment)["initContainers"] if not is_sidecar(c)]
    assert migrate["command"] == ["python", "-m", "condividi.migrations", name]
    assert env_of(migrate)["DATABASE_URL"] == env_of(app_container(service_deployment))["DATABASE_URL"]


def test_gateway_environment() -> None:
    gateway = named("Deployment", GATEWAY)
    env = env_of(app_container(gateway))
    # The gateway calls the services and never touches their databases.
    assert "DATABASE_URL" not in env and "initContainers" not in pod_spec(gateway)
    assert {"SERVICE_NAME", "OIDC_ISSUER", "OIDC_AUDIENCE", "OIDC_JWKS_URL", "LOG_LEVEL"} <= set(env)
    for service in service_names():
        assert f"{service.upper()}_SERVICE_URL" in env


def service_calls() -> Iterator[tuple[Resource, Resource]]:
    """(caller, callee) for every ``*_SERVICE_URL`` a process is given."""
    for caller in deployments():
        for name, entry in env_of(app_container(caller)).items():
            if name.endswith("_SERVICE_URL"):
                match = re.fullmatch(r"http://([a-z0-9-]+):(\d+)/?", entry["value"])
                assert match, f"{caller['metadata']['name']}: {name}={entry['value']}"
                service = named("Service", match[1])
                assert int(match[2]) in {p["port"] for p in service["spec"]["ports"]}, entry
                (callee,) = selected_deployments(service["spec"]["selector"])
                yield caller, callee


def test_every_service_url_names_a_service() -> None:
    assert len(list(service_calls())) >= len(service_names())


def test_sharing_environment() -> None:
    env = env_of(app_container(named("Deployment", "sharing")))
    for var in ("CLICK_HASH_SALT", "SECRET_ENCRYPTION_KEY"):
        assert env[var]["valueFrom"]["secretKeyRef"] == {"name": "condividi-sharing-secrets", "key": var}
    assert "PUBLIC_BASE_URL" in env


def test_sharing_ships_its_spooled_clicks_from_a_sidecar() -> None:
    """The redirect spools clicks into an emptyDir the click shipper sidecar publishes from, as the
    same Kafka user, before the migration has run (it needs no database) and after sharing has stopped."""
    sharing = named("Deployment", "sharing")
    app = env_of(app_container(sharing))
    (shipper,) = [c for c in pod_spec(sharing)["initContainers"] if is_sidecar(c)]
    assert shipper["command"] == ["python", "-m", "services.sharing.shipper"]
    env = env_of(shipper)
    assert app["CLICK_SHIPPER"]["value"] == "external"
    assert env["CLICK_SPOOL_DIR"] == app["CLICK_SPOOL_DIR"]
    spool = app["CLICK_SPOOL_DIR"]["value"]
    mounts = [
        {m["name"] for m in c["volumeMounts"] if m["mountPath"] == spool} for c in (shipper, app_container(sharing))
    ]
    assert mounts[0] == mounts[1] and len(mounts[0]) == 1
    (volume,) = [v for v in pod_spec(sharing)["volumes"] if v["name"] in mounts[0]]
    assert "emptyDir" in volume
    for var in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME"):
        assert env[var] == app[var], var
    assert env["KAFKA_SASL_PASSWORD"] == app["KAFKA_SASL_PASSWORD"]
    assert "DATABASE_URL" not in env


def test_every_config_map_key_reference_resolves() -> None:
    for d in deployments():
        for container in all_containers(d):
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    assert ref["key"] in named("ConfigMap", ref["name"])["data"], (container["name"], ref)


def test_every_database_secret_comes_from_a_postgres_cluster() -> None:
    for name in service_names():
        cluster = named("Cluster", f"condividi-{name}")
        assert cluster["apiVersion"].startswith("postgresql.cnpg.io/")
        assert cluster["spec"]["bootstrap"]["initdb"]["database"] == name
        assert cluster["spec"]["storage"]["size"]
    assert len(of_kind("Cluster")) == len(service_names())


# -- Kafka ---------------------------------------------------------------------------------------


def effective(overlay: str, kind: str, name: str, *path: str) -> Any:
    """A field of a resource after the overlay's patch files that set it (read, not merged)."""
    value = named(kind, name)
    for key in path:
        value = value[key]
    for patch_file in yaml_files(overlay_dir(overlay) / "patches"):
        for patch in load(patch_file):
            if patch["kind"] == kind and patch["metadata"]["name"] == name:
                node: Any = patch
                for key in path:
                    if not isinstance(node, dict) or key not in node:
                        break
                    node = node[key]
                else:
                    value = node
    return value


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_matches_what_the_services_expect(overlay: str) -> None:
    (kafka,) = of_kind("Kafka")
    (pool,) = of_kind("KafkaNodePool")
    cluster = kafka["metadata"]["name"]
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == cluster
    assert {"controller", "broker"} <= set(pool["spec"]["roles"])
    runtime = functools.partial(effective, overlay, "ConfigMap", "condividi-runtime", "data")
    host, port = runtime("KAFKA_BOOTSTRAP_SERVERS").split(":")
    assert host == f"{cluster}-kafka-bootstrap"
    assert int(port) in {listener["port"] for listener in kafka["spec"]["kafka"]["listeners"]}
    brokers = effective(overlay, "KafkaNodePool", pool["metadata"]["name"], "spec", "replicas")
    replication = int(runtime("KAFKA_REPLICATION_FACTOR"))
    min_isr = effective(overlay, "Kafka", cluster, "spec", "kafka", "config", "min.insync.replicas")
    assert min_isr <= replication <= brokers
    assert runtime("KAFKA_ENABLE_IDEMPOTENCE") == "true"


# -- NetworkPolicies -----------------------------------------------------------------------------


def data_pod_labels() -> list[dict[str, str]]:
    """Labels the operators put on the pods of components/data (as CloudNativePG and Strimzi do)."""
    labels = [{"cnpg.io/cluster": c["metadata"]["name"]} for c in of_kind("Cluster")]
    return labels + [kafka_pod_labels(k) for k in of_kind("Kafka")]


def kafka_pod_labels(kafka: Resource) -> dict[str, str]:
    return {"strimzi.io/cluster": kafka["metadata"]["name"], "strimzi.io/kind": "Kafka"}


def network_policies(overlay: str | None = None) -> list[Resource]:
    return of_kind("NetworkPolicy", overlay_resources(overlay) if overlay else None)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_select_existing_pods(overlay: str) -> None:
    for policy in network_policies(overlay):
        name = policy["metadata"]["name"]
        assert selected_deployments(policy["spec"]["podSelector"]), f"{name} selects no pod"
        for rule in [*policy["spec"].get("ingress", []), *policy["spec"].get("egress", [])]:
            for peer in [*rule.get("from", []), *rule.get("to", [])]:
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    pods = [pod_labels(d) for d in deployments()] + data_pod_labels()
                    assert any(selects(peer["podSelector"], labels) for labels in pods), (name, peer)


def test_every_pod_is_denied_by_default_and_has_its_own_policy() -> None:
    deny = named("NetworkPolicy", "default-deny")
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    for d in deployments():
        assert selects(deny["spec"]["podSelector"], pod_labels(d))
        own = named("NetworkPolicy", d["metadata"]["name"])
        assert selected_deployments(own["spec"]["podSelector"]) == [d]


def allowed_from(policy: Resource) -> list[Resource]:
    return [peer for rule in policy["spec"].get("ingress", []) for peer in rule.get("from", [])]


def allowed_to(policy: Resource) -> list[Resource]:
    return [peer for rule in policy["spec"].get("egress", []) for peer in rule.get("to", [])]


def pod_peers(peers: list[Resource]) -> list[Resource]:
    return [peer["podSelector"] for peer in peers if "podSelector" in peer and "namespaceSelector" not in peer]


def test_network_policies_allow_every_service_call() -> None:
    for caller, callee in service_calls():
        caller_policy = named("NetworkPolicy", caller["metadata"]["name"])
        callee_policy = named("NetworkPolicy", callee["metadata"]["name"])
        edge = f"{caller['metadata']['name']} -> {callee['metadata']['name']}"
        assert any(selects(s, pod_labels(callee)) for s in pod_peers(allowed_to(caller_policy))), edge
        assert any(selects(s, pod_labels(caller)) for s in pod_peers(allowed_from(callee_policy))), edge


def test_network_policies_allow_each_service_its_database_and_kafka() -> None:
    (kafka,) = of_kind("Kafka")
    for name in service_names():
        tos = pod_peers(allowed_to(named("NetworkPolicy", name)))
        assert any(selects(s, {"cnpg.io/cluster": f"condividi-{name}"}) for s in tos), f"{name}: database"
        assert any(selects(s, kafka_pod_labels(kafka)) for s in tos), f"{name}: Kafka"


def test_network_policies_reach_kafka_on_its_listener_only() -> None:
    """Whoever may reach Kafka (the gateway too, once it reads events) reaches the TLS listener."""
    (kafka,) = of_kind("Kafka")
    bootstrap_port = int(named("ConfigMap", "condividi-runtime")["data"]["KAFKA_BOOTSTRAP_SERVERS"].split(":")[1])
    assert bootstrap_port in {listener["port"] for listener in kafka["spec"]["kafka"]["listeners"]}
    for policy in network_policies():
        for rule in policy["spec"].get("egress", []):
            if any(selects(peer, kafka_pod_labels(kafka)) for peer in pod_peers(rule.get("to", []))):
                ports = {port.get("port") for port in rule.get("ports", [{}])}
                name = policy["metadata"]["name"]
                assert ports == {bootstrap_port}, f"{name}: Kafka on {ports}, not {bootstrap_port}"


def test_network_policies_let_the_ingress_controller_in() -> None:
    # The gateway, and sharing for the public click redirect.
    for name in (GATEWAY, "sharing"):
        assert any("namespaceSelector" in peer for peer in allowed_from(named("NetworkPolicy", name))), name


# -- which proxies are believed --------------------------------------------------------------------


def test_no_process_believes_x_forwarded_for_from_anyone() -> None:
    texts = {p: p.read_text(encoding="utf-8") for p in [ROOT / "Dockerfile", *sorted(K8S.rglob("*.yaml"))]}
    for path, text in texts.items():
        assert not re.search(r"forwarded[-_]allow[-_]ips\W+\*", text, flags=re.IGNORECASE), path
    for d in deployments():
        command = app_container(d)["command"]
        # uvicorn reads FORWARDED_ALLOW_IPS when the option is absent; an option would override it.
        assert "*" not in command and not any(a.startswith("--forwarded-allow-ips") for a in command), command
        ref = env_of(app_container(d))["FORWARDED_ALLOW_IPS"]["valueFrom"]["configMapKeyRef"]
        assert ref == {"name": "condividi-runtime", "key": "FORWARDED_ALLOW_IPS"}, d["metadata"]["name"]
    dockerfile = texts[ROOT / "Dockerfile"]
    assert '"--no-access-log"' in dockerfile and "ENV FORWARDED_ALLOW_IPS=127.0.0.1" in dockerfile


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_trusts_its_ingress_controllers_range(overlay: str) -> None:
    base = named("ConfigMap", "condividi-runtime")["data"]["FORWARDED_ALLOW_IPS"]
    value = effective(overlay, "ConfigMap", "condividi-runtime", "data", "FORWARDED_ALLOW_IPS")
    assert value != base, f"{overlay} keeps the base's loopback: every click would come from the controller"
    ServiceSettings(FORWARDED_ALLOW_IPS=value)  # what every process checks at start
    networks = [ipaddress.ip_network(entry.strip()) for entry in value.split(",")]
    assert all(n.is_private and n.num_addresses > 1 for n in networks), f"{overlay}: a pod range, got {value}"


# -- overlays ------------------------------------------------------------------------------------


def resolve_pointer(document: Any, pointer: str) -> bool:
    """Whether every step of a JSON pointer but the last exists (the last must exist unless 'add')."""
    node = document
    for step in pointer.strip("/").split("/"):
        if isinstance(node, list):
            if not step.isdigit() or int(step) >= len(node):
                return False
            node = node[int(step)]
        elif isinstance(node, dict) and step in node:
            node = node[step]
        else:
            return False
    return True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_patches_aim_at_existing_resources(overlay: str) -> None:
    resources = overlay_resources(overlay)
    for patch in kustomization(overlay_dir(overlay)).get("patches", []):
        if "path" in patch:
            for doc in load((overlay_dir(overlay) / patch["path"]).resolve()):
                target = named(doc["kind"], doc["metadata"]["name"], resources)
                assert doc["apiVersion"] == target["apiVersion"], patch["path"]
                if doc["kind"] == "Deployment":
                    # A container patched under a wrong name would be added, imageless, to the pod.
                    names = {c["name"] for c in all_containers(target)}
                    for container in pod_spec(doc).get("containers", []):
                        assert container["name"] in names, (patch["path"], container["name"])
        else:
            selector = patch["target"]
            targets = [
                r
                for r in resources
                if r["kind"] == selector["kind"]
                and r["apiVersion"].startswith(selector.get("group", ""))
                and re.fullmatch(selector.get("name", ".*"), r["metadata"]["name"])
            ]
            assert targets, f"{overlay}: inline patch matches nothing: {selector}"
            for operation in yaml.safe_load(patch["patch"]):
                assert operation["op"] in {"add", "replace", "remove", "test"}, operation
                if operation["op"] != "add":
                    for target in targets:
                        found = resolve_pointer(target, operation["path"])
                        assert found, (target["metadata"]["name"], operation)
                if operation["path"].endswith("/resources"):
                    assert {"requests", "limits"} <= set(operation["value"]), operation


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_publishes_the_gateway_and_only_the_redirect_of_sharing(overlay: str) -> None:
    resources = overlay_resources(overlay)
    routes: dict[tuple[str, str], str] = {}
    for ingress in of_kind("Ingress", resources):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = named("Service", backend["name"])
                assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
                routes[(rule["host"], path["path"])] = backend["name"]
    assert GATEWAY in {backend for (_, path), backend in routes.items() if path == "/"}
    sharing_paths = {path for (_, path), backend in routes.items() if backend == "sharing"}
    assert sharing_paths == {"/r/"}
    public = effective(overlay, "ConfigMap", "condividi-runtime", "data", "PUBLIC_BASE_URL")
    host = re.sub(r"^https?://", "", public).rstrip("/")
    assert routes.get((host, "/r/")) == "sharing", f"{overlay}: {public} does not serve /r/"


# -- the image -----------------------------------------------------------------------------------


def test_dockerfile_builds_what_the_manifests_run() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install --no-deps --require-hashes -r" in dockerfile
    assert "requirements.lock" in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    copied = set(re.findall(r"^COPY\s+(?!--from)(\S+?)/?\s", dockerfile, flags=re.MULTILINE))
    for d in deployments():
        module = app_container(d)["command"][1]  # uvicorn <package.module:app>
        assert module.split(".")[0] in copied, f"{module} is not in the image"
    assert "condividi" in copied


DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def test_production_references_images_only_by_digest() -> None:
    """A tag can move (and a registry can be made to serve another image under it); a digest cannot.
    The committed digests are placeholders of the right form that ops replace."""
    images = kustomization(overlay_dir("production"))["images"]
    for image in images:
        assert DIGEST.fullmatch(image.get("digest", "")), f"{image['name']}: no digest"
        assert "newTag" not in image, f"{image['name']}: a tag beside the digest"
    by_digest = {image["name"] for image in images}

    def references(node: Any) -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("image", "imageName") and isinstance(value, str):
                    yield key, value
                else:
                    yield from references(value)
        elif isinstance(node, list):
            for item in node:
                yield from references(item)

    found = list(references(list(rendered("production"))))
    assert any(key == "imageName" for key, _ in found), "no PostgreSQL image in production"
    for key, value in found:
        _, _, digest = value.partition("@")
        if not digest:
            assert key == "image" and value in by_digest, f"{value} is referenced by tag, not by digest"
        else:
            assert DIGEST.fullmatch(digest), f"{value}: not a sha256 digest"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with its kustomize) is not installed")
def test_kustomize_renders_every_production_image_by_digest() -> None:
    """The check above reads the overlay's ``images`` (which the small kustomize here leaves out);
    kustomize itself applies them."""
    command = ["kubectl", "kustomize", str(overlay_dir("production"))]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    found = re.findall(r"^\s*-?\s*(?:image|imageName): (\S+)$", result.stdout, flags=re.MULTILINE)
    assert len(found) >= len(deployments()) + len(of_kind("Cluster")), found
    for value in found:
        assert DIGEST.fullmatch(value.partition("@")[2]), f"{value} is referenced by tag, not by digest"


# -- rendering, as kustomize does it -------------------------------------------------------------


def is_custom(resource: Resource) -> bool:
    """Whether a resource's kind comes from a CRD (Kubernetes' own groups are dot-less or *.k8s.io)."""
    group = resource["apiVersion"].rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


def merge_patch(target: Any, patch: Any, *, by_name: bool) -> Any:
    """JSON merge patch (RFC 7386), which is what kustomize applies to custom resources; with
    ``by_name``, lists of named items merge item by item, as strategic merge does for built-in kinds."""
    if not isinstance(patch, dict) or not isinstance(target, dict):
        if by_name and isinstance(patch, list) and isinstance(target, list) and all("name" in i for i in patch):
            items: list[Any] = copy.deepcopy(target)
            for item in patch:
                index = next((n for n, t in enumerate(items) if t.get("name") == item["name"]), None)
                if index is None:
                    items.append(copy.deepcopy(item))
                else:
                    items[index] = merge_patch(items[index], item, by_name=by_name)
            return items
        return copy.deepcopy(patch)
    fields: dict[str, Any] = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = merge_patch(fields.get(key), value, by_name=by_name)
    return fields


def json_patch(document: Resource, operations: list[Resource]) -> None:
    for operation in operations:
        steps = [s.replace("~1", "/").replace("~0", "~") for s in operation["path"].lstrip("/").split("/")]
        parent: Any = document
        for step in steps[:-1]:
            parent = parent[int(step)] if isinstance(parent, list) else parent[step]
        last, op = steps[-1], operation["op"]
        if op == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        elif op in ("add", "replace") and isinstance(parent, list):
            if last == "-":
                parent.append(copy.deepcopy(operation["value"]))
            elif op == "add":
                parent.insert(int(last), copy.deepcopy(operation["value"]))
            else:
                parent[int(last)] = copy.deepcopy(operation["value"])
        elif op in ("add", "replace"):
            assert op == "add" or last in parent, f"replace of a missing field: {operation}"
            parent[last] = copy.deepcopy(operation["value"])
        else:
            raise AssertionError(f"unsupported patch operation {operation}")


def targeted(resource: Resource, target: Resource) -> bool:
    group = resource["apiVersion"].rpartition("/")[0]
    return (
        resource["kind"] == target.get("kind", resource["kind"])
        and group == target.get("group", group)
        and re.fullmatch(target.get("name", ".*"), resource["metadata"]["name"]) is not None
    )


def build(directory: Path, accumulated: list[Resource]) -> list[Resource]:
    """A kustomization's output: its resources, then each component (adding resources and patching
    all so far), then its own patches. Namespaces and images are left out (no check needs them)."""
    doc = kustomization(directory)
    resources = list(accumulated)
    for entry in doc.get("resources", []):
        path = (directory / entry).resolve()
        resources += build(path, []) if path.is_dir() else [copy.deepcopy(r) for r in load(path)]
    for entry in doc.get("components", []):
        resources = build((directory / entry).resolve(), resources)
    for patch in doc.get("patches", []):
        if "path" in patch:
            for doc_patch in load((directory / patch["path"]).resolve()):
                target = {"kind": doc_patch["kind"], "name": re.escape(doc_patch["metadata"]["name"])}
                resources = [
                    merge_patch(r, doc_patch, by_name=not is_custom(r)) if targeted(r, target) else r for r in resources
                ]
        else:
            operations = yaml.safe_load(patch["patch"])
            for resource in resources:
                if targeted(resource, patch["target"]):
                    json_patch(resource, operations)
    return resources


@functools.cache
def _rendered(overlay: str) -> tuple[Resource, ...]:
    return tuple(build(overlay_dir(overlay), []))


def rendered(overlay: str) -> tuple[Resource, ...]:
    return copy.deepcopy(_rendered(overlay))


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with its kustomize) is not installed")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendering_matches_kustomize_for_custom_resources(overlay: str) -> None:
    """The checks below read the custom resources as rendered here; kustomize renders the same."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(overlay_dir(overlay))], capture_output=True, text=True, timeout=120, check=True
    )
    theirs = {}
    for resource in yaml.safe_load_all(result.stdout):
        if resource and is_custom(resource):
            resource["metadata"].pop("namespace", None)
            theirs[(resource["kind"], resource["metadata"]["name"])] = resource
    ours = {(r["kind"], r["metadata"]["name"]): r for r in rendered(overlay) if is_custom(r)}
    assert ours == theirs


# -- custom resources against their CRDs ---------------------------------------------------------

BARMAN_CLOUD = "barman-cloud.cloudnative-pg.io"
BACKUP_CREDENTIALS = "condividi-backup-s3"

# Kinds whose CRD is not in ../shared/k8s-crds, each with what checks it instead. The Barman Cloud
# plugin's ObjectStore CRD ships with the plugin; test_object_store_is_what_the_plugin_accepts checks
# the fields used against the plugin's documented API.
# The Prometheus Operator's CRDs are not there either: test_service_monitor_scrapes_every_process and
# test_alerts_cover_lag_dead_letters_5xx_and_outbox_age check the structure and what they refer to.
WITHOUT_CRD = {
    ("barmancloud.cnpg.io", "ObjectStore"): "test_object_store_is_what_the_plugin_accepts",
    ("monitoring.coreos.com", "ServiceMonitor"): "test_service_monitor_scrapes_every_process",
    ("monitoring.coreos.com", "PrometheusRule"): "test_alerts_cover_lag_dead_letters_5xx_and_outbox_age",
}


def crd_problems(resource: Resource) -> list[str]:
    """Why the API server would refuse this custom resource, per CRD file that serves its apiVersion."""
    group = resource["apiVersion"].rpartition("/")[0]
    schemas = schemas_for(resource["apiVersion"], resource["kind"])
    where = f"{resource['kind']} {resource['metadata']['name']}"
    if (group, resource["kind"]) in WITHOUT_CRD:
        # Once its CRD is there, validate against it and drop the exception.
        return [f"{where}: {CRD_DIR} now has its CRD; remove it from WITHOUT_CRD"] if schemas else []
    if not schemas:
        return [f"{where}: no CRD in {CRD_DIR} serves {resource['apiVersion']}; add it so the resource is checked"]
    return [f"{where} ({file}) {error}" for file, schema in schemas for error in validate(resource, schema)]


def requires_crds() -> None:
    if not CRD_DIR.is_dir():
        pytest.skip(f"the operators' CRDs are kept beside the repository, in {CRD_DIR}, which is absent")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_custom_resource_is_valid_against_its_crd(overlay: str) -> None:
    requires_crds()
    resources = [r for r in rendered(overlay) if is_custom(r)]
    kinds = {r["kind"] for r in resources}
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "Cluster"} <= kinds, kinds
    problems = [problem for r in resources for problem in crd_problems(r)]
    assert not problems, "\n".join(problems)


def test_documented_manifests_are_valid_against_their_crds() -> None:
    requires_crds()
    examples = readme_manifests()
    assert examples, "deploy/k8s/README.md shows no manifest"
    problems = [problem for r in examples if is_custom(r) for problem in crd_problems(r)]
    assert not problems, "\n".join(problems)


def test_crd_check_refuses_a_misspelt_field_a_wrong_type_and_an_unknown_kind() -> None:
    requires_crds()
    cluster = next(r for r in rendered("production") if r["kind"] == "Cluster")
    cluster["spec"]["storage"]["sise"] = "1Gi"
    cluster["spec"]["instances"] = "3"
    problems = crd_problems(cluster)
    # Three CloudNativePG versions, two mistakes each.
    assert len(problems) == 6 and all("sise" in p or "instances" in p for p in problems), problems
    topic = next(r for r in rendered("production") if r["kind"] == "KafkaTopic")
    topic["spec"]["partitions"] = 0
    assert any("minimum" in p for p in crd_problems(topic))
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}}
    assert "no CRD" in crd_problems(unknown)[0]


# -- backups ---------------------------------------------------------------------------------------


def object_stores(resources: tuple[Resource, ...]) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == "ObjectStore"}


def retention_days(policy: str) -> int:
    match = re.fullmatch(r"([1-9][0-9]*)([dwm])", policy)
    assert match, f"retentionPolicy {policy!r} is not <n>d, <n>w or <n>m"
    return int(match[1]) * {"d": 1, "w": 7, "m": 30}[match[2]]


def test_every_production_database_archives_its_wal_and_is_backed_up_nightly() -> None:
    resources = rendered("production")
    stores = object_stores(resources)
    servers = []
    for cluster in of_kind("Cluster", resources):
        name = cluster["metadata"]["name"]
        # The in-tree barmanObjectStore is deprecated (CloudNativePG 1.26) and removed in 1.32.
        assert "barmanObjectStore" not in cluster["spec"].get("backup", {}), name
        (plugin,) = [p for p in cluster["spec"].get("plugins", []) if p["name"] == BARMAN_CLOUD]
        assert plugin["isWALArchiver"] is True and plugin.get("enabled", True), name
        assert plugin["parameters"]["barmanObjectName"] in stores, name
        servers.append((plugin["parameters"]["barmanObjectName"], plugin["parameters"].get("serverName", name)))
        (scheduled,) = [b for b in of_kind("ScheduledBackup", resources) if b["spec"]["cluster"]["name"] == name]
        spec = scheduled["spec"]
        assert spec["method"] == "plugin" and spec["pluginConfiguration"]["name"] == BARMAN_CLOUD, name
        assert not spec.get("suspend", False), name
        fields = spec["schedule"].split()
        # Six fields, seconds first (not a CronJob's five): once a day.
        assert len(fields) == 6 and all(f.isdigit() for f in fields[:3]) and fields[3:] == ["*", "*", "*"], name
    assert len(servers) == len(set(servers)), f"two clusters write into one folder: {servers}"
    assert len(of_kind("ScheduledBackup", resources)) == len(of_kind("Cluster", resources))


def test_object_store_is_what_the_plugin_accepts() -> None:
    """No CRD to validate against (see WITHOUT_CRD): the fields used, checked against the Barman Cloud
    plugin's API (barmancloud.cnpg.io/v1), and what recovery needs of them."""
    (store,) = object_stores(rendered("production")).values()
    assert store["apiVersion"] == "barmancloud.cnpg.io/v1"
    spec = store["spec"]
    assert set(spec) <= {"configuration", "retentionPolicy", "instanceSidecarConfiguration"}, set(spec)
    assert 7 <= retention_days(spec["retentionPolicy"]) <= 400
    configuration = spec["configuration"]
    known = {"destinationPath", "endpointURL", "endpointCA", "s3Credentials", "azureCredentials"}
    known |= {"googleCredentials", "wal", "data", "tags", "historyTags"}
    # serverName belongs in the Cluster's plugin parameters; the plugin refuses it here.
    assert set(configuration) <= known, set(configuration) - known
    assert re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]+[a-z0-9](/\S*)?", configuration["destinationPath"])
    credentials = configuration["s3Credentials"]
    for field, key in (("accessKeyId", "ACCESS_KEY_ID"), ("secretAccessKey", "ACCESS_SECRET_KEY")):
        assert credentials[field] == {"name": BACKUP_CREDENTIALS, "key": key}
    assert configuration["wal"]["compression"] in {"bzip2", "gzip", "lz4", "snappy", "xz", "zstd"}
    assert configuration["data"]["compression"] in {"bzip2", "gzip", "snappy"}
    assert configuration["wal"]["maxParallel"] >= 1 and configuration["data"]["jobs"] >= 1
    sidecar = spec["instanceSidecarConfiguration"]
    assert set(sidecar) <= {"env", "resources", "retentionPolicyIntervalSeconds", "logLevel", "additionalContainerArgs"}
    assert {"requests", "limits"} <= set(sidecar["resources"])


def test_dev_keeps_no_backups() -> None:
    # No object storage on a laptop cluster: the backups component is production's.
    assert not object_stores(rendered("dev"))
    assert all("plugins" not in c["spec"] for c in of_kind("Cluster", rendered("dev")))


def readme_yaml() -> list[Any]:
    """The YAML documents shown in deploy/k8s/README.md (its ```yaml blocks)."""
    text = (K8S / "README.md").read_text(encoding="utf-8")
    # Blocks may sit indented in a list item; the indentation is the block's, not the YAML's.
    blocks = re.findall(r"^( *)```yaml\n(.*?)^\1```", text, flags=re.MULTILINE | re.DOTALL)
    return [doc for _, block in blocks for doc in yaml.safe_load_all(textwrap.dedent(block))]


def readme_manifests() -> list[Resource]:
    return [doc for doc in readme_yaml() if isinstance(doc, dict) and "kind" in doc]


def readme_patches() -> list[Resource]:
    """Entries for a kustomization's ``patches:`` that the README tells ops to add."""
    return [entry for doc in readme_yaml() if isinstance(doc, list) for entry in doc if "target" in entry]


def test_documented_restore_recovers_a_cluster_to_a_point_in_time_in_place() -> None:
    production = rendered("production")
    stores = object_stores(production)
    restores = [r for r in readme_manifests() if r["kind"] == "Cluster"]
    assert restores, "deploy/k8s/README.md shows no recovery Cluster"
    for restore in restores:
        name = restore["metadata"]["name"]
        original = named("Cluster", name, production)  # same name: the service's Secret and policies hold
        recovery = restore["spec"]["bootstrap"]["recovery"]
        assert "initdb" not in restore["spec"]["bootstrap"]
        initdb = original["spec"]["bootstrap"]["initdb"]
        assert (recovery["database"], recovery["owner"]) == (initdb["database"], initdb["owner"])
        target = datetime.datetime.fromisoformat(recovery["recoveryTarget"]["targetTime"])
        assert target.tzinfo is not None, "a point in time without its zone"
        (source,) = [c for c in restore["spec"]["externalClusters"] if c["name"] == recovery["source"]]
        assert source["plugin"]["name"] == BARMAN_CLOUD
        read_from = source["plugin"]["parameters"]
        assert read_from["barmanObjectName"] in stores
        # The archive it reads is the one the original cluster wrote (its folder is its name).
        original_plugin = next(p for p in original["spec"]["plugins"] if p["name"] == BARMAN_CLOUD)
        assert read_from["serverName"] == original_plugin["parameters"].get("serverName", name)
        # It archives again at once, into a new folder: never into the history it recovers from.
        (archiver,) = [p for p in restore["spec"]["plugins"] if p.get("isWALArchiver")]
        assert archiver["name"] == BARMAN_CLOUD and archiver["parameters"]["barmanObjectName"] in stores
        assert archiver["parameters"]["serverName"] not in {read_from["serverName"], name}
        for field in ("instances", "imageName", "storage", "postgresql", "resources"):
            assert restore["spec"][field] == original["spec"][field], f"{name}: {field} differs from production"
        # The patch that records the restore keeps the next apply archiving where the restore does.
        recorded = copy.deepcopy(original)
        for patch in readme_patches():
            if targeted(recorded, patch["target"]):
                json_patch(recorded, yaml.safe_load(patch["patch"]))
        (kept,) = [p for p in recorded["spec"]["plugins"] if p.get("isWALArchiver")]
        assert kept == archiver, f"{name}: after the documented patch, production archives with {kept}"


# -- Kafka: TLS, logins, ACLs and topics -----------------------------------------------------------

# The gateway's live subscriptions read these topics (read-only), in one consumer group per replica.
GATEWAY_READS = (topic_of("sharing"), topic_of("policy"))
GATEWAY_GROUP_PREFIX = "gateway."


def subscriptions_of(service: str) -> tuple[Subscription, ...]:
    """What the service consumes, from the app itself (services/<name>/main.py)."""
    app = importlib.import_module(f"services.{service}.main").app
    subscriptions: tuple[Subscription, ...] = app.state.subscriptions
    return subscriptions


def expected_acls(service: str) -> set[tuple[str, str, str, str]]:
    """(resource type, name, pattern type, operation) the code of a service needs, and nothing more."""
    acls = {("topic", topic_of(service), "literal", op) for op in ("Write", "Describe")}
    for subscription in subscriptions_of(service):
        acls.add(("group", subscription.group, "literal", "Read"))
        for topic in subscription.topics:
            acls |= {("topic", topic, "literal", op) for op in ("Read", "Describe")}
            acls |= {("topic", dead_letter_topic(topic), "literal", op) for op in ("Write", "Describe")}
    return acls


def acls_of(user: Resource) -> set[tuple[str, str, str, str]]:
    authorization = user["spec"]["authorization"]
    assert authorization["type"] == "simple"
    found = set()
    for acl in authorization["acls"]:
        assert acl.get("type", "allow") == "allow" and acl.get("host", "*") == "*", acl
        resource = acl["resource"]
        for operation in acl["operations"]:
            found.add((resource["type"], resource["name"], resource.get("patternType", "literal"), operation))
    return found


def kafka_user(name: str) -> Resource:
    user = named("KafkaUser", f"condividi-{name}")
    (kafka,) = of_kind("Kafka")
    assert user["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    return user


def test_every_service_has_a_kafka_user_limited_to_its_own_topics_and_groups(service_deployment: Resource) -> None:
    name = service_deployment["metadata"]["name"]
    granted, needed = acls_of(kafka_user(name)), expected_acls(name)
    assert granted == needed, f"{name}: granted beyond its code {granted - needed}, missing {needed - granted}"


def test_gateway_kafka_user_only_reads() -> None:
    granted = acls_of(kafka_user(GATEWAY))
    topics = {(name, op) for kind, name, pattern, op in granted if kind == "topic"}
    assert topics == {(t, op) for t in GATEWAY_READS for op in ("Read", "Describe")}, topics
    groups = {(name, pattern, op) for kind, name, pattern, op in granted if kind == "group"}
    assert groups == {(GATEWAY_GROUP_PREFIX, "prefix", "Read")}, groups
    assert {kind for kind, *_ in granted} == {"topic", "group"}


def test_no_other_kafka_users() -> None:
    users = {u["metadata"]["name"] for u in of_kind("KafkaUser")}
    assert users == {f"condividi-{name}" for name in deployment_names()}


def used_topics() -> set[str]:
    topics = set(GATEWAY_READS)
    for service in service_names():
        topics.add(topic_of(service))
        for subscription in subscriptions_of(service):
            topics |= {t for topic in subscription.topics for t in (topic, dead_letter_topic(topic))}
    return topics


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_topic_and_dead_letter_topic_is_a_kafka_topic_sized_as_the_services_expect(overlay: str) -> None:
    resources = rendered(overlay)
    (kafka,) = of_kind("Kafka", resources)
    topics = {t["spec"].get("topicName", t["metadata"]["name"]): t for t in of_kind("KafkaTopic", resources)}
    assert set(topics) == used_topics()
    runtime = named("ConfigMap", "condividi-runtime", resources)["data"]
    assert not runtime.get("KAFKA_NAMESPACE"), "a namespace prefix would rename every topic and group of the ACLs"
    for name, topic in topics.items():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"], name
        assert topic["spec"]["partitions"] == int(runtime["KAFKA_TOPIC_PARTITIONS"]), f"{overlay}: {name}"
        assert topic["spec"]["replicas"] == int(runtime["KAFKA_REPLICATION_FACTOR"]), f"{overlay}: {name}"
    # The services may not create topics (no Create ACL), nor may the brokers on a whim.
    assert kafka["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False
    assert {"topicOperator", "userOperator"} <= set(kafka["spec"]["entityOperator"])


def test_kafka_listens_only_with_tls_and_scram() -> None:
    (kafka,) = of_kind("Kafka")
    listeners = kafka["spec"]["kafka"]["listeners"]
    for listener in listeners:
        assert listener["tls"] is True, listener["name"]
        assert listener["authentication"]["type"] == "scram-sha-512", listener["name"]
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    runtime = named("ConfigMap", "condividi-runtime")["data"]
    assert (runtime["KAFKA_SECURITY_PROTOCOL"], runtime["KAFKA_SASL_MECHANISM"]) == ("SASL_SSL", "SCRAM-SHA-512")
    # What every process checks at start accepts it.
    ServiceSettings(**runtime, KAFKA_SASL_USERNAME="someone", KAFKA_SASL_PASSWORD="secret")


def test_every_kafka_client_logs_in_as_its_own_user_and_verifies_the_brokers(deployment: Resource) -> None:
    """Every process given Kafka (the gateway too, once it reads events) connects as its KafkaUser."""
    name = deployment["metadata"]["name"]
    container = app_container(deployment)
    env = env_of(container)
    if "KAFKA_BOOTSTRAP_SERVERS" not in env:
        assert name == GATEWAY, f"{name} has no Kafka"
        return
    (kafka,) = of_kind("Kafka")
    for var in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM"):
        assert env[var]["valueFrom"]["configMapKeyRef"] == {"name": "condividi-runtime", "key": var}, name
    user = kafka_user(name)["metadata"]["name"]
    assert env["KAFKA_SASL_USERNAME"]["value"] == user
    # The User Operator writes the password into a Secret named after the user.
    assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": user, "key": "password"}
    ca_file = Path(env["KAFKA_SSL_CAFILE"]["value"])
    (mount,) = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == ca_file.parent]
    assert mount.get("readOnly") is True
    (volume,) = [v for v in pod_spec(deployment)["volumes"] if v["name"] == mount["name"]]
    # Strimzi's cluster CA, which signs the brokers' certificates.
    assert volume["secret"]["secretName"] == f"{kafka['metadata']['name']}-cluster-ca-cert"
    assert {"key": "ca.crt", "path": ca_file.name} in volume["secret"]["items"]


# -- monitoring (Prometheus Operator) --------------------------------------------------------------


def exported_series() -> set[str]:
    """The names of the series the processes export (importing the modules registers them)."""
    importlib.import_module("condividi.service")
    importlib.import_module("services.sharing.links")
    from prometheus_client import REGISTRY

    names = set()
    for metric in REGISTRY.collect():
        names.add(metric.name)
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}.get(metric.type, ())
        names |= {metric.name + suffix for suffix in suffixes}
    return names


def test_service_monitor_scrapes_every_process() -> None:
    """No CRD to validate against (see WITHOUT_CRD): the fields used are the Prometheus Operator's
    (monitoring.coreos.com/v1), and the monitor selects every process's Service on a port it has."""
    (monitor,) = of_kind("ServiceMonitor", rendered("production"))
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    spec = monitor["spec"]
    assert set(spec) <= {"selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels", "sampleLimit"}
    assert "namespaceSelector" not in spec, "the monitor's own namespace, whatever the overlay's"
    selected = [s for s in of_kind("Service") if selects(spec["selector"], s["metadata"].get("labels", {}))]
    assert sorted(s["metadata"]["name"] for s in selected) == sorted(deployment_names())
    endpoint_fields = {"port", "path", "interval", "scrapeTimeout", "scheme", "relabelings", "metricRelabelings"}
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= endpoint_fields, set(endpoint) - endpoint_fields
        assert endpoint["path"] == "/metrics"
        for service in selected:
            assert endpoint["port"] in {p.get("name") for p in service["spec"]["ports"]}, service["metadata"]["name"]
        for field in ("interval", "scrapeTimeout"):
            assert re.fullmatch(r"[0-9]+(ms|s|m|h)", endpoint[field]), endpoint[field]
    assert of_kind("ServiceMonitor", rendered("dev")) == [], "dev clusters need not run the operator"


def test_alerts_cover_lag_dead_letters_5xx_and_outbox_age() -> None:
    """The PrometheusRule's structure (no CRD: see WITHOUT_CRD), and that its expressions name only
    series the code exports, covering what the issue asks to alert on."""
    (rule_set,) = of_kind("PrometheusRule", rendered("production"))
    assert rule_set["apiVersion"] == "monitoring.coreos.com/v1" and set(rule_set["spec"]) == {"groups"}
    exported = exported_series()
    alerts: dict[str, str] = {}
    for group in rule_set["spec"]["groups"]:
        assert set(group) <= {"name", "rules", "interval"} and group["rules"], group.get("name")
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, set(rule)
            assert rule["alert"] not in alerts, f"two alerts named {rule['alert']}"
            alerts[rule["alert"]] = rule["expr"]
            assert rule["labels"]["severity"] in {"warning", "critical"}
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]
            if "for" in rule:
                assert re.fullmatch(r"[0-9]+[smh]", rule["for"]), rule["for"]
            # Series names: what is left of the expression without strings, ranges and PromQL's words.
            bare = re.sub(r'"[^"]*"|\[[^\]]*\]', "", rule["expr"])
            named = {w for w in re.findall(r"[a-z_][a-z0-9_]*", bare) if "_" in w}
            assert named <= exported, f"{rule['alert']}: no such series {named - exported}"
            assert bare.count("(") == bare.count(")"), rule["expr"]
    every = " ".join(alerts.values())
    for series in (
        "consumer_lag_events",
        'events_consumed_total{outcome="dead_lettered"}',
        'http_requests_total{status=~"5.."}',
        "outbox_oldest_unpublished_age_seconds",
    ):
        assert series in every, f"no alert on {series}"
