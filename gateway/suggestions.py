"""Employee suggestions in GraphQL (issue 7, item 6): any member suggests a page (``suggestContent``)
and follows their own (``mySuggestions``); curators work through the queue (``suggestions``) and
``acceptSuggestion`` (a draft crediting the suggester) or ``declineSuggestion`` with a reason.
``Query`` and ``Mutation`` in ``gateway/schema.py`` inherit ``SuggestionsQuery`` and
``SuggestionsMutation``; the content service decides who may do what.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import strawberry

from gateway.errors import GatewayError
from gateway.payloads import ConflictError, InputPaths, UserError, attempt, invalid, user_errors
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
from gateway.types import ContentItem, Info, absent_is_null, resolver
from services.content.models import SuggestionPublic, SuggestionStatus

strawberry.enum(
    SuggestionStatus, description="PENDING in the curators' queue until ACCEPTED (a draft) or DECLINED (a reason)."
)


@strawberry.type(description="A page an employee suggested for the library, with a note.")
class Suggestion(Node):
    url: str
    note: str
    status: SuggestionStatus
    suggested_by: str = strawberry.field(description="The suggesting employee's subject: whom metrics credits.")
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decline_reason: str = strawberry.field(description="Why it was declined; empty unless DECLINED.")
    raw_content_id: strawberry.Private[uuid.UUID | None]

    @resolver("The draft it became, once accepted; null before, and for a caller who cannot see the item.")
    async def content_item(self, info: Info) -> ContentItem | None:
        if self.raw_content_id is None:
            return None
        item = await info.context.loaders.content_items.load(self.raw_content_id)
        return ContentItem.from_model(item) if item is not None else None

    @classmethod
    def from_model(cls, data: SuggestionPublic) -> Suggestion:
        return cls(
            id=to_global_id("Suggestion", data.id),
            url=data.url,
            note=data.note,
            status=data.status,
            suggested_by=data.suggested_by,
            created_at=data.created_at,
            decided_by=data.decided_by,
            decided_at=data.decided_at,
            decline_reason=data.decline_reason,
            raw_content_id=data.content_id,
        )


async def _suggestion(info: Info, raw: uuid.UUID) -> Node | None:
    data = await absent_is_null(info.context.services.content.get_suggestion(raw))
    return Suggestion.from_model(data) if data is not None else None


FETCHERS = {"Suggestion": _suggestion}

# --- inputs and payloads -------------------------------------------------------------------------


@strawberry.input
class SuggestContentInput:
    url: str = strawberry.field(description="The page (http or https).")
    note: str = strawberry.field(description="Why colleagues would share it.")


@strawberry.input
class AcceptSuggestionInput:
    id: strawberry.ID
    title: str | None = strawberry.field(default=None, description="The draft's title; default: the page's address.")


@strawberry.input
class DeclineSuggestionInput:
    id: strawberry.ID
    reason: str = strawberry.field(description="Shown to the employee who suggested it.")


@strawberry.type
class SuggestContentPayload:
    suggestion: Suggestion | None
    errors: list[UserError]


@strawberry.type
class AcceptSuggestionPayload:
    suggestion: Suggestion | None
    errors: list[UserError]


@strawberry.type
class DeclineSuggestionPayload:
    suggestion: Suggestion | None
    errors: list[UserError]


# --- operations ---------------------------------------------------------------------------------

SUGGESTIONS = KeysetList[SuggestionPublic]("suggestions", lambda s: s.created_at, lambda s: s.id)
MY_SUGGESTIONS = KeysetList[SuggestionPublic]("mySuggestions", lambda s: s.created_at, lambda s: s.id)

_Resolver = TypeVar("_Resolver", bound=Callable[..., Awaitable[Any]])


def mutation(description: str) -> Callable[[_Resolver], _Resolver]:
    """``@mutation(...)``, typed for mypy (as in schema.py, which this module cannot import)."""
    decorator: Callable[[_Resolver], _Resolver] = strawberry.mutation(description=description)
    return decorator


def _not_a_suggestion() -> list[UserError]:
    return invalid(["input", "id"], "is not the global id of a Suggestion")


@strawberry.type
class SuggestionsQuery:
    @resolver("The org's suggestions, oldest first: the curators' queue (curators and admins).")
    async def suggestions(
        self,
        info: Info,
        status: SuggestionStatus | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Suggestion] | None:
        request = page_request(SUGGESTIONS.connection, first=first, after=after, last=last, before=before)
        page = await info.context.services.content.suggestions(
            service_page(request, SUGGESTIONS), status=status.value if status else None
        )
        return keyset_connection(request, page.items, page.next_cursor, SUGGESTIONS, Suggestion.from_model)

    @resolver("The caller's own suggestions, newest first, with their status and any reason for a decline.")
    async def my_suggestions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Suggestion] | None:
        request = page_request(MY_SUGGESTIONS.connection, first=first, after=after, last=last, before=before)
        page = await info.context.services.content.my_suggestions(service_page(request, MY_SUGGESTIONS))
        return keyset_connection(request, page.items, page.next_cursor, MY_SUGGESTIONS, Suggestion.from_model)


@strawberry.type
class SuggestionsMutation:
    @mutation(
        "Suggests a page for the library (any member). A page already waiting in the queue answers a "
        "ConflictError naming that suggestion."
    )
    async def suggest_content(self, info: Info, input: SuggestContentInput) -> SuggestContentPayload:
        try:
            data = await info.context.services.content.suggest(url=input.url, note=input.note)
        except GatewayError as exc:
            if exc.status != 409:
                return SuggestContentPayload(suggestion=None, errors=user_errors(exc, InputPaths()))
            existing = None
            try:
                existing = await _suggestion(info, uuid.UUID(exc.conflicting_id or ""))
            except ValueError:
                existing = None  # the service named none (or nothing we can read): the conflict stands alone
            conflict = ConflictError(message=exc.message, path=["input", "url"], code=exc.code, conflicting=existing)
            return SuggestContentPayload(suggestion=None, errors=[conflict])
        return SuggestContentPayload(suggestion=Suggestion.from_model(data), errors=[])

    @mutation("Accepts a suggestion (curators and admins): it becomes a draft crediting the suggester.")
    async def accept_suggestion(self, info: Info, input: AcceptSuggestionInput) -> AcceptSuggestionPayload:
        raw = global_id_of("Suggestion", input.id)
        if raw is None:
            return AcceptSuggestionPayload(suggestion=None, errors=_not_a_suggestion())
        paths = InputPaths(renames={"suggestion_id": "id"}, not_found=("input", "id"))
        data, errors = await attempt(info.context.services.content.accept_suggestion(raw, title=input.title), paths)
        return AcceptSuggestionPayload(suggestion=Suggestion.from_model(data) if data else None, errors=errors)

    @mutation("Declines a suggestion (curators and admins) with a reason the employee who suggested it reads.")
    async def decline_suggestion(self, info: Info, input: DeclineSuggestionInput) -> DeclineSuggestionPayload:
        raw = global_id_of("Suggestion", input.id)
        if raw is None:
            return DeclineSuggestionPayload(suggestion=None, errors=_not_a_suggestion())
        paths = InputPaths(renames={"suggestion_id": "id"}, not_found=("input", "id"))
        data, errors = await attempt(info.context.services.content.decline_suggestion(raw, reason=input.reason), paths)
        return DeclineSuggestionPayload(suggestion=Suggestion.from_model(data) if data else None, errors=errors)
