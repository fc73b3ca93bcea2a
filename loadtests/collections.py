"""Locustfile: collection management through the gateway (profile `collections`): create,
ingest a small document, poll its job, stats, list, delete — on collections the run creates.

    make load PROFILE=collections
    .venv/bin/locust -f loadtests/collections.py

Locust imports a locustfile under its file name, so this module would be registered as
`collections` — the standard library's. The first statements put the real one back before
anything else can import the wrong module; Locust keeps its own reference to this one.
"""

import sys
import typing

if __name__ == "collections":
    sys.modules["collections"] = typing.collections  # type: ignore[attr-defined]

from loadtests.harness import ProfileShape
from loadtests.users import CollectionsUser


class Curator(CollectionsUser):
    pass


class Shape(ProfileShape):
    default_profile = "collections"
