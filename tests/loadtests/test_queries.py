"""The query set and how users draw from it."""

from __future__ import annotations

from collections import Counter

from loadtests import queries
from loadtests.profiles import Queries


def test_the_set_has_at_least_200_distinct_queries_of_both_kinds() -> None:
    lists = queries.load()
    assert set(lists) == {"searches", "questions"}
    assert sum(len(entries) for entries in lists.values()) >= 200
    assert all(len(entries) >= 100 for entries in lists.values())
    assert all(question.endswith("?") for question in lists["questions"])


def draws(plan: Queries, stream: str = "0-1", n: int = 2000, unique: bool = False) -> list[str]:
    mix = queries.QueryMix(queries.load()["searches"], plan, stream, unique)
    return [mix.draw() for _ in range(n)]


def test_draws_are_reproducible_per_user_and_differ_between_users() -> None:
    plan = Queries(seed=12, zipf_s=1.1, tail=0.25)
    assert draws(plan) == draws(plan)
    assert draws(plan, "0-1") != draws(plan, "0-2")
    assert draws(plan) != draws(Queries(seed=13, zipf_s=1.1, tail=0.25))


def test_repetition_is_skewed_and_the_tail_is_unique() -> None:
    listed = queries.load()["searches"]
    sent = draws(Queries(seed=12, zipf_s=1.1, tail=0.25))
    repeated = [q for q in sent if q in listed]
    fresh = [q for q in sent if q not in listed]
    assert 0.2 < len(fresh) / len(sent) < 0.3
    assert len(set(fresh)) == len(fresh)
    counts = Counter(repeated)
    # Zipf-like: the most asked query is asked far more often than the tenth, the tenth than the fiftieth.
    assert counts[listed[0]] > 5 * counts[listed[9]] > 0
    assert counts[listed[9]] > counts[listed[49]]


def test_unique_means_no_query_is_ever_sent_twice() -> None:
    sent = draws(Queries(seed=12, zipf_s=1.1, tail=0.0), unique=True)
    assert len(set(sent)) == len(sent)
    assert not set(sent) & set(queries.load()["searches"])


def test_first_time_queries_are_new_on_every_run() -> None:
    plan = Queries(seed=12, zipf_s=1.1, tail=1.0)
    one, two = (queries.QueryMix(queries.load()["searches"], plan, "0-1", run=run) for run in ("a-", "b-"))
    first, second = [one.draw() for _ in range(50)], [two.draw() for _ in range(50)]
    assert not set(first) & set(second)
    assert [q.rsplit(" (", 1)[0] for q in first] == [q.rsplit(" (", 1)[0] for q in second]  # same queries asked


def test_zipf_weights_are_cumulative() -> None:
    assert queries.zipf_weights(3, 1.0) == [1, 1.5, 1.5 + 1 / 3]
