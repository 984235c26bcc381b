"""DataLoaders: one call to a service for all the keys a GraphQL operation asks for.

The loaders are made once per *operation* by the ``PerOperationLoaders`` extension, not by the context
getter: over HTTP that is the same thing (one request, one operation), but over a websocket the context
is built once for the whole connection, and loaders kept there would serve hour-old cached values to
every later operation (engineering.md, trap 3). A context variable holds them: each operation runs in
its own task, so concurrent operations on one connection never share loaders, and the resolvers'
child tasks (graphql-core gathers list items in tasks) inherit the operation's value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextvars import ContextVar

from strawberry.dataloader import DataLoader
from strawberry.extensions import SchemaExtension

from gateway.clients import ContentStatsData, MetricsClient, Services, canonical_id

_current: ContextVar[Loaders | None] = ContextVar("gateway_loaders", default=None)


class Loaders:
    def __init__(self, services: Callable[[], Services]) -> None:
        # ``services`` is called when a batch is sent, so that an unauthenticated operation can still
        # get its loaders made (its resolvers refuse it before they load anything).
        self._services = services
        self.content_stats: DataLoader[str, ContentStatsData] = DataLoader(
            load_fn=self._load_content_stats, max_batch_size=MetricsClient.MAX_BATCH
        )

    async def _load_content_stats(self, content_ids: list[str]) -> list[ContentStatsData]:
        """``POST /api/v1/content-stats/batch`` once for the whole batch; an id metrics does not know
        (nobody shared it yet) gets zeros."""
        found = await self._services().metrics.content_stats(content_ids)
        by_id = {canonical_id(stats.content_id): stats for stats in found}
        return [by_id.get(canonical_id(i)) or ContentStatsData.zero(i) for i in content_ids]


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
