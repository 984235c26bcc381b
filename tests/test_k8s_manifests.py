"""Checks of the Kubernetes manifests in ``deploy/k8s``, with neither a cluster nor kustomize.

The YAML files are read as they are: the base and the components hold every resource, the overlays
only add a few resources and patches. So the rules of the deploy are checked on the base resources
(probes, drain on SIGTERM, non-root, read-only root, requests and limits, the environment each
process reads), the references between resources are checked to resolve (Services, autoscalers,
disruption budgets and NetworkPolicies select existing pods; ConfigMap and Secret keys exist), and
each overlay's patches are checked to aim at resources, containers and fields that exist.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from condividi.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
COMPONENTS = K8S / "components"
OVERLAYS = ("dev", "production")
KUSTOMIZATION_DIRS = (
    BASE,
    COMPONENTS / "network-policies",
    COMPONENTS / "data",
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
    for directory in KUSTOMIZATION_DIRS[:3]:
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
    graceful = int(option(command, "--timeout-graceful-shutdown"))
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep", pre_stop
    needed = int(pre_stop[1]) + graceful + GRACEFUL_SHUTDOWN_MARGIN_SECONDS
    assert spec["terminationGracePeriodSeconds"] >= needed


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
    (migrate,) = pod_spec(service_deployment)["initContainers"]
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
