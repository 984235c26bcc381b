"""graphql-core's executor without the reference cycle it makes for every operation.

The executor gives each field's ``info`` helpers (``info.async_helpers``) that are its own bound
methods, and keeps them: executor -> helpers -> bound method -> executor. Everything the operation
touched hangs off that cycle (its context, loaders, service answers, collected fields: about 95 objects
per operation in the gateway under load), so none of it was freed when the operation ended; the
garbage collector found it later, and its collections were the largest single cost in the gateway's
profile (bench/README.md). Here the helpers reach the executor through a weak reference: while the
operation runs its own coroutines hold the executor, and when it ends everything is freed at once.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Sequence
from typing import Any

from graphql import GraphQLResolveInfoHelpers
from graphql.execution import Executor
from graphql.pyutils import gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class GatewayExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = weak_helpers(self)


def weak_helpers(executor: Executor[Any]) -> GraphQLResolveInfoHelpers:
    """The executor's own ``gather_async_work`` and ``track_async_work``, reached weakly. A helper
    called once the executor is gone (a resolver's leftover work after the operation ended) still
    gathers; there is no operation left to track work for."""
    ref = weakref.ref(executor)

    def gather(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
        alive = ref()
        return alive.gather_async_work(values) if alive is not None else gather_with_cancel(*values)

    def track(values: Sequence[Any]) -> None:
        alive = ref()
        if alive is not None:
            alive.track_async_work(values)

    return GraphQLResolveInfoHelpers(gather=gather, track=track)
