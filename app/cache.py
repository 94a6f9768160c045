"""A small in-process cache with a lifetime per entry: computed layers, and the vector tiles'
principals and municipalities (app.gis.tiles, app.auth.deps)."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class TtlCache(Generic[T]):
    """Values by key, each for its own number of seconds, at most ``size`` of them (least
    recently used dropped first). Concurrent requests for a missing value (a map asks for a
    dozen tiles at once) wait for one computation instead of each running it. Per process:
    with several workers each keeps its own."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[float, T]] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, *, ttl: float, build: Callable[[], T]) -> T:
        """The fresh value for ``key``, built by ``build()`` when missing or expired."""
        value = self.peek(key)
        if value is not None:
            return value
        with self._lock:
            key_lock = self._building.setdefault(key, threading.Lock())
        try:
            with key_lock:
                value = self.peek(key)  # built by another request while this one waited
                if value is None:
                    value = build()
                    self.put(key, value, ttl=ttl)
        finally:  # also when build() raised: no lock left behind for the key, and not another's
            with self._lock:
                if self._building.get(key) is key_lock:
                    del self._building[key]
        return value

    def put(self, key: Hashable, value: T, *, ttl: float) -> None:
        """Keep ``value`` for ``key`` for ``ttl`` seconds (replacing what was there)."""
        with self._lock:
            self._entries[key] = (time.monotonic() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def peek(self, key: Hashable) -> T | None:
        """The value for ``key`` if it is there and fresh, else None (nothing is built)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= time.monotonic():
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def discard(self, key: Hashable, value: T) -> None:
        """Forget ``key`` if it still holds ``value`` (found stale by its user); a value another
        request has already put in its place stays."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[1] is value:
                del self._entries[key]

    def clear(self) -> None:
        """Forget every value (tests; after bulk changes)."""
        with self._lock:
            self._entries.clear()
