"""A process cache of what the renderer makes once and draws on many invoices (shaped
runs, analysed and shared texts, font subsets, logos): at most `limit` entries, the
least recently used out first, so that what every invoice prints stays while the rare
ones go.

Not `functools.lru_cache`: its keys cannot be listed, and tests check what an invoice
leaves behind in these caches. A read takes no lock (a render is the hot path); an
insert and its eviction take one, as renders run in threads too.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["Lru"]

K = TypeVar("K")
V = TypeVar("V")


class Lru(OrderedDict[K, V], Generic[K, V]):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self._lock = threading.Lock()

    def hit(self, key: K) -> V | None:
        """The entry, marked as just used; None if there is none."""
        value = self.get(key)
        if value is not None:
            try:
                self.move_to_end(key)
            except KeyError:  # another thread's insert just evicted it
                pass
        return value

    def keep(self, key: K, value: V) -> V:
        """Add the entry (evicting the least recently used past the limit); returns it."""
        with self._lock:
            self[key] = value
            while len(self) > self.limit:
                self.popitem(last=False)
        return value
