"""A small thread-safe memo bounded by bytes of text, least recently used dropped first.

Used for what the gateway would otherwise recompute on every call: keyframe data URLs
(:mod:`~value_spectrum.agents.observe`) and their digests for cache keys
(:mod:`~value_spectrum.agents.cache`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class SizedMemo(Generic[K]):
    """Key -> string, holding at most ``limit`` characters of charged size.

    Each entry is charged a size given at :meth:`put` (the text it keeps alive); an entry larger
    than a quarter of the limit is not kept, so one huge item never flushes the rest.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[K, tuple[str, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> str | None:
        """The memoized value, marked as recently used, or None."""
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            self._items.move_to_end(key)
            return hit[0]

    def put(self, key: K, value: str, size: int) -> None:
        """Keep ``value`` under ``key``, charged ``size``; evict the oldest past the limit."""
        if size > self.limit // 4:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = (value, size)
            self._size += size
            while self._size > self.limit and self._items:
                _, (_, old) = self._items.popitem(last=False)
                self._size -= old

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
            self._size = 0
