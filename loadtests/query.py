"""Locustfile: questions through the gateway, `POST /api/v1/rag/query` (profile `query`).

    make load PROFILE=query
    .venv/bin/locust -f loadtests/query.py

The askers are `users.QueryUser`; the stages, the `query` profile of profiles.yaml.
"""

from loadtests.harness import ProfileShape
from loadtests.users import QueryUser


class Asker(QueryUser):
    pass


class Shape(ProfileShape):
    default_profile = "query"
