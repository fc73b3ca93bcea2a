"""Simulated users: searchers, askers and curators of collections, all through the gateway.

Each user is paced at the profile's `user_rps` with Locust's `constant_throughput`, so a
stage's target rate is met by its user count whatever the latency (as long as one request
takes less than 1 / user_rps). Requests are named by route template, so the stats group
per endpoint however many collections or jobs a run touches.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import urlencode

from locust import FastHttpUser, constant_throughput, task
from locust.runners import WorkerRunner

from loadtests import queries
from loadtests.harness import CONFIG, profile_of

SEARCH = "/api/v1/rag/search"
QUERY = "/api/v1/rag/query"
COLLECTIONS = "/api/v1/rag/collections"
COLLECTION = "/api/v1/rag/collections/{name}"
DOCUMENTS = "/api/v1/rag/collections/{name}/documents"
STATS = "/api/v1/rag/collections/{name}/stats"
JOB = "/api/v1/rag/jobs/{job_id}"
MAX_POLLS = 120  # a small document's job that is not done after this many polls counts as failed

QUERIES = queries.load()
RUN = uuid.uuid4().hex[:8]  # this process's run: names its collections and first-time queries
_numbers = itertools.count(1)


class RagplaneUser(FastHttpUser):
    abstract = True
    default_headers = {"Authorization": f"Bearer {CONFIG.token}"} if CONFIG.token else None

    def wait_time(self) -> float:
        return constant_throughput(profile_of(self.environment).user_rps)(self)

    @property
    def stream(self) -> str:
        """This user's name among all users of the run, workers included: `<worker>-<n>`."""
        if not hasattr(self, "_stream"):
            runner = self.environment.runner
            worker = runner.worker_index if isinstance(runner, WorkerRunner) else 0
            self._stream = f"{worker}-{next(_numbers)}"
        return self._stream


class AskingUser(RagplaneUser):
    """A user who sends queries of one `kind` of queries.yaml, each drawn from its own stream."""

    abstract = True
    kind: ClassVar[str]

    def on_start(self) -> None:
        plan = profile_of(self.environment).queries
        self.queries = queries.QueryMix(QUERIES[self.kind], plan, self.stream, CONFIG.unique, run=f"{RUN}-")


class SearchUser(AskingUser):
    """Keyword searches over the demo corpus."""

    abstract = True
    kind = "searches"

    @task
    def search(self) -> None:
        params = urlencode({"query": self.queries.draw(), "collection": CONFIG.collection})
        self.client.get(f"{SEARCH}?{params}", name=SEARCH)


class QueryUser(AskingUser):
    """Questions answered from the demo corpus, with sources."""

    abstract = True
    kind = "questions"

    @task
    def ask(self) -> None:
        self.client.post(QUERY, json={"query": self.queries.draw(), "collection": CONFIG.collection}, name=QUERY)


class CollectionsUser(RagplaneUser):
    """Manages collections of its own, one request per task: create, ingest a small document,
    poll its job until it is done, read the stats, list, delete — and again.

    Collections are named `load-<run>-<n>`; one still standing when the user stops (the run
    ended mid-cycle) is deleted on the way out, so a run leaves no collection behind.
    """

    abstract = True

    def on_start(self) -> None:
        self.current: str | None = None
        self.steps = self.cycle()

    def on_stop(self) -> None:
        if self.current is not None:
            self.client.delete(COLLECTION.format(name=self.current), name=COLLECTION)
            self.current = None

    @task
    def step(self) -> None:
        next(self.steps)

    def cycle(self) -> Iterator[None]:
        while True:
            name = f"load-{RUN}-{self.stream}-{next(_numbers)}"
            created = self.client.post(COLLECTIONS, json={"name": name, "description": "load test"}, name=COLLECTIONS)
            if created.status_code == 201:
                self.current = name  # from here on, on_stop deletes it if the run ends mid-cycle
            yield
            if self.current is None:
                continue
            yield from self._ingest(name)
            self.client.get(STATS.format(name=name), name=STATS)
            yield
            self.client.get(COLLECTIONS, name=COLLECTIONS)
            yield
            self.client.delete(COLLECTION.format(name=name), name=COLLECTION)
            self.current = None
            yield

    def _ingest(self, name: str) -> Iterator[None]:
        document = {
            "title": "Load test note",
            "text": f"# Load test note\n\n{name} holds one short note: {uuid.uuid4()}.",
        }
        response = self.client.post(DOCUMENTS.format(name=name), json={"documents": [document]}, name=DOCUMENTS)
        yield
        if response.status_code != 202:
            return
        job_id = response.json()["id"]
        for attempt in range(1, MAX_POLLS + 1):
            with self.client.get(JOB.format(job_id=job_id), name=JOB, catch_response=True) as poll:
                state = _field(poll, "state")
                if state == "failed":
                    poll.failure(f"ingestion job {job_id} failed: {_field(poll, 'error')}")
                elif state != "completed" and attempt == MAX_POLLS:
                    poll.failure(f"ingestion job {job_id} still {state} after {MAX_POLLS} polls")
            yield
            if state not in ("queued", "running"):
                return


def _field(response: Any, key: str) -> Any:
    try:
        return response.json().get(key)
    except ValueError:
        return None
