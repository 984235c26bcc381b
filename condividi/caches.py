"""Caches bounded by the memory they hold, not by a number of entries.

A cap on entries is no cap when a stranger chooses the size of each key (a user agent of a megabyte,
4,096 times over): here each entry costs its key's and value's size, as the caller tells it, plus a
fixed overhead for the slot and the objects, and the least recently used go when the total would pass
the capacity.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# About what CPython spends per entry besides the key's and value's payload: the dict slot, the
# objects' headers, the size kept beside the value.
ENTRY_OVERHEAD_BYTES = 160


class ByteBoundedLRU(Generic[K, V]):
    def __init__(self, capacity_bytes: int) -> None:
        if capacity_bytes < 0:
            raise ValueError("capacity_bytes must not be negative")
        self.capacity_bytes = capacity_bytes
        self.used_bytes = 0
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value, now the most recently used; None when absent."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def peek(self, key: K) -> V | None:
        """The value, leaving the order as it is."""
        entry = self._entries.get(key)
        return None if entry is None else entry[0]

    def put(self, key: K, value: V, size: int) -> None:
        """Stores ``value`` as the most recently used; ``size`` is what key and value hold, in bytes.
        An entry larger than the whole capacity is not stored."""
        cost = size + ENTRY_OVERHEAD_BYTES
        old = self._entries.pop(key, None)
        if old is not None:
            self.used_bytes -= old[1]
        if cost > self.capacity_bytes:
            return
        self._entries[key] = (value, cost)
        self.used_bytes += cost
        while self.used_bytes > self.capacity_bytes:
            _, (_, freed) = self._entries.popitem(last=False)
            self.used_bytes -= freed

    def drop_oldest_while(self, stale: Callable[[V], bool], at_most: int = 8) -> None:
        """Drops least recently used entries while ``stale`` says so (a few at a time, so that a call on a
        hot path stays cheap; entries put in time order then leave in time order)."""
        for _ in range(at_most):
            if not self._entries:
                return
            key, (value, cost) = next(iter(self._entries.items()))
            if not stale(value):
                return
            del self._entries[key]
            self.used_bytes -= cost
