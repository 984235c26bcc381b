"""REST API of training: modules (lessons and a multiple-choice quiz) written by admins, attempts that
members submit for themselves, certifications, the caller's status and the admins' progress figures.

The correct options of a quiz never leave the service: not in a module, not in an attempt's result
(only how many answers were right), so the quiz cannot be read off the API before or after trying."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, func, select

from condividi.db import utcnow
from condividi.errors import ApiError, not_found
from condividi.identity import Caller, CallerDep, Role, require_roles
from condividi.openapi import DocumentedRoute, error_responses
from condividi.pagination import MAX_PAGE_SIZE, Before, Page, read_page
from condividi.service import DatabaseDep
from services.policy import governance
from services.policy.models import (
    Certification,
    CertificationPublic,
    Lesson,
    MyTrainingModule,
    MyTrainingStatus,
    QuestionPublic,
    QuizAttempt,
    QuizAttemptCreate,
    QuizAttemptPublic,
    TrainingModule,
    TrainingModuleCreate,
    TrainingModulePublic,
    TrainingProgressPublic,
)
from services.policy.policies_api import progress_fields
from services.policy.standing import roster

router = APIRouter(prefix="/api/v1", route_class=DocumentedRoute)

Admin = Annotated[Caller, Depends(require_roles(Role.ADMIN))]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=512)]


@router.post(
    "/training-modules",
    status_code=status.HTTP_201_CREATED,
    tags=["training-modules"],
    operation_id="training-modules-create",
)
async def create_training_module(body: TrainingModuleCreate, caller: Admin, db: DatabaseDep) -> TrainingModulePublic:
    """A module with its lessons and quiz, open to members at once. ``required_for_networks``: sharing to
    those networks needs its certification from now on."""
    module = TrainingModule(
        org_id=caller.org_id,
        title=body.title,
        lessons=[lesson.model_dump() for lesson in body.lessons],
        questions=[
            {"prompt": q.prompt, "options": q.options, "correct": sorted(q.correct_options)} for q in body.questions
        ],
        pass_mark=body.pass_mark,
        certification_valid_days=body.certification_valid_days,
        required_for_networks=sorted({str(n) for n in body.required_for_networks}),
        created_by=caller.subject,
        created_at=utcnow(),
    )
    async with db.unit_of_work() as uow:
        uow.session.add(module)
    return module_public(module)


@router.get(
    "/training-modules", tags=["training-modules"], operation_id="training-modules-list", responses=error_responses(400)
)
async def list_training_modules(
    caller: CallerDep, db: DatabaseDep, limit: PageSize = 50, cursor: Cursor = None, before: Before = None
) -> Page[TrainingModulePublic]:
    """The org's modules, oldest first."""
    query = select(TrainingModule).where(col(TrainingModule.org_id) == caller.org_id)
    async with db.read() as session:
        modules, next_cursor = await read_page(
            session,
            query,
            sort=TrainingModule.created_at,
            row_id=TrainingModule.id,
            limit=limit,
            cursor=cursor,
            oldest_first=True,
            before=before,
        )
    return Page[TrainingModulePublic](items=[module_public(m) for m in modules], next_cursor=next_cursor)


@router.get("/training-modules/{module_id}", tags=["training-modules"], operation_id="training-modules-get")
async def get_training_module(module_id: uuid.UUID, caller: CallerDep, db: DatabaseDep) -> TrainingModulePublic:
    async with db.read() as session:
        module = await _module(session, module_id, caller)
    return module_public(module)


@router.post(
    "/training-modules/{module_id}/attempts",
    status_code=status.HTTP_201_CREATED,
    tags=["training-modules"],
    operation_id="training-modules-attempt",
)
async def submit_quiz_attempt(
    module_id: uuid.UUID, body: QuizAttemptCreate, caller: CallerDep, db: DatabaseDep
) -> QuizAttemptPublic:
    """Grades the caller's answers; a pass certifies the caller (a new pass renews the certification)."""
    now = utcnow()
    async with db.unit_of_work() as uow:
        module = await _module(uow.session, module_id, caller)
        questions = [
            governance.Question(q["prompt"], tuple(q["options"]), frozenset(q["correct"])) for q in module.questions
        ]
        try:
            grade = governance.grade(questions, body.answers, module.pass_mark)
        except governance.AnswerError as exc:
            loc: list[str | int] = ["body", "answers"] + ([exc.index] if exc.index is not None else [])
            raise ApiError(422, "validation_failed", str(exc), [{"loc": loc, "message": str(exc)}]) from exc
        attempt = QuizAttempt(
            org_id=caller.org_id,
            module_id=module.id,
            member_subject=caller.subject,
            answers=[sorted(a) for a in body.answers],
            correct=grade.correct,
            total=grade.total,
            score=grade.score,
            passed=grade.passed,
            submitted_at=now,
        )
        uow.session.add(attempt)
        certification = None
        if grade.passed:
            certification = CertificationPublic(
                module_id=module.id,
                certified_at=now,
                expires_at=governance.certification_expiry(now, module.certification_valid_days),
            )
            values = {
                "attempt_id": attempt.id,
                "certified_at": now,
                "expires_at": certification.expires_at,
            }
            await uow.session.execute(
                insert(Certification)
                .values(
                    id=uuid.uuid4(), org_id=caller.org_id, module_id=module.id, member_subject=caller.subject, **values
                )
                .on_conflict_do_update(constraint="certifications_once", set_=values)
            )
    return attempt_public(attempt, certification)


@router.get("/quiz-attempts/{attempt_id}", tags=["quiz-attempts"], operation_id="quiz-attempts-get")
async def get_quiz_attempt(attempt_id: uuid.UUID, caller: CallerDep, db: DatabaseDep) -> QuizAttemptPublic:
    """One of the caller's own attempts. Anyone else's answers 404, admins' included: what a member
    answered is theirs; admins see who is certified in the progress figures."""
    async with db.read() as session:
        attempt = await session.get(QuizAttempt, attempt_id)
        if attempt is None or attempt.org_id != caller.org_id or attempt.member_subject != caller.subject:
            raise not_found("quiz attempt")
        held = await session.scalar(
            select(Certification).where(
                col(Certification.org_id) == caller.org_id, col(Certification.attempt_id) == attempt.id
            )
        )
    return attempt_public(attempt, certification_public(held) if held is not None else None)


@router.get(
    "/training-modules/{module_id}/progress", tags=["training-modules"], operation_id="training-modules-progress"
)
async def training_progress(module_id: uuid.UUID, caller: Admin, db: DatabaseDep) -> TrainingProgressPublic:
    """How many members hold a current certification of the module, team by team."""
    now = utcnow()
    async with db.read() as session:
        module = await _module(session, module_id, caller)
        entries, names = await roster(session, caller.org_id)
        held = await session.scalars(
            select(Certification).where(
                col(Certification.org_id) == caller.org_id, col(Certification.module_id) == module.id
            )
        )
        done = {c.member_subject for c in held.all() if governance.is_current(c.expires_at, now)}
    return TrainingProgressPublic(module_id=module.id, **progress_fields(governance.progress(entries, names, done)))


@router.get("/training-status", tags=["training-status"], operation_id="training-status-get")
async def my_training_status(caller: CallerDep, db: DatabaseDep) -> MyTrainingStatus:
    """Every module of the org, and where the caller stands with each."""
    now = utcnow()
    async with db.read() as session:
        modules = (
            await session.scalars(
                select(TrainingModule)
                .where(col(TrainingModule.org_id) == caller.org_id)
                .order_by(col(TrainingModule.created_at), col(TrainingModule.id))
            )
        ).all()
        tallies = (
            await session.execute(
                select(QuizAttempt.module_id, func.count(), func.max(QuizAttempt.score))
                .where(col(QuizAttempt.org_id) == caller.org_id, col(QuizAttempt.member_subject) == caller.subject)
                .group_by(col(QuizAttempt.module_id))
            )
        ).all()
        held = await session.scalars(
            select(Certification).where(
                col(Certification.org_id) == caller.org_id, col(Certification.member_subject) == caller.subject
            )
        )
        certifications = {c.module_id: c for c in held.all()}
    attempts = {module_id: (count, best) for module_id, count, best in tallies}
    return MyTrainingStatus(
        modules=[
            MyTrainingModule(
                module_id=m.id,
                title=m.title,
                required_for_networks=m.required_for_networks,
                attempts=attempts.get(m.id, (0, None))[0],
                best_score=attempts.get(m.id, (0, None))[1],
                certification=certification_public(certifications[m.id]) if m.id in certifications else None,
                certified=m.id in certifications and governance.is_current(certifications[m.id].expires_at, now),
            )
            for m in modules
        ]
    )


# --- helpers ------------------------------------------------------------------------------------


async def _module(session: AsyncSession, module_id: uuid.UUID, caller: Caller) -> TrainingModule:
    module = await session.get(TrainingModule, module_id)
    if module is None or module.org_id != caller.org_id:
        raise not_found("training module")
    return module


def module_public(module: TrainingModule) -> TrainingModulePublic:
    return TrainingModulePublic(
        id=module.id,
        title=module.title,
        lessons=[Lesson.model_validate(lesson) for lesson in module.lessons],
        # Built field by field: the stored question's "correct" must never reach an answer.
        questions=[
            QuestionPublic(prompt=q["prompt"], options=list(q["options"]), multiple=len(q["correct"]) > 1)
            for q in module.questions
        ],
        pass_mark=module.pass_mark,
        certification_valid_days=module.certification_valid_days,
        required_for_networks=module.required_for_networks,
        created_at=module.created_at,
    )


def certification_public(held: Certification) -> CertificationPublic:
    return CertificationPublic(module_id=held.module_id, certified_at=held.certified_at, expires_at=held.expires_at)


def attempt_public(attempt: QuizAttempt, certification: CertificationPublic | None) -> QuizAttemptPublic:
    return QuizAttemptPublic(
        id=attempt.id,
        module_id=attempt.module_id,
        answers=attempt.answers,
        correct=attempt.correct,
        total=attempt.total,
        score=attempt.score,
        passed=attempt.passed,
        submitted_at=attempt.submitted_at,
        certification=certification,
    )
