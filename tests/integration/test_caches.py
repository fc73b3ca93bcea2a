"""Query-embedding and search-result caches: hits, invalidation on change, Redis, a broken Redis."""

from __future__ import annotations

import re
import uuid

import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.running import RunningStack, ingest


def cache_count(stack: RunningStack, cache: str, result: str) -> float:
    with stack.client("query") as client:
        text = client.get("/metrics").text
    found = re.search(rf'ragplane_cache_requests_total{{cache="{cache}",result="{result}"}} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def test_repeated_searches_are_answered_from_the_result_cache(stack, gateway, unique) -> None:
    name = unique("cache")
    ingest(gateway, name, [{"id": "a", "text": "Glaciers move slowly down valleys."}])
    params = {"query": "how do glaciers move", "collection": name}
    first = gateway.get("/api/v1/rag/search", params=params).json()
    hits = cache_count(stack, "search_results", "hit")
    second = gateway.get("/api/v1/rag/search", params=params).json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["results"] == first["results"]
    assert cache_count(stack, "search_results", "hit") == hits + 1
    # a different max_results is a different answer
    assert gateway.get("/api/v1/rag/search", params={**params, "max_results": 1}).json()["cached"] is False


def test_a_change_to_the_collection_invalidates_its_cached_results(gateway, unique) -> None:
    name = unique("cache")
    ingest(gateway, name, [{"id": "a", "text": "Glaciers move slowly down valleys."}])
    params = {"query": "volcanic eruptions", "collection": name}
    gateway.get("/api/v1/rag/search", params=params)
    assert gateway.get("/api/v1/rag/search", params=params).json()["cached"] is True
    ingest(gateway, name, [{"id": "b", "text": "Volcanic eruptions throw out lava and ash."}], create=False)
    fresh = gateway.get("/api/v1/rag/search", params=params).json()
    assert fresh["cached"] is False and fresh["results"][0]["document_id"] == "b"


def test_caches_can_live_in_redis(make_settings, unique) -> None:
    prefix = f"test-{uuid.uuid4().hex}"
    stack = RunningStack(make_settings(REDIS_URL="redis://127.0.0.1:6379/0", REDIS_KEY_PREFIX=prefix)).start()
    try:
        with stack.client() as client:
            name = unique("redis")
            ingest(client, name, [{"id": "a", "text": "Redis keeps the cache for every replica."}])
            params = {"query": "where is the cache kept", "collection": name}
            assert client.get("/api/v1/rag/search", params=params).json()["cached"] is False
            assert client.get("/api/v1/rag/search", params=params).json()["cached"] is True
            asked = {"query": "Where does Redis keep the cache?", "collection": name}
            first = client.post("/api/v1/rag/query", json=asked).json()
            # a new question over the same passage: its sentences' vectors come from Redis
            again = client.post("/api/v1/rag/query", json={**asked, "query": "Which store keeps the cache?"}).json()
            assert first["answer"] == again["answer"]
        with stack.client("query") as query:
            caches = query.get("/health").json()["dependencies"]["caches"]
            exported = query.get("/metrics").text
        assert caches["search_results"] == caches["sentence_embeddings"] == {"backend": "redis", "errors": 0}
        [hits] = [
            sample.value
            for family in text_string_to_metric_families(exported)
            for sample in family.samples
            if sample.name == "ragplane_cache_requests_total"
            and sample.labels.get("cache") == "sentence_embeddings"
            and sample.labels.get("result") == "hit"
        ]
        assert hits >= 1
        server = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        keys = server.keys(f"{{{prefix}:cache:*")
        assert keys, "entries are stored under the configured prefix"
        with stack.client("query", token=True) as query:
            cleared = query.post("/internal/cache/clear").json()["cleared"]
        assert min(cleared["search_results"], cleared["query_embeddings"], cleared["sentence_embeddings"]) >= 1
        assert server.keys(f"{{{prefix}:cache:*") == []
        server.close()
    finally:
        stack.stop()


def test_a_broken_redis_never_breaks_search(make_settings, unique) -> None:
    stack = RunningStack(make_settings(REDIS_URL="redis://127.0.0.1:9/0")).start()
    try:
        with stack.client() as client:
            name = unique("noredis")
            ingest(client, name, [{"id": "a", "text": "Search works without its cache."}])
            for n in range(8):
                r = client.get("/api/v1/rag/search", params={"query": f"search {n}", "collection": name})
                assert r.status_code == 200 and r.json()["cached"] is False
        assert cache_count(stack, "search_results", "error") >= 3
        with stack.client("query") as query:
            health = query.get("/health").json()
            assert query.get("/health/ready").status_code == 200  # the cache is not essential
        assert health["breakers"]["cache"]["state"] == "open"
        assert health["dependencies"]["caches"]["query_embeddings"]["errors"] >= 1
    finally:
        stack.stop()
