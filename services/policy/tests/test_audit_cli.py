"""``python -m services.policy.audit``: verify and prune from the command line, on the real database."""

import asyncio
import json
import uuid
from datetime import timedelta

import pytest

from condividi.db import Database, utcnow
from condividi.testing import Infra
from services.policy import audit


async def _append(url: str, org: uuid.UUID, ages_in_days: list[int]) -> None:
    db = Database(url, producer="policy")
    try:
        for days in ages_in_days:
            async with db.unit_of_work() as uow:
                await audit.record(
                    uow, org, audit.RULE_CHANGED, "rule-1", "admin", {"days": days}, at=utcnow() - timedelta(days=days)
                )
    finally:
        await db.dispose()


def test_verify_and_prune_from_the_command_line(
    infra: Infra, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = infra.new_database("policy")
    monkeypatch.setenv("DATABASE_URL", url)
    org = uuid.uuid4()
    asyncio.run(_append(url, org, [3000, 10]))

    assert audit.main(["verify", "--org", str(org)]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert checked["ok"] and checked["entries_checked"] == 2

    assert audit.main(["prune", "--all-orgs"]) == 0
    pruned = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert pruned == {"org_id": str(org), "deleted": 1, "through_seq": 1}  # past the default seven years

    assert audit.main(["verify", "--org", str(org)]) == 0
    assert json.loads(capsys.readouterr().out)["first_seq"] == 2

    with pytest.raises(SystemExit):
        audit.main(["verify", "--org", "not-a-uuid"])
