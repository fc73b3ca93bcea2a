"""Locustfile: a realistic blend through the gateway (profiles `mixed`, `smoke`, `soak`).

Three searches to one question, and one user managing collections whatever the load: people
look things up far more often than they change what can be found.

    make load PROFILE=mixed
    .venv/bin/locust -f loadtests/mixed.py
"""

from loadtests import users
from loadtests.harness import ProfileShape


class Searcher(users.SearchUser):
    weight = 3


class Asker(users.QueryUser):
    weight = 1


class Curator(users.CollectionsUser):
    fixed_count = 1


class Shape(ProfileShape):
    default_profile = "mixed"
