import pytest

from ragplane.kit.cache import LruCache


def test_least_recently_used_entries_go_first() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert cache.clear() == 2 and len(cache) == 0


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LruCache(0)
