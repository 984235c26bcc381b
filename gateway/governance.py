"""The social-media policy and training in GraphQL (issue 6): their types, the admins' connections and
mutations, and the member's own ``acknowledgePolicy`` and ``submitQuizAttempt``. ``Query`` and
``Mutation`` in ``gateway/schema.py`` inherit ``GovernanceQuery`` and ``GovernanceMutation``; ``Me``
reaches ``policy`` and ``training`` here.

As everywhere in the gateway, the policy service decides who may do what: a member acknowledges for
themselves only (the service takes the member from the token), reads only their own quiz attempts, and
never receives a quiz's correct options; the admins' progress figures are null for anyone else.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import strawberry

from gateway.enums import Network, PolicyStatus
from gateway.payloads import InputPaths, UserError, attempt, invalid
from gateway.relay import (
    Connection,
    KeysetList,
    Node,
    global_id_of,
    keyset_connection,
    page_request,
    service_page,
    to_global_id,
)
from gateway.types import Info, absent_is_null, resolver
from services.policy.models import (
    AcknowledgementPublic,
    CertificationPublic,
    MyPolicyStatus,
    MyTrainingModule,
    PolicyProgressPublic,
    PolicyVersionPublic,
    QuizAttemptPublic,
    TrainingModulePublic,
    TrainingProgressPublic,
)

# --- types --------------------------------------------------------------------------------------


@strawberry.type(description="One team's figures: of its members concerned, how many are done.")
class TeamProgress:
    team_id: strawberry.ID | None = strawberry.field(description="The team's global id; null for members in no team.")
    team_name: str
    members: int
    done: int


@strawberry.type(description="How many of the members concerned are done, in all and team by team (admins).")
class Progress:
    members: int = strawberry.field(description="Members concerned, each once whatever their number of teams.")
    done: int
    teams: list[TeamProgress]

    @classmethod
    def from_model(cls, data: PolicyProgressPublic | TrainingProgressPublic) -> Progress:
        return cls(
            members=data.members,
            done=data.done,
            teams=[
                TeamProgress(
                    team_id=to_global_id("Team", t.team_id) if t.team_id is not None else None,
                    team_name=t.team_name,
                    members=t.members,
                    done=t.done,
                )
                for t in data.teams
            ],
        )


@strawberry.type(description="A version of the org's social-media policy (Markdown).")
class PolicyVersion(Node):
    version: int = strawberry.field(description='1, 2, 3...: what members are told to accept ("v3").')
    title: str
    body: str = strawberry.field(description="The policy in Markdown.")
    content_hash: str = strawberry.field(description="SHA-256 of the text; an acknowledgement records it.")
    status: PolicyStatus
    requires_acknowledgement: bool
    target_team_ids: list[strawberry.ID] = strawberry.field(
        description="The teams asked to accept it (global ids); with targetLocations empty too: everyone."
    )
    target_locations: list[str] = strawberry.field(
        description="The locations whose members are asked to accept it, as the roster writes them (matched "
        "ignoring case); with targetTeamIds empty too: everyone."
    )
    created_at: datetime
    published_at: datetime | None
    raw_id: strawberry.Private[uuid.UUID]

    @resolver("Who has accepted this version, team by team (admins; null for anyone else).")
    async def progress(self, info: Info) -> Progress | None:
        data = await absent_is_null(info.context.services.policy.policy_progress(self.raw_id))
        return Progress.from_model(data) if data is not None else None

    @classmethod
    def from_model(cls, data: PolicyVersionPublic) -> PolicyVersion:
        return cls(
            id=to_global_id("PolicyVersion", data.id),
            raw_id=data.id,
            version=data.version,
            title=data.title,
            body=data.body,
            content_hash=data.content_hash,
            status=data.status,
            requires_acknowledgement=data.requires_acknowledgement,
            target_team_ids=[to_global_id("Team", t) for t in data.target_team_ids],
            target_locations=list(data.target_locations),
            created_at=data.created_at,
            published_at=data.published_at,
        )


@strawberry.type(description="The caller's acceptance of a policy version: which text, when.")
class PolicyAcknowledgement:
    policy_version_id: strawberry.ID
    version: int
    content_hash: str
    acknowledged_at: datetime

    @classmethod
    def from_model(cls, data: AcknowledgementPublic) -> PolicyAcknowledgement:
        return cls(
            policy_version_id=to_global_id("PolicyVersion", data.policy_version_id),
            version=data.version,
            content_hash=data.content_hash,
            acknowledged_at=data.acknowledged_at,
        )


@strawberry.type(description="The policy in force and where the caller stands with it.")
class PolicyStanding:
    current: PolicyVersion | None = strawberry.field(description="Null while no version is published.")
    required: bool = strawberry.field(description="The caller must accept `current` before sharing.")
    acknowledged: bool
    acknowledged_at: datetime | None

    @classmethod
    def from_model(cls, data: MyPolicyStatus) -> PolicyStanding:
        return cls(
            current=PolicyVersion.from_model(data.current) if data.current is not None else None,
            required=data.required,
            acknowledged=data.acknowledged,
            acknowledged_at=data.acknowledged_at,
        )


@strawberry.type(description="A lesson of a training module (Markdown).")
class Lesson:
    title: str
    body: str


@strawberry.type(description="A multiple-choice question, without its answer: that never leaves the server.")
class QuizQuestion:
    prompt: str
    options: list[str]
    multiple: bool = strawberry.field(description="More than one option is right: choose them all.")


@strawberry.type(description="A member's certification for a training module.")
class Certification:
    module_id: strawberry.ID
    certified_at: datetime
    expires_at: datetime | None = strawberry.field(description="Null: it does not expire.")

    @classmethod
    def from_model(cls, data: CertificationPublic) -> Certification:
        return cls(
            module_id=to_global_id("TrainingModule", data.module_id),
            certified_at=data.certified_at,
            expires_at=data.expires_at,
        )


@strawberry.type(description="Lessons and a quiz; passing it certifies the member.")
class TrainingModule(Node):
    title: str
    lessons: list[Lesson]
    questions: list[QuizQuestion]
    pass_mark: int = strawberry.field(description="The percentage of right answers that passes.")
    certification_valid_days: int | None = strawberry.field(description="Null: the certification does not expire.")
    required_for_networks: list[Network] = strawberry.field(description="Sharing to these needs the certification.")
    created_at: datetime
    raw_id: strawberry.Private[uuid.UUID]

    @resolver("Who holds a current certification, team by team (admins; null for anyone else).")
    async def progress(self, info: Info) -> Progress | None:
        data = await absent_is_null(info.context.services.policy.training_progress(self.raw_id))
        return Progress.from_model(data) if data is not None else None

    @classmethod
    def from_model(cls, data: TrainingModulePublic) -> TrainingModule:
        return cls(
            id=to_global_id("TrainingModule", data.id),
            raw_id=data.id,
            title=data.title,
            lessons=[Lesson(title=lesson.title, body=lesson.body) for lesson in data.lessons],
            questions=[QuizQuestion(prompt=q.prompt, options=q.options, multiple=q.multiple) for q in data.questions],
            pass_mark=data.pass_mark,
            certification_valid_days=data.certification_valid_days,
            required_for_networks=[Network(n) for n in data.required_for_networks],
            created_at=data.created_at,
        )


@strawberry.type(description="One of the caller's quiz attempts; only its author can read it.")
class QuizAttempt(Node):
    module_id: strawberry.ID
    answers: list[list[int]] = strawberry.field(description="The options chosen, question by question.")
    correct: int = strawberry.field(description="How many questions were answered right (not which).")
    total: int
    score: int = strawberry.field(description="Percent, rounded down.")
    passed: bool
    submitted_at: datetime
    certification: Certification | None = strawberry.field(description="What the attempt earned, if it passed.")

    @classmethod
    def from_model(cls, data: QuizAttemptPublic) -> QuizAttempt:
        return cls(
            id=to_global_id("QuizAttempt", data.id),
            module_id=to_global_id("TrainingModule", data.module_id),
            answers=data.answers,
            correct=data.correct,
            total=data.total,
            score=data.score,
            passed=data.passed,
            submitted_at=data.submitted_at,
            certification=Certification.from_model(data.certification) if data.certification else None,
        )


@strawberry.type(description="Where the caller stands with one training module.")
class TrainingStanding:
    module_id: strawberry.ID
    title: str
    required_for_networks: list[Network]
    attempts: int
    best_score: int | None
    certified: bool = strawberry.field(description="Holds a certification that has not expired.")
    certification: Certification | None

    @classmethod
    def from_model(cls, data: MyTrainingModule) -> TrainingStanding:
        return cls(
            module_id=to_global_id("TrainingModule", data.module_id),
            title=data.title,
            required_for_networks=[Network(n) for n in data.required_for_networks],
            attempts=data.attempts,
            best_score=data.best_score,
            certified=data.certified,
            certification=Certification.from_model(data.certification) if data.certification else None,
        )


async def my_policy(info: Info) -> PolicyStanding:
    return PolicyStanding.from_model(await info.context.services.policy.my_policy_status())


async def my_training(info: Info) -> list[TrainingStanding]:
    status = await info.context.services.policy.my_training_status()
    return [TrainingStanding.from_model(m) for m in status.modules]


# --- node lookup ---------------------------------------------------------------------------------


async def _policy_version(info: Info, raw: uuid.UUID) -> Node | None:
    data = await absent_is_null(info.context.services.policy.get_policy_version(raw))
    return PolicyVersion.from_model(data) if data is not None else None


async def _training_module(info: Info, raw: uuid.UUID) -> Node | None:
    data = await absent_is_null(info.context.services.policy.get_training_module(raw))
    return TrainingModule.from_model(data) if data is not None else None


async def _quiz_attempt(info: Info, raw: uuid.UUID) -> Node | None:
    data = await absent_is_null(info.context.services.policy.get_quiz_attempt(raw))
    return QuizAttempt.from_model(data) if data is not None else None


FETCHERS = {"PolicyVersion": _policy_version, "TrainingModule": _training_module, "QuizAttempt": _quiz_attempt}

# --- inputs and payloads -------------------------------------------------------------------------


@strawberry.input
class DraftPolicyVersionInput:
    title: str
    body: str = strawberry.field(description="The policy in Markdown.")


@strawberry.input
class PublishPolicyVersionInput:
    id: strawberry.ID = strawberry.field(description="The draft's global id.")
    requires_acknowledgement: bool = strawberry.field(
        default=True, description="Members must accept it before they share again."
    )
    team_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list,
        description="Ask the members of these teams (global ids), and those at `locations`; both empty asks everyone.",
    )
    locations: list[str] = strawberry.field(
        default_factory=list,
        description="Ask the members at these locations (the roster's `location`, ignoring case), and those of "
        "`teamIds`; both empty asks everyone.",
    )


@strawberry.input
class AcknowledgePolicyInput:
    policy_version_id: strawberry.ID = strawberry.field(description="The version the caller read and accepts.")
    content_hash: str | None = strawberry.field(
        default=None, description="The `contentHash` of the text the caller read: refused if the text changed."
    )


@strawberry.input
class LessonInput:
    title: str
    body: str = strawberry.field(description="Markdown.")


@strawberry.input
class QuizQuestionInput:
    prompt: str
    options: list[str]
    correct_options: list[int] = strawberry.field(description="Indexes into options; never shown to members.")


@strawberry.input
class CreateTrainingModuleInput:
    title: str
    lessons: list[LessonInput]
    questions: list[QuizQuestionInput]
    pass_mark: int = strawberry.field(description="The percentage of right answers that passes (1-100).")
    certification_valid_days: int | None = strawberry.field(
        default=None, description="How long a certification lasts; null: it does not expire."
    )
    required_for_networks: list[Network] = strawberry.field(
        default_factory=list, description="Sharing to these networks needs the certification."
    )


@strawberry.input
class SubmitQuizAttemptInput:
    module_id: strawberry.ID = strawberry.field(description="The training module's global id.")
    answers: list[list[int]] = strawberry.field(description="For each question in order, the options chosen.")


@strawberry.type
class DraftPolicyVersionPayload:
    policy_version: PolicyVersion | None
    errors: list[UserError]


@strawberry.type
class PublishPolicyVersionPayload:
    policy_version: PolicyVersion | None
    errors: list[UserError]


@strawberry.type
class AcknowledgePolicyPayload:
    acknowledgement: PolicyAcknowledgement | None
    errors: list[UserError]


@strawberry.type
class CreateTrainingModulePayload:
    training_module: TrainingModule | None
    errors: list[UserError]


@strawberry.type
class SubmitQuizAttemptPayload:
    quiz_attempt: QuizAttempt | None
    errors: list[UserError]


# --- operations ---------------------------------------------------------------------------------

POLICY_VERSIONS = KeysetList[PolicyVersionPublic]("policyVersions", lambda v: v.created_at, lambda v: v.id)
TRAINING_MODULES = KeysetList[TrainingModulePublic]("trainingModules", lambda m: m.created_at, lambda m: m.id)


_Resolver = TypeVar("_Resolver", bound=Callable[..., Awaitable[Any]])


def mutation(description: str) -> Callable[[_Resolver], _Resolver]:
    """``@mutation(...)``, typed for mypy (as in schema.py, which this module cannot import)."""
    decorator: Callable[[_Resolver], _Resolver] = strawberry.mutation(description=description)
    return decorator


def _not_a(type_name: str, path: list[str]) -> list[UserError]:
    return invalid(path, f"is not the global id of a {type_name}")


@strawberry.type
class GovernanceQuery:
    @resolver("The social-media policy's versions, newest first: all for admins, the published ones for others.")
    async def policy_versions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[PolicyVersion] | None:
        request = page_request(POLICY_VERSIONS.connection, first=first, after=after, last=last, before=before)
        page = await info.context.services.policy.policy_versions(service_page(request, POLICY_VERSIONS))
        return keyset_connection(request, page.items, page.next_cursor, POLICY_VERSIONS, PolicyVersion.from_model)

    @resolver("The org's training modules, oldest first.")
    async def training_modules(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[TrainingModule] | None:
        request = page_request(TRAINING_MODULES.connection, first=first, after=after, last=last, before=before)
        page = await info.context.services.policy.training_modules(service_page(request, TRAINING_MODULES))
        return keyset_connection(request, page.items, page.next_cursor, TRAINING_MODULES, TrainingModule.from_model)


@strawberry.type
class GovernanceMutation:
    @mutation("Drafts the next version of the social-media policy (admins).")
    async def draft_policy_version(self, info: Info, input: DraftPolicyVersionInput) -> DraftPolicyVersionPayload:
        data, errors = await attempt(
            info.context.services.policy.draft_policy_version(title=input.title, body=input.body), InputPaths()
        )
        version = PolicyVersion.from_model(data) if data is not None else None
        return DraftPolicyVersionPayload(policy_version=version, errors=errors)

    @mutation(
        "Puts a draft in force (admins). With requiresAcknowledgement, the members concerned cannot "
        "share until they have accepted it."
    )
    async def publish_policy_version(self, info: Info, input: PublishPolicyVersionInput) -> PublishPolicyVersionPayload:
        raw = global_id_of("PolicyVersion", input.id)
        teams = [global_id_of("Team", t) for t in input.team_ids]
        errors: list[UserError] = []
        if raw is None:
            errors += _not_a("PolicyVersion", ["input", "id"])
        if any(t is None for t in teams):
            errors += _not_a("Team", ["input", "teamIds"])
        if errors or raw is None:
            return PublishPolicyVersionPayload(policy_version=None, errors=errors)
        paths = InputPaths(renames={"version_id": "id", "team_ids": "teamIds"}, not_found=("input", "id"))
        data, errors = await attempt(
            info.context.services.policy.publish_policy_version(
                raw,
                requires_acknowledgement=input.requires_acknowledgement,
                team_ids=[t for t in teams if t],
                locations=input.locations,
            ),
            paths,
        )
        version = PolicyVersion.from_model(data) if data is not None else None
        return PublishPolicyVersionPayload(policy_version=version, errors=errors)

    @mutation(
        "The caller accepts the policy version in force, for themselves (the member is the caller; "
        "nobody can accept for someone else)."
    )
    async def acknowledge_policy(self, info: Info, input: AcknowledgePolicyInput) -> AcknowledgePolicyPayload:
        raw = global_id_of("PolicyVersion", input.policy_version_id)
        if raw is None:
            return AcknowledgePolicyPayload(
                acknowledgement=None, errors=_not_a("PolicyVersion", ["input", "policyVersionId"])
            )
        paths = InputPaths(renames={"policy_version_id": "policyVersionId"}, not_found=("input", "policyVersionId"))
        data, errors = await attempt(
            info.context.services.policy.acknowledge_policy(raw, content_hash=input.content_hash), paths
        )
        ack = PolicyAcknowledgement.from_model(data) if data is not None else None
        return AcknowledgePolicyPayload(acknowledgement=ack, errors=errors)

    @mutation("Creates a training module with its lessons and quiz (admins).")
    async def create_training_module(self, info: Info, input: CreateTrainingModuleInput) -> CreateTrainingModulePayload:
        data, errors = await attempt(
            info.context.services.policy.create_training_module(
                title=input.title,
                lessons=[{"title": lesson.title, "body": lesson.body} for lesson in input.lessons],
                questions=[
                    {"prompt": q.prompt, "options": q.options, "correct_options": q.correct_options}
                    for q in input.questions
                ],
                pass_mark=input.pass_mark,
                certification_valid_days=input.certification_valid_days,
                required_for_networks=[n.value for n in input.required_for_networks],
            ),
            InputPaths(),
        )
        module = TrainingModule.from_model(data) if data is not None else None
        return CreateTrainingModulePayload(training_module=module, errors=errors)

    @mutation("Grades the caller's answers; a pass certifies the caller.")
    async def submit_quiz_attempt(self, info: Info, input: SubmitQuizAttemptInput) -> SubmitQuizAttemptPayload:
        raw = global_id_of("TrainingModule", input.module_id)
        if raw is None:
            return SubmitQuizAttemptPayload(quiz_attempt=None, errors=_not_a("TrainingModule", ["input", "moduleId"]))
        paths = InputPaths(renames={"module_id": "moduleId"}, not_found=("input", "moduleId"))
        data, errors = await attempt(
            info.context.services.policy.submit_quiz_attempt(raw, answers=input.answers), paths
        )
        result = QuizAttempt.from_model(data) if data is not None else None
        return SubmitQuizAttemptPayload(quiz_attempt=result, errors=errors)
