"""The roster from a CSV file, for companies without SCIM.

Columns (header row required, names case-insensitive, order free; docs/roster.md):
``email``, ``name`` (required); ``subject`` (the OIDC ``sub``; defaults to the e-mail), ``teams``
(``;``-separated names), ``location``, ``language`` (BCP 47), ``time_zone`` (IANA), ``title``,
``manager_email``, ``roles`` (``;``-separated; defaults to employee), ``active`` (true/false; default true).

``check`` and ``plan`` are pure: the rows, the errors with their line, and the changes against the
current roster. ``run`` reads the roster, plans, and applies in one unit of work or not at all.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import uuid
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from condividi.contracts.policy_pb2 import DeactivationSource, MemberDeactivated, TeamChanged
from condividi.db import Database, UnitOfWork, utcnow
from condividi.errors import ApiError
from condividi.identity import Role
from services.policy import roster
from services.policy.members import reject_waiting_shares
from services.policy.models import CsvImportReport, CsvRowError, Member, Team

MAX_BYTES = 20_000_000
MAX_ROWS = 250_000
REQUIRED = ("email", "name")
OPTIONAL = ("subject", "teams", "location", "language", "time_zone", "title", "manager_email", "roles", "active")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_LIMITS = {"name": 200, "location": 200, "title": 200, "subject": 255, "email": 320, "language": 35, "time_zone": 64}


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@dataclass(frozen=True)
class Row:
    line: int
    subject: str
    email: str
    name: str
    teams: tuple[str, ...] = ()
    location: str | None = None
    language: str | None = None
    time_zone: str | None = None
    title: str | None = None
    manager_email: str | None = None
    roles: tuple[str, ...] = (Role.EMPLOYEE.value,)
    active: bool = True


@dataclass
class Checked:
    rows: list[Row] = field(default_factory=list)
    errors: list[CsvRowError] = field(default_factory=list)
    lines: int = 0


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


def check(raw: bytes) -> Checked:
    """Every row read and checked on its own and against the others; errors carry the file's line."""
    result = Checked()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        result.errors.append(CsvRowError(line=1, reason="the file is not UTF-8 text"))
        return result
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        result.errors.append(CsvRowError(line=1, reason=f"the header cannot be read: {exc}"))
        return result
    if not header:
        result.errors.append(CsvRowError(line=1, reason="the file is empty; the first line must name the columns"))
        return result
    names = [h.strip().lower() for h in header]
    unknown = [n for n in names if n not in REQUIRED + OPTIONAL]
    missing = [n for n in REQUIRED if n not in names]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    problems = []
    if unknown:
        problems.append(f"unknown column(s): {', '.join(unknown)}")
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if duplicated:
        problems.append(f"column(s) named twice: {', '.join(duplicated)}")
    if problems:
        result.errors.append(CsvRowError(line=1, reason="; ".join(problems)))
        return result
    seen_subjects: dict[str, int] = {}
    seen_emails: dict[str, int] = {}
    try:
        for cells in reader:
            line = reader.line_num
            result.lines += 1
            if result.lines > MAX_ROWS:
                result.errors.append(CsvRowError(line=line, reason=f"the file has more than {MAX_ROWS} rows"))
                break
            if not any(c.strip() for c in cells):
                continue  # blank lines are allowed, and ignored
            if len(cells) != len(names):
                result.errors.append(
                    CsvRowError(line=line, reason=f"{len(cells)} values where the header names {len(names)} columns")
                )
                continue
            values = {n: c.strip() for n, c in zip(names, cells, strict=True)}
            row, reasons = _row(line, values)
            if row is not None:
                key, mail = row.subject, row.email.lower()
                if key in seen_subjects:
                    reasons.append(f"subject {key!r} is on line {seen_subjects[key]} already")
                if mail in seen_emails:
                    reasons.append(f"e-mail {row.email!r} is on line {seen_emails[mail]} already")
                seen_subjects.setdefault(key, line)
                seen_emails.setdefault(mail, line)
            if reasons:
                result.errors.append(CsvRowError(line=line, reason="; ".join(reasons)))
            elif row is not None:
                result.rows.append(row)
    except csv.Error as exc:
        result.errors.append(CsvRowError(line=reader.line_num, reason=f"the file cannot be read here: {exc}"))
    return result


def _row(line: int, values: dict[str, str]) -> tuple[Row | None, list[str]]:
    reasons: list[str] = []
    for name, limit in _LIMITS.items():
        if len(values.get(name, "")) > limit:
            reasons.append(f"{name} is longer than {limit} characters")
    if any(ch < " " for value in values.values() for ch in value):
        reasons.append("a value contains control characters")
    email, name = values.get("email", ""), values.get("name", "")
    if not _EMAIL.match(email):
        reasons.append(f"email {email!r} is not an e-mail address" if email else "email is empty")
    if not name:
        reasons.append("name is empty")
    language = values.get("language") or None
    if language and not _LANGUAGE.match(language):
        reasons.append(f"language {language!r} is not a language tag such as en or it-IT")
    zone = values.get("time_zone") or None
    if zone and zone not in _zones():
        reasons.append(f"time_zone {zone!r} is not an IANA time zone such as Europe/Rome")
    manager = values.get("manager_email") or None
    if manager and not _EMAIL.match(manager):
        reasons.append(f"manager_email {manager!r} is not an e-mail address")
    roles = _split(values.get("roles", "")) or [Role.EMPLOYEE.value]
    wrong = [r for r in roles if r.lower() not in Role._value2member_map_]
    if wrong:
        reasons.append(f"unknown role(s) {', '.join(wrong)}; use: {', '.join(r.value for r in Role)}")
    active_text = values.get("active", "").lower()
    if active_text not in ("", "true", "false", "yes", "no", "1", "0"):
        reasons.append(f"active {values.get('active')!r} must be true or false")
    teams = _split(values.get("teams", ""))
    if any(len(t) > 200 for t in teams):
        reasons.append("a team name is longer than 200 characters")
    if reasons:
        return None, reasons
    wanted_roles = {r.lower() for r in roles}
    return (
        Row(
            line=line,
            subject=values.get("subject") or email,
            email=email,
            name=name,
            teams=tuple(dict.fromkeys(teams)),
            location=values.get("location") or None,
            language=language,
            time_zone=zone,
            title=values.get("title") or None,
            manager_email=manager,
            roles=tuple(r.value for r in Role if r.value in wanted_roles),
            active=active_text not in ("false", "no", "0"),
        ),
        [],
    )


_COLUMNS = tuple(c.name for c in Member.__table__.columns)  # type: ignore[attr-defined]


@dataclass
class MemberRow:
    """A member's columns as plain values: the import plans tens of thousands of them, and a plain
    dataclass costs a fraction of an ORM object."""

    id: uuid.UUID
    org_id: uuid.UUID
    subject: str
    email: str
    name: str
    team_id: uuid.UUID | None
    roles: list[str]
    created_at: datetime
    external_id: str | None = None
    active: bool = True
    deleted_at: datetime | None = None
    team_ids: list[uuid.UUID] = field(default_factory=list)
    given_name: str | None = None
    family_name: str | None = None
    location: str | None = None
    language: str | None = None
    time_zone: str | None = None
    department: str | None = None
    title: str | None = None
    employee_number: str | None = None
    manager_id: uuid.UUID | None = None
    source: str = "csv"
    version: int = 1
    updated_at: datetime | None = None

    def values(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in _COLUMNS}


# Columns added to members later (by other features) are not the import's business.
_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(MemberRow))


@dataclass(frozen=True)
class NewTeam:
    id: uuid.UUID
    name: str


@dataclass
class Plan:
    creates: list[MemberRow] = field(default_factory=list)
    updates: list[MemberRow] = field(default_factory=list)
    deactivations: list[MemberRow] = field(default_factory=list)
    new_teams: list[NewTeam] = field(default_factory=list)
    unchanged: int = 0
    errors: list[CsvRowError] = field(default_factory=list)


def plan(org_id: uuid.UUID, rows: list[Row], existing: dict[str, MemberRow], teams: dict[str, uuid.UUID]) -> Plan:
    """The changes the rows make to the roster (``existing`` by subject, ``teams`` by name); pure, and
    the rows it returns are new objects, never the ones passed in."""
    result = Plan()
    now = utcnow()
    teams = dict(teams)
    by_email = {m.email.lower(): m for m in existing.values()}
    planned: dict[str, MemberRow] = {}
    for row in rows:
        for team in row.teams:
            if team not in teams:
                teams[team] = uuid.uuid4()
                result.new_teams.append(NewTeam(teams[team], team))
        current = existing.get(row.subject)
        member = (
            dataclasses.replace(current, team_ids=list(current.team_ids), roles=list(current.roles))
            if current
            else MemberRow(
                id=uuid.uuid4(),
                org_id=org_id,
                subject=row.subject,
                email=row.email,
                name=row.name,
                team_id=None,
                roles=[],
                created_at=now,
            )
        )
        member.email, member.name, member.roles = row.email, row.name, list(row.roles)
        planned[row.subject] = member
        by_email[row.email.lower()] = member
    for row in rows:
        member, current = planned[row.subject], existing.get(row.subject)
        manager = by_email.get(row.manager_email.lower()) if row.manager_email else None
        if row.manager_email and manager is None:
            reason = f"manager_email {row.manager_email!r} is on no row and no member"
            result.errors.append(CsvRowError(line=row.line, reason=reason))
            continue
        if manager is not None and manager.subject == row.subject:
            result.errors.append(CsvRowError(line=row.line, reason="a member cannot be their own manager"))
            continue
        member.team_ids = [teams[t] for t in row.teams]
        member.team_id = member.team_ids[0] if member.team_ids else None
        member.location, member.language, member.time_zone = row.location, row.language, row.time_zone
        member.title, member.active = row.title, row.active
        member.manager_id = manager.id if manager else None
        if current is None:
            member.updated_at = now
            result.creates.append(member)
            continue
        if roster.snapshot(member) == roster.snapshot(current):  # type: ignore[arg-type]
            result.unchanged += 1
            continue
        member.version, member.updated_at = current.version + 1, now
        result.updates.append(member)
        if current.active and not member.active:
            result.deactivations.append(member)
    return result


async def run(db: Database, org_id: uuid.UUID, raw: bytes, *, dry_run: bool) -> CsvImportReport:
    checked = check(raw)
    table = Member.__table__  # type: ignore[attr-defined]
    async with db.unit_of_work() as uow:
        # One import of an org at a time (a lock for the transaction, not on each of its rows), so two
        # imports cannot interleave their plans.
        await uow.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"roster-import:{org_id}"}
        )
        rows = await uow.session.execute(select(table).where(table.c.org_id == org_id))
        existing = {r.subject: MemberRow(**{k: r._mapping[k] for k in _ROW_FIELDS}) for r in rows}
        teams = {
            name: team_id
            for name, team_id in await uow.session.execute(select(Team.name, Team.id).where(col(Team.org_id) == org_id))
        }
        changes = plan(org_id, checked.rows, existing, teams)
        errors = sorted(checked.errors + changes.errors, key=lambda e: e.line)
        report = CsvImportReport(
            dry_run=dry_run,
            applied=False,
            rows=checked.lines,
            created=len(changes.creates),
            updated=len(changes.updates),
            unchanged=changes.unchanged,
            deactivated=len(changes.deactivations),
            errors=errors,
        )
        if dry_run:
            return report
        if errors:
            raise ApiError(
                422,
                "csv_invalid",
                f"{len(errors)} row(s) of the file are not valid; nothing was imported",
                [{"loc": ["body", e.line], "message": e.reason} for e in errors],
            )
        await _apply(uow, org_id, changes, existing)
    return report.model_copy(update={"applied": True})


_BATCH = 2000


async def _apply(uow: UnitOfWork, org_id: uuid.UUID, changes: Plan, existing: dict[str, MemberRow]) -> None:
    session = uow.session
    table = Member.__table__  # type: ignore[attr-defined]
    for team in changes.new_teams:
        await session.execute(insert(Team).values(id=team.id, org_id=org_id, name=team.name, created_at=utcnow()))
        uow.emit(TeamChanged(team_id=str(team.id), name=team.name), org_id=org_id, aggregate_id=team.id)
    for start in range(0, len(changes.creates), _BATCH):
        await session.execute(insert(table), [m.values() for m in changes.creates[start : start + _BATCH]])
    if changes.updates:
        changed = [c for c in _COLUMNS if c not in ("id", "org_id", "created_at")]
        statement = (
            update(table)
            .where(table.c.id == bindparam("member_id"))
            .values({c: bindparam(f"new_{c}") for c in changed})
        )
        for start in range(0, len(changes.updates), _BATCH):
            batch = changes.updates[start : start + _BATCH]
            await session.execute(
                statement, [{"member_id": m.id, **{f"new_{c}": getattr(m, c) for c in changed}} for m in batch]
            )
    subjects = {m.id: m.subject for m in existing.values()} | {m.id: m.subject for m in changes.creates}
    for member in [*changes.creates, *changes.updates]:
        manager = subjects.get(member.manager_id, "") if member.manager_id else ""
        uow.emit(roster.member_event(member, manager), org_id=org_id, aggregate_id=member.id)  # type: ignore[arg-type]
    for member in changes.deactivations:
        uow.emit(
            MemberDeactivated(
                member_id=str(member.id), subject=member.subject, source=DeactivationSource.DEACTIVATION_SOURCE_CSV
            ),
            org_id=org_id,
            aggregate_id=member.id,
        )
        await reject_waiting_shares(uow, member)  # type: ignore[arg-type]
