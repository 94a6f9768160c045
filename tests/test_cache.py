"""The in-process TTL cache (layers, tile principals): one build for concurrent misses, and a
failed build leaves nothing behind."""
from __future__ import annotations

import threading
import time

import pytest

from app.cache import TtlCache


def test_concurrent_misses_wait_for_one_build():
    cache: TtlCache[int] = TtlCache()
    builds = []

    def build():
        builds.append(1)
        time.sleep(0.05)
        return 42

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", ttl=60, build=build))) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [42] * 5 and len(builds) == 1


def test_a_failed_build_leaves_no_lock_and_the_next_request_builds_again():
    cache: TtlCache[int] = TtlCache()

    def broken():
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError):
        cache.get("k", ttl=60, build=broken)
    assert cache._building == {}
    assert cache.get("k", ttl=60, build=lambda: 7) == 7


def test_a_value_expires():
    cache: TtlCache[int] = TtlCache()
    cache.put("k", 1, ttl=0.01)
    time.sleep(0.02)
    assert cache.peek("k") is None
