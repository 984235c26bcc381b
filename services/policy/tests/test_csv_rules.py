"""The CSV import's rules as pure functions: reading rows and planning changes against a roster."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.policy import csv_import


def test_check_reads_quoted_cells_and_defaults() -> None:
    checked = csv_import.check(b'\xef\xbb\xbfEmail,NAME,teams\n"a@acme.example","Rossi, Ann","Sales; Marketing"\n\n')
    assert checked.errors == []
    (row,) = checked.rows
    assert (row.name, row.teams, row.subject, row.roles, row.active) == (
        "Rossi, Ann",
        ("Sales", "Marketing"),
        "a@acme.example",
        ("employee",),
        True,
    )


def test_plan_is_idempotent_and_sees_only_real_changes() -> None:
    org = uuid.uuid4()
    rows = csv_import.check(b"email,name,teams,manager_email\nb@x.io,Bea,Ops,\na@x.io,Ann,Ops,b@x.io\n").rows
    first = csv_import.plan(org, rows, {}, {})
    assert (len(first.creates), len(first.new_teams), first.errors) == (2, 1, [])
    ann = next(m for m in first.creates if m.subject == "a@x.io")
    bea = next(m for m in first.creates if m.subject == "b@x.io")
    assert ann.manager_id == bea.id and ann.team_ids == [first.new_teams[0].id]

    roster = {m.subject: m for m in first.creates}
    teams = {t.name: t.id for t in first.new_teams}
    again = csv_import.plan(org, rows, roster, teams)
    assert (again.creates, again.updates, again.new_teams, again.unchanged) == ([], [], [], 2)

    moved = csv_import.check(b"email,name,teams,active\nb@x.io,Bea,Ops,false\n").rows
    changed = csv_import.plan(org, moved, roster, teams)
    assert [m.subject for m in changed.updates] == ["b@x.io"] == [m.subject for m in changed.deactivations]
    assert changed.updates[0].version == roster["b@x.io"].version + 1
    assert roster["b@x.io"].active is True  # the roster passed in is never changed
    assert datetime.now(UTC) >= changed.updates[0].updated_at  # type: ignore[operator]


def test_a_manager_must_exist_and_not_be_oneself() -> None:
    rows = csv_import.check(b"email,name,manager_email\na@x.io,Ann,ghost@x.io\nb@x.io,Bea,b@x.io\n").rows
    errors = csv_import.plan(uuid.uuid4(), rows, {}, {}).errors
    assert [(e.line, "ghost" in e.reason or "own manager" in e.reason) for e in errors] == [(2, True), (3, True)]
