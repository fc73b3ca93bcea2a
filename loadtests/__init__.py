"""ragplane's load harness: Locust users, stage shapes and SLO gates against a running stack.

    make load PROFILE=smoke                          a private embedded stack, one profile, gates
    make load PROFILE=search HOST=https://staging.example   any running stack
    .venv/bin/locust -f loadtests/search.py          Locust's own web UI, same files

The locustfiles (`search.py`, `query.py`, `collections.py`, `mixed.py`) hold no logic of their
own: users live in `users.py`, the Locust glue (shape, events, gates at exit) in `harness.py`.
Everything Locust does not import — profiles, the query mix, gates, measurements, baselines —
is plain Python that the unit tests import without gevent's monkey-patching (`harness.py`
and `users.py` are the only modules that import Locust). `run.py` is the command behind
`make load`; `config.py` is the one module that reads the environment. See docs/load-testing.md.
"""
