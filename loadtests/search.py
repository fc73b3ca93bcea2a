"""Locustfile: searches through the gateway, `GET /api/v1/rag/search` (profile `search`).

    make load PROFILE=search
    .venv/bin/locust -f loadtests/search.py          # Locust's web UI, same users and stages

The searchers are `users.SearchUser`; the stages, the `search` profile of profiles.yaml.
"""

from loadtests.harness import ProfileShape
from loadtests.users import SearchUser


class Searcher(SearchUser):
    pass


class Shape(ProfileShape):
    default_profile = "search"
