"""Runs an independent SCIM conformance checker against a real policy service (by hand; see docs/scim.md).

Starts the embedded PostgreSQL and the Tansu broker, a policy service on a fresh database, issues a
provisioning token for a new org, and runs ``scim2 ... test`` from scim2-cli (which runs scim2-tester)
against ``/scim/v2``. scim2-cli is not a dependency of this project: install it in a virtualenv of its
own (``python -m venv /tmp/scim2 && /tmp/scim2/bin/pip install scim2-cli``) and pass its ``scim2``
with ``--scim2``. Prints the checker's report and exits with its status.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from condividi.db import Database
from condividi.devstack.infra import LocalKafka, LocalPostgres, free_port
from condividi.testing import start_process, stop_process, wait_ready
from services.policy import provisioning


async def issue_token(url: str) -> str:
    db = Database(url, producer="policy")
    try:
        async with db.unit_of_work() as uow:
            _, secret = provisioning.issue(uow, uuid.uuid4())
    finally:
        await db.dispose()
    return secret


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scim2", default="scim2", help="the scim2 command of scim2-cli")
    args = parser.parse_args()
    from condividi.migrations import upgrade

    with tempfile.TemporaryDirectory(prefix="scim-conformance-") as work:
        postgres = LocalPostgres(Path(work) / "pg", ephemeral=True)
        kafka = LocalKafka(log_file=Path(work) / "kafka.log")
        process = None
        try:
            postgres.create_database("policy")
            url = postgres.url("policy")
            upgrade("policy", url)
            port = free_port()
            env = {
                "SERVICE_NAME": "policy",
                "DATABASE_URL": url,
                "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
                # SCIM authenticates with provisioning tokens; the OIDC settings are never used here.
                "OIDC_ISSUER": "http://127.0.0.1:1/unused",
                "OIDC_AUDIENCE": "condividi",
                "OIDC_JWKS_URL": "http://127.0.0.1:1/unused",
                "LOG_LEVEL": "WARNING",
            }
            process = start_process("policy", port, env, Path(work) / "policy.log")
            wait_ready(f"http://127.0.0.1:{port}", process)
            token = asyncio.run(issue_token(url))
            result = subprocess.run(
                [args.scim2, "--url", f"http://127.0.0.1:{port}/scim/v2", "test", "--verbose"],
                env={**os.environ, "SCIM_CLI_HEADERS": f"Authorization: Bearer {token}"},
                check=False,
            )
            return result.returncode
        finally:
            if process is not None:
                stop_process(process)
            kafka.stop()
            postgres.stop()


if __name__ == "__main__":
    sys.exit(main())
