"""Governance rules: the social-media policy a member must have accepted and the training they must hold
before sharing, quiz grading, and the progress figures admins read. Pure functions of their inputs, no
I/O: the handler deciding a share and the live check load the same ``Standing`` (``standing.py``) and
ask the same question, so the two cannot disagree.

What a member is told is what they must do next ("Read and accept the social media policy (v3) before
sharing."), because a rejection that only says "not allowed" sends people to the help desk.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.policy.rules import Violation

POLICY_NOT_ACKNOWLEDGED = "policy_not_acknowledged"
CERTIFICATION_MISSING = "certification_missing"
CERTIFICATION_EXPIRED = "certification_expired"

# --- the policy ----------------------------------------------------------------------------------


def content_hash(title: str, body: str) -> str:
    """What an acknowledgement records as "the version the member read": the SHA-256 of the title and
    the Markdown exactly as published, so a document changed after the fact is a different version."""
    return hashlib.sha256(f"{title}\n\n{body}".encode()).hexdigest()


def location_key(location: str) -> str:
    """How a location is compared: an IdP writes "Milan", a CSV "milan ", an admin "MILAN"."""
    return location.strip().casefold()


def distinct_locations(places: Iterable[str]) -> list[str]:
    """Each place once (by ``location_key``), in the order and spelling first given."""
    kept: dict[str, str] = {}
    for place in places:
        kept.setdefault(location_key(place), place)
    return list(kept.values())


@dataclass(frozen=True)
class Target:
    """Whom a policy version asks to accept it: everyone when it names nobody, else the members of one of
    its teams and the members at one of its locations (keys by ``location_key``)."""

    team_ids: frozenset[uuid.UUID] = frozenset()
    locations: frozenset[str] = frozenset()

    @classmethod
    def of(cls, team_ids: Iterable[uuid.UUID] = (), locations: Iterable[str] = ()) -> Target:
        return cls(frozenset(team_ids), frozenset(location_key(place) for place in locations))

    @property
    def everyone(self) -> bool:
        return not self.team_ids and not self.locations

    def at_location(self, member_location: str | None) -> bool:
        return member_location is not None and location_key(member_location) in self.locations

    def includes(self, member_team_ids: Collection[uuid.UUID], member_location: str | None) -> bool:
        return self.everyone or not self.team_ids.isdisjoint(member_team_ids) or self.at_location(member_location)


@dataclass(frozen=True)
class PolicyRequirement:
    """The current published policy version, when it asks for acknowledgement."""

    version: int
    content_hash: str
    target: Target = Target()

    def applies_to(self, member_team_ids: Collection[uuid.UUID], member_location: str | None = None) -> bool:
        return self.target.includes(member_team_ids, member_location)


def policy_violations(
    requirement: PolicyRequirement | None,
    member_team_ids: Collection[uuid.UUID],
    acknowledged_hashes: Collection[str],
    member_location: str | None = None,
) -> list[Violation]:
    """Rejects sharing until the member has accepted the current required version. An acknowledgement
    counts by content hash: accepting a version accepts exactly that text."""
    if requirement is None or not requirement.applies_to(member_team_ids, member_location):
        return []
    if requirement.content_hash in acknowledged_hashes:
        return []
    return [
        Violation(
            POLICY_NOT_ACKNOWLEDGED,
            f"Read and accept the social media policy (v{requirement.version}) before sharing.",
        )
    ]


# --- training ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModuleRule:
    """A training module as the share decision sees it: which networks need its certification."""

    module_id: uuid.UUID
    title: str
    networks: frozenset[str] = frozenset()


def required_modules(
    network: str, modules: Iterable[ModuleRule], also_required: Collection[uuid.UUID] = ()
) -> list[ModuleRule]:
    """The modules a share needs: those its network requires, and ``also_required`` (the certifications
    the shared item asks for; a content campaign will feed them). In the modules' order, each once."""
    return [m for m in modules if network in m.networks or m.module_id in also_required]


def certification_violations(
    required: Sequence[ModuleRule], held: Mapping[uuid.UUID, datetime | None], now: datetime
) -> list[Violation]:
    """``held`` maps a module to the expiry of the member's certification (None: it does not expire)."""
    violations = []
    for module in required:
        if module.module_id not in held:
            violations.append(
                Violation(
                    CERTIFICATION_MISSING,
                    f"Complete the training \u201c{module.title}\u201d and pass its quiz before sharing.",
                )
            )
            continue
        expires_at = held[module.module_id]
        if expires_at is not None and expires_at <= now:
            violations.append(
                Violation(
                    CERTIFICATION_EXPIRED,
                    f"Your certification for \u201c{module.title}\u201d expired on {expires_at:%Y-%m-%d}; "
                    "take the training again before sharing.",
                )
            )
    return violations


@dataclass(frozen=True)
class Standing:
    """What the decision needs to know about the member besides the post, loaded by ``standing.py``."""

    now: datetime
    policy: PolicyRequirement | None = None
    team_ids: frozenset[uuid.UUID] = frozenset()
    location: str | None = None
    acknowledged_hashes: frozenset[str] = frozenset()
    modules: tuple[ModuleRule, ...] = ()
    certifications: Mapping[uuid.UUID, datetime | None] = field(default_factory=dict)
    # The certifications the shared item itself requires (a campaign's); empty until content sends them.
    also_required: frozenset[uuid.UUID] = frozenset()

    def violations(self, network: str) -> list[Violation]:
        required = required_modules(network, self.modules, self.also_required)
        return [
            *policy_violations(self.policy, self.team_ids, self.acknowledged_hashes, self.location),
            *certification_violations(required, self.certifications, self.now),
        ]


# --- quizzes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    prompt: str
    options: tuple[str, ...]
    correct: frozenset[int]  # indexes into options; never leaves the service


@dataclass(frozen=True)
class Grade:
    correct: int
    total: int
    score: int  # percent, rounded down: a pass mark of 80 is never met by 79.9
    passed: bool


class AnswerError(ValueError):
    """An answer sheet that does not fit the quiz; ``index`` is the question it is about, if one."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


def grade(questions: Sequence[Question], answers: Sequence[Collection[int]], pass_mark: int) -> Grade:
    """A question counts as right when exactly its correct options are chosen (choosing every option
    must not earn the point). Raises ``AnswerError`` for a sheet that does not fit the quiz."""
    if len(answers) != len(questions):
        raise AnswerError(f"the quiz has {len(questions)} questions; {len(answers)} answers were given")
    right = 0
    for index, (question, chosen) in enumerate(zip(questions, answers, strict=True)):
        picked = set(chosen)
        if not picked:
            raise AnswerError("choose at least one option", index)
        if len(picked) != len(chosen):
            raise AnswerError("an option is chosen twice", index)
        if any(not 0 <= option < len(question.options) for option in picked):
            raise AnswerError(f"options are numbered 0 to {len(question.options) - 1}", index)
        right += picked == question.correct
    score = right * 100 // len(questions) if questions else 0
    return Grade(correct=right, total=len(questions), score=score, passed=score >= pass_mark)


def certification_expiry(certified_at: datetime, valid_days: int | None) -> datetime | None:
    return certified_at + timedelta(days=valid_days) if valid_days else None


def is_current(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is None or expires_at > now


# --- progress and export -------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterEntry:
    subject: str
    team_ids: frozenset[uuid.UUID]
    location: str | None = None


@dataclass(frozen=True)
class TeamProgress:
    team_id: uuid.UUID | None  # None: members in no team
    team_name: str
    members: int
    done: int


NO_TEAM = "No team"


def progress_by_team(
    roster: Iterable[RosterEntry],
    team_names: Mapping[uuid.UUID, str],
    done: Collection[str],
    target: Target = Target(),
) -> list[TeamProgress]:
    """Of the members concerned (everyone, or those the ``target`` names), how many are ``done``, team by
    team. A member of two teams counts in both. A member concerned by their location counts in all their
    teams; one concerned only by their teams, in the targeted ones (so a target of teams alone lists only
    those). Teams by name, the members of no team last."""
    counts: dict[uuid.UUID | None, list[int]] = {}
    for entry in roster:
        if not target.includes(entry.team_ids, entry.location):
            continue
        teams: Iterable[uuid.UUID | None] = entry.team_ids or {None}
        if not target.everyone and not target.at_location(entry.location):
            teams = [t for t in teams if t in target.team_ids]
        for team in teams:
            tally = counts.setdefault(team, [0, 0])
            tally[0] += 1
            tally[1] += entry.subject in done
    rows = [
        TeamProgress(team, team_names.get(team, NO_TEAM) if team else NO_TEAM, members, finished)
        for team, (members, finished) in counts.items()
    ]
    return sorted(rows, key=lambda row: (row.team_id is None, row.team_name.casefold(), str(row.team_id)))


@dataclass(frozen=True)
class Progress:
    members: int  # each member concerned once, whatever their number of teams
    done: int
    teams: list[TeamProgress]


def progress(
    roster: Iterable[RosterEntry],
    team_names: Mapping[uuid.UUID, str],
    done: Collection[str],
    target: Target = Target(),
) -> Progress:
    concerned = [e for e in roster if target.includes(e.team_ids, e.location)]
    finished = sum(e.subject in done for e in concerned)
    return Progress(len(concerned), finished, progress_by_team(concerned, team_names, done, target))


ACKNOWLEDGEMENT_COLUMNS = (
    "member",
    "email",
    "name",
    "policy_version_id",
    "version",
    "content_hash",
    "acknowledged_at",
)
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection); names and emails come
# from the identity provider and anyone's profile, so such cells are quoted as text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


@dataclass(frozen=True)
class AcknowledgementRow:
    subject: str
    email: str
    name: str
    policy_version_id: uuid.UUID
    version: int
    content_hash: str
    acknowledged_at: datetime


def acknowledgements_csv(rows: Iterable[AcknowledgementRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow(ACKNOWLEDGEMENT_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                _cell(row.subject),
                _cell(row.email),
                _cell(row.name),
                str(row.policy_version_id),
                row.version,
                row.content_hash,
                row.acknowledged_at.isoformat(),
            ]
        )
    return out.getvalue()
