"""DataLoaders: one call to a service for all the keys a GraphQL operation asks for.

The loaders are made once per *operation* by the ``PerOperationLoaders`` extension, not by the context
getter: over HTTP that is the same thing (one request, one operation), but over a websocket the context
is built once for the whole connection, and loaders kept there would serve hour-old cached values to
every later operation (engineering.md, trap 3). A context variable holds them: each operation runs in
its own task, so concurrent operations on one connection never share loaders, and the resolvers'
child tasks (graphql-core gathers list items in tasks) inherit the operation's value.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import TypeVar

from strawberry.dataloader import DataLoader
from strawberry.extensions import SchemaExtension

from gateway.clients import ContentClient, MetricsClient, Services
from gateway.errors import GatewayError
from services.content.models import CaptionChoice, ContentItemPublic
from services.content.previews.models import LinkPreviewPublic
from services.metrics.models import ContentStats
from services.policy.models import ShareDecisionPublic

_current: ContextVar[Loaders | None] = ContextVar("gateway_loaders", default=None)

V = TypeVar("V")


async def _each(ids: list[uuid.UUID], fetch: Callable[[uuid.UUID], Awaitable[V]]) -> list[V | None]:
    """For services without a batch route: the calls of one batch run at once, each id once; what the
    caller may not see (404, 403) is None."""

    async def one(key: uuid.UUID) -> V | None:
        try:
            return await fetch(key)
        except GatewayError as exc:
            if exc.status in (403, 404):
                return None
            raise

    return list(await asyncio.gather(*(one(i) for i in ids)))


class Loaders:
    def __init__(self, services: Callable[[], Services]) -> None:
        # ``services`` is called when a batch is sent, so that an unauthenticated operation can still
        # get its loaders made (its resolvers refuse it before they load anything). The load functions
        # hold ``services``, not ``self``: a loader that pointed back at its Loaders would make a cycle
        # per operation, left to the garbage collector with everything it loaded.
        self.content_stats: DataLoader[uuid.UUID, ContentStats | None] = DataLoader(
            load_fn=lambda ids: _load_content_stats(services(), ids), max_batch_size=MetricsClient.MAX_BATCH
        )
        self.content_items: DataLoader[uuid.UUID, ContentItemPublic | None] = DataLoader(
            load_fn=lambda ids: _each(ids, services().content.get_item), max_batch_size=20
        )
        # (content id, network) -> the caption the caller is offered there (gateway/captions.py).
        self.captions: DataLoader[tuple[uuid.UUID, str], CaptionChoice | None] = DataLoader(
            load_fn=lambda keys: _load_captions(services(), keys), max_batch_size=ContentClient.MAX_CAPTION_BATCH
        )
        self.share_decisions: DataLoader[uuid.UUID, ShareDecisionPublic | None] = DataLoader(
            load_fn=lambda ids: _each(ids, services().policy.share_decision), max_batch_size=20
        )
        self.link_previews: DataLoader[uuid.UUID, LinkPreviewPublic | None] = DataLoader(
            load_fn=lambda ids: _load_link_previews(services(), ids),
            max_batch_size=ContentClient.MAX_PREVIEW_BATCH,
        )


async def _load_captions(services: Services, keys: list[tuple[uuid.UUID, str]]) -> list[CaptionChoice | None]:
    """``GET /api/v1/captions`` once per network asked for, with every item of the batch; an item
    with no caption to offer (or that the caller cannot see) is None."""
    by_network: dict[str, list[uuid.UUID]] = {}
    for content_id, network in keys:
        by_network.setdefault(network, []).append(content_id)
    answers = await asyncio.gather(
        *(services.content.choose_captions(network, ids) for network, ids in by_network.items())
    )
    found = {(c.content_id, c.network.value): c for answer in answers for c in answer}
    return [found.get(key) for key in keys]


async def _load_content_stats(services: Services, content_ids: list[uuid.UUID]) -> list[ContentStats | None]:
    """``POST /api/v1/content-stats/batch`` once for the whole batch; an id metrics does not know
    (nobody shared it yet) is None (the type shows zeros)."""
    found = await services.metrics.content_stats(content_ids)
    by_id = {stats.content_id: stats for stats in found}
    return [by_id.get(i) for i in content_ids]


async def _load_link_previews(services: Services, item_ids: list[uuid.UUID]) -> list[LinkPreviewPublic | None]:
    """``POST /api/v1/link-previews/batch`` once for the whole batch; what the caller may not see is
    None, like an unknown item."""
    found = await services.content.link_previews(item_ids)
    by_id = {preview.item_id: preview for preview in found}
    return [by_id.get(i) for i in item_ids]


def current_loaders() -> Loaders:
    loaders = _current.get()
    if loaders is None:
        raise RuntimeError("DataLoaders exist only while an operation runs (install PerOperationLoaders)")
    return loaders


class PerOperationLoaders(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        # Set in the operation's own task and never reset: the value dies with the task, and a
        # subscription's generator may resume in another context, where ``reset`` would fail.
        _current.set(Loaders(lambda: context.services))
        yield
