"""Issue 12, point 6: a schema-driven fuzzer (schemathesis) against each service's OpenAPI document, on
the real running services, with a valid token of every role.

It must find no 5xx, and the documents must say what the servers enforce: input the schema allows is
accepted (control characters, URLs and networks are stated in the schema), every status answered is
documented, a method a path does not have answers 405 with an ``Allow`` listing those it has, and
every response matches its schema.

Bounded and stable: a fixed number of cases per operation, generated deterministically (no seed, no
example database), a few seconds per service."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from condividi.identity import Role
from condividi.testing import RunningSystem

SERVICES = ("content", "policy", "sharing", "metrics")
MAX_EXAMPLES = 8
# Checks that need what a single token cannot give: several users (ignored_auth,
# object_level_authorization; tests/test_tenancy.py covers another org's ids) or resources kept across
# calls that deletion-by-design breaks (use_after_free, ensure_resource_availability).
EXCLUDED_CHECKS = ("ignored_auth", "object_level_authorization", "use_after_free", "ensure_resource_availability")

# Refusals of schema-valid input that no schema can state: an opaque cursor is valid only if this API
# handed it out, and `cursor` and `before` exclude each other, so every keyset list may answer 400
# invalid_cursor (``keyset_lists`` finds them in the service's own document).
CURSOR_REFUSAL = "400"
# Refusals the policy service's schema does not state yet (services/policy was another helper's in
# this change): an email's shape, an http(s) URL, a name that is blank once trimmed.
POLICY_GAPS = {"members-create": "422", "policy-checks-create": "422", "teams-create": "422"}
# What no schema states: a question's correct options must index its own options; a CSV file's rows
# must be the documented columns (an apply with a bad row answers 422 csv_invalid); a compliance rule
# takes the fields of its kind only, and one that cannot work (an empty phrase, a pattern that does not
# compile, runs too long or matches every post, a quiet period overlapping another) is refused.
# A campaign's end must follow its start, and an audience's team ids must name teams of the org
# (422 unknown_teams): content's copy of the teams is state, not schema.
CROSS_FIELD = {
    "training-modules-create": "422",
    "roster-import-csv": "422",
    "campaigns-create": "422",
    "campaigns-update": "422",
    "content-items-set-audience": "422",
    "compliance-rules-create": "422",
    "compliance-rules-replace": "422",
}
# The library (issue 7): times relative to now (a schedule, an expiry or a pin's end in the past), an
# expiry before the publication, an image without its alt text; and on an edit, ``null`` only where it
# clears something (image_url, expires_at), the other fields being optional but never null.
CROSS_FIELD |= {
    "content-items-create": "422",
    "content-items-update": "422",
    "content-items-publish": "422",
    "content-items-pin": "422",
}
# The audit export's range: `until` after `since`, at most 366 days apart.
CROSS_FIELD |= {"audit-export": "422"}
# An item has one caption per (network, language), and a caption for a network fits its limit as the
# network counts.
CROSS_FIELD |= {"captions-replace": "422"}
# Bodies that are text, not JSON: every byte sequence is a string, so there is no schema-violating body
# to refuse (the fuzzer's "wrong type" bodies are JSON), and the file's own checks report bad rows.
TEXT_BODIES = {"roster-import-csv"}


def keyset_lists(document: dict[str, Any]) -> dict[str, str]:
    """The operation ids of the document's keyset-paginated lists (those taking a ``cursor``)."""
    found = {}
    for item in document["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            if any(p.get("name") == "cursor" for p in operation.get("parameters", [])):
                found[operation["operationId"]] = CURSOR_REFUSAL
    return found


def config_file(directory: Path, document: dict[str, Any]) -> Path:
    """The allowances above as schemathesis configuration: each operation's extra expected status."""
    default = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
    lines = []
    for operation_id, status in {**keyset_lists(document), **POLICY_GAPS, **CROSS_FIELD}.items():
        statuses = ", ".join(f'"{s}"' for s in [*default, status])
        lines += [
            "[[operations]]",
            f'include-operation-id = "{operation_id}"',
            f"checks.positive_data_acceptance.expected-statuses = [{statuses}]",
            *(['generation.mode = "positive"'] if operation_id in TEXT_BODIES else []),
            "",
        ]
    path = directory / "schemathesis.toml"
    path.write_text("\n".join(lines))
    return path


@pytest.mark.parametrize("service", SERVICES)
def test_the_fuzzer_finds_nothing(system: RunningSystem, service: str, tmp_path: Path) -> None:
    token = system.issuer.token(org=uuid.uuid4(), roles=list(Role), subject=f"fuzzer-{service}")
    url = system.urls[service]
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config_file(tmp_path, httpx.get(f"{url}/openapi.json", timeout=10).json())),
        "run",
        f"{url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--exclude-checks",
        ",".join(EXCLUDED_CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--workers",
        "1",
        "--no-color",
        "--output-truncate",
        "true",
    ]
    # Run in the test's own folder: schemathesis keeps a cache in its working directory.
    result = subprocess.run(command, capture_output=True, text=True, timeout=150, check=False, cwd=tmp_path)

    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-20_000:]
