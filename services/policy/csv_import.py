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
import io
import re
import uuid
import zoneinfo
from dataclasses import dataclass, field
from functools import cache

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


@dataclass
class Plan:
    creates: list[Member] = field(default_factory=list)
    updates: list[Member] = field(default_factory=list)
    deactivations: list[Member] = field(default_factory=list)
    new_teams: list[Team] = field(default_factory=list)
    unchanged: int = 0
    errors: list[CsvRowError] = field(default_factory=list)


def plan(org_id: uuid.UUID, rows: list[Row], existing: dict[str, Member], teams: dict[str, uuid.UUID]) -> Plan:
    """The changes the rows make to the roster (``existing`` by subject, ``teams`` by name); members are
    fresh objects, never the ones passed in."""
    result = Plan()
    now = utcnow()
    teams = dict(teams)
    by_email = {m.email.lower(): m for m in existing.values()}
    planned: dict[str, Member] = {}
    for row in rows:
        for team in row.teams:
            if team not in teams:
                created = Team(org_id=org_id, name=team, created_at=now)
                teams[team] = created.id
                result.new_teams.append(created)
        current = existing.get(row.subject)
        member = Member(
            id=current.id if current else uuid.uuid4(),
            org_id=org_id,
            subject=row.subject,
            email=row.email,
            name=row.name,
            roles=list(row.roles),
            created_at=current.created_at if current else now,
        )
        planned[row.subject] = member
        by_email[row.email.lower()] = member
    for row in rows:
        member, current = planned[row.subject], existing.get(row.subject)
        manager = by_email.get(row.manager_email.lower()) if row.manager_email else None
        if row.manager_email and manager is None:
            result.errors.append(
                CsvRowError(line=row.line, reason=f"manager_email {row.manager_email!r} is on no row and no member")
            )
            continue
        if manager is not None and manager.subject == row.subject:
            result.errors.append(CsvRowError(line=row.line, reason="a member cannot be their own manager"))
            continue
        member.team_ids = [teams[t] for t in row.teams]
        member.team_id = member.team_ids[0] if member.team_ids else None
        member.location, member.language, member.time_zone = row.location, row.language, row.time_zone
        member.title, member.active, member.source = row.title, row.active, "csv"
        member.manager_id = manager.id if manager else None
        if current is not None:
            for kept in ("external_id", "given_name", "family_name", "department", "employee_number", "deleted_at"):
                setattr(member, kept, getattr(current, kept))
            member.version, member.source = current.version, current.source
            if roster.snapshot(member) == roster.snapshot(current):
                result.unchanged += 1
                continue
            member.version += 1
            member.updated_at = now
            result.updates.append(member)
            if current.active and not member.active:
                result.deactivations.append(member)
        else:
            member.updated_at = now
            result.creates.append(member)
    return result


_COLUMNS = [c.name for c in Member.__table__.columns]  # type: ignore[attr-defined]


def _values(member: Member) -> dict[str, object]:
    return {name: getattr(member, name) for name in _COLUMNS}


async def run(db: Database, org_id: uuid.UUID, raw: bytes, *, dry_run: bool) -> CsvImportReport:
    checked = check(raw)
    async with db.unit_of_work() as uow:
        existing = {
            m.subject: m
            for m in await uow.session.scalars(select(Member).where(col(Member.org_id) == org_id).with_for_update())
        }
        teams = {
            name: team_id
            for name, team_id in (
                await uow.session.execute(select(Team.name, Team.id).where(col(Team.org_id) == org_id))
            )
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


async def _apply(uow: UnitOfWork, org_id: uuid.UUID, changes: Plan, existing: dict[str, Member]) -> None:
    session = uow.session
    for team in changes.new_teams:
        await session.execute(
            insert(Team).values(id=team.id, org_id=org_id, name=team.name, created_at=team.created_at)
        )
        uow.emit(TeamChanged(team_id=str(team.id), name=team.name), org_id=org_id, aggregate_id=team.id)
    if changes.creates:
        for start in range(0, len(changes.creates), 2000):
            await session.execute(insert(Member), [_values(m) for m in changes.creates[start : start + 2000]])
    if changes.updates:
        for member in changes.updates:
            # Rows of the member's own identity map entry: update them so the session's state agrees.
            current = existing[member.subject]
            for name in _COLUMNS:
                setattr(current, name, getattr(member, name))
        await session.flush()
    subjects = {m.id: m.subject for m in existing.values()} | {m.id: m.subject for m in changes.creates}
    for member in [*changes.creates, *changes.updates]:
        manager = subjects.get(member.manager_id, "") if member.manager_id else ""
        uow.emit(roster.member_event(member, manager), org_id=org_id, aggregate_id=member.id)
    for member in changes.deactivations:
        uow.emit(
            MemberDeactivated(
                member_id=str(member.id), subject=member.subject, source=DeactivationSource.DEACTIVATION_SOURCE_CSV
            ),
            org_id=org_id,
            aggregate_id=member.id,
        )
        await reject_waiting_shares(uow, member)
