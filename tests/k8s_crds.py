"""Offline validation of custom resources against the CRDs their operators publish.

The CRDs live in ``../shared/k8s-crds`` (outside this repository, several versions of each operator).
A resource is checked against every CRD file of its kind that serves its ``apiVersion``, as the API
server would check it after the operator's CRD is installed: types, enums, patterns, bounds, required
fields, and closed objects (an object with ``properties`` and no ``x-kubernetes-preserve-unknown-fields``
accepts no other field, so a misspelt field fails). ``x-kubernetes-validations`` (CEL rules) are not
evaluated; nothing else in the structural schemas is skipped silently.

The validator is written here rather than taken from ``jsonschema``: CRD schemas are OpenAPI v3
structural schemas with Kubernetes extensions, not JSON Schema, and only this small subset occurs.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
# Beside the repository by convention (DESIGN.md); K8S_CRDS_DIR points elsewhere.
CRD_DIR = Path(os.environ.get("K8S_CRDS_DIR") or ROOT.parent / "shared" / "k8s-crds")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Schema = dict[str, Any]


@dataclass(frozen=True)
class Crd:
    file: str
    group: str
    kind: str
    versions: dict[str, Schema]  # served version -> openAPIV3Schema


@functools.cache
def crds() -> tuple[Crd, ...]:
    found = []
    for path in sorted(CRD_DIR.glob("*.yaml")):
        with path.open(encoding="utf-8") as stream:
            doc = yaml.load(stream, Loader=_Loader)
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        versions = {v["name"]: v["schema"]["openAPIV3Schema"] for v in spec["versions"] if v.get("served")}
        found.append(Crd(path.name, spec["group"], spec["names"]["kind"], versions))
    return tuple(found)


def schemas_for(api_version: str, kind: str) -> list[tuple[str, Schema]]:
    """(CRD file, schema) for every CRD file of this kind that serves this apiVersion."""
    group, _, version = api_version.rpartition("/")
    return [
        (crd.file, crd.versions[version])
        for crd in crds()
        if crd.group == group and crd.kind == kind and version in crd.versions
    ]


def known_kinds() -> set[tuple[str, str]]:
    return {(crd.group, crd.kind) for crd in crds()}


def validate(instance: Any, schema: Schema, path: str = "") -> list[str]:
    """Every way ``instance`` breaks ``schema``, as ``path: problem`` lines (empty when valid)."""
    return list(_errors(instance, schema, path or "<root>"))


def _errors(value: Any, schema: Schema, path: str) -> Iterator[str]:
    if value is None and schema.get("nullable"):
        return
    for combinator in ("allOf", "anyOf", "oneOf"):
        if combinator in schema:
            results = [list(_errors(value, sub, path)) for sub in schema[combinator]]
            passed = sum(1 for r in results if not r)
            if combinator == "allOf" and passed < len(results):
                yield from (e for r in results for e in r)
            elif combinator == "anyOf" and passed == 0:
                yield f"{path}: matches none of anyOf {[r[0] for r in results]}"
            elif combinator == "oneOf" and passed != 1:
                yield f"{path}: matches {passed} branches of oneOf, needs exactly one"
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            yield f"{path}: {value!r} is neither an integer nor a string"
        return
    expected = schema.get("type")
    if expected is not None and not _has_type(value, expected):
        yield f"{path}: {value!r} is not of type {expected}"
        return
    if "enum" in schema and value not in schema["enum"]:
        yield f"{path}: {value!r} is not one of {schema['enum']}"
    if isinstance(value, str):
        yield from _string_errors(value, schema, path)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            yield f"{path}: {value} is below the minimum {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            yield f"{path}: {value} is above the maximum {schema['maximum']}"
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            yield f"{path}: fewer than {schema['minItems']} items"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield f"{path}: more than {schema['maxItems']} items"
        if "items" in schema:
            for index, item in enumerate(value):
                yield from _errors(item, schema["items"], f"{path}[{index}]")
    if isinstance(value, dict):
        yield from _object_errors(value, schema, path)


def _string_errors(value: str, schema: Schema, path: str) -> Iterator[str]:
    if "minLength" in schema and len(value) < schema["minLength"]:
        yield f"{path}: shorter than {schema['minLength']}"
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        yield f"{path}: longer than {schema['maxLength']}"
    if "pattern" in schema and not re.search(schema["pattern"], value):
        yield f"{path}: {value!r} does not match {schema['pattern']}"


def _object_errors(value: dict[str, Any], schema: Schema, path: str) -> Iterator[str]:
    for name in schema.get("required", []):
        if name not in value:
            yield f"{path}: required field {name!r} is missing"
    properties: dict[str, Schema] = schema.get("properties", {})
    additional = schema.get("additionalProperties")
    open_ended = schema.get("x-kubernetes-preserve-unknown-fields") or not properties
    for name, item in value.items():
        where = f"{path}.{name}"
        if name in properties:
            yield from _errors(item, properties[name], where)
        elif isinstance(additional, dict):
            yield from _errors(item, additional, where)
        elif additional is False or not open_ended:
            yield f"{where}: unknown field (allowed here: {sorted(properties)})"


def _has_type(value: Any, expected: str) -> bool:
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    raise AssertionError(f"unknown schema type {expected!r}")
