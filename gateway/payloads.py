"""Mutation results: one pattern for every mutation (docs/graphql.md).

A mutation takes one ``input`` argument and answers ``<Verb>Payload { <result>, errors: [UserError!]! }``.
``errors`` holds what the user can act on, typed: ``ValidationError`` (with the path of the input field,
in GraphQL terms: ``["input", "text"]``), ``NotFoundError``, ``ConflictError`` (with the object the
request conflicts with, when known), ``PolicyRejectedError`` (with the violations) and
``PermissionDeniedError``. The result is null when ``errors`` is not empty. What the user cannot act
on (no valid token, a service down, a bug) stays in the response's top-level ``errors`` with
``extensions.code``.

The services answer these cases with the one REST error shape; ``user_errors`` translates: a 422's
``details`` (``loc: ["body", "text"]``) become ValidationErrors at ``["input", "text"]``, a 404 a
NotFoundError, a 409 a ConflictError, a 403 a PermissionDeniedError.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import strawberry

from gateway.errors import GatewayError
from gateway.relay import Node
from gateway.types import ContentItem, Member, Share, SocialAccount, Team, Violation

T = TypeVar("T")

# Where a service puts a field in a 422's ``loc``; GraphQL has only the mutation's input.
_LOCATIONS = {"body", "query", "path", "header"}


@strawberry.interface(description="A problem with a mutation's input the user can act on.")
class UserError:
    message: str
    path: list[str] | None = strawberry.field(
        description='The input field at fault, e.g. ["input", "text"]; null when no one field is.'
    )


@strawberry.type(description="An input value is not acceptable.")
class ValidationError(UserError):
    code: str = strawberry.field(description="The service's stable code, e.g. validation_failed.")


@strawberry.type(description="An object the input names does not exist, or is not the caller's to see.")
class NotFoundError(UserError):
    pass


@strawberry.type(description="The request conflicts with the current state (a duplicate, a repeat).")
class ConflictError(UserError):
    code: str = strawberry.field(description="The service's stable code, e.g. conflict or duplicate_share.")
    conflicting: Node | None = strawberry.field(
        description="The existing object, when known (a duplicate share, the connection to that network)."
    )


@strawberry.type(description="The policy refuses the post; the violations say why.")
class PolicyRejectedError(UserError):
    violations: list[Violation]


@strawberry.type(description="The caller's role does not allow this.")
class PermissionDeniedError(UserError):
    pass


USER_ERROR_TYPES = (ValidationError, NotFoundError, ConflictError, PolicyRejectedError, PermissionDeniedError)


def _camel(name: str) -> str:
    head, *rest = re.split(r"[_-]", name)
    return head.lower() + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass(frozen=True)
class InputPaths:
    """How a mutation's service call relates to its input: which input field a path parameter or a
    header came from (by the service's name for it), and which field a 404 is about."""

    renames: Mapping[str, str] = field(default_factory=dict)
    not_found: tuple[str, ...] | None = None

    def of(self, loc: Sequence[str | int]) -> list[str]:
        parts = list(loc)
        if parts and parts[0] in _LOCATIONS:
            parts = parts[1:]
        path = ["input"]
        for part in parts:
            text = str(part)
            path.append(self.renames.get(text.lower(), self.renames.get(text, _camel(text))))
        return path


def user_errors(exc: GatewayError, paths: InputPaths) -> list[UserError]:
    """The typed errors of a service's refusal; an error the user cannot act on is raised again."""
    if exc.status == 422 or exc.status == 400:
        if exc.details:
            return [
                ValidationError(message=str(d["message"]), path=paths.of(d.get("loc", [])), code=exc.code)
                for d in exc.details
            ]
        return [ValidationError(message=exc.message, path=None, code=exc.code)]
    if exc.status == 404:
        if exc.details:
            # The service named the request field that held the unknown id.
            return [NotFoundError(message=exc.message, path=paths.of(d.get("loc", []))) for d in exc.details[:1]]
        return [NotFoundError(message=exc.message, path=list(paths.not_found) if paths.not_found else None)]
    if exc.status == 409:
        return [ConflictError(message=exc.message, path=None, code=exc.code, conflicting=None)]
    if exc.status == 403:
        return [PermissionDeniedError(message=exc.message, path=None)]
    raise exc


async def attempt(call: Awaitable[T], paths: InputPaths) -> tuple[T | None, list[UserError]]:
    """Runs a service call for a mutation: its result, or the user errors it was refused with."""
    try:
        return await call, []
    except GatewayError as exc:
        return None, user_errors(exc, paths)


def invalid(path: list[str], message: str, code: str = "validation_failed") -> list[UserError]:
    return [ValidationError(message=message, path=path, code=code)]


def not_found(path: list[str], what: str) -> list[UserError]:
    return [NotFoundError(message=f"{what} not found", path=path)]


Build = Callable[..., object]

# --- payloads -----------------------------------------------------------------------------------


@strawberry.type
class CreateContentItemPayload:
    content_item: ContentItem | None
    errors: list[UserError]


@strawberry.type
class PublishContentItemPayload:
    content_item: ContentItem | None
    errors: list[UserError]


@strawberry.type
class ShareContentPayload:
    share: Share | None = strawberry.field(description="PENDING_POLICY: follow it with `shareUpdated`.")
    errors: list[UserError]


@strawberry.type
class CreateSocialAccountPayload:
    social_account: SocialAccount | None
    errors: list[UserError]


@strawberry.type
class DeleteSocialAccountPayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The global id of the connection revoked.")
    errors: list[UserError]


@strawberry.type
class CreateTeamPayload:
    team: Team | None
    errors: list[UserError]


@strawberry.type
class CreateMemberPayload:
    member: Member | None
    errors: list[UserError]
