"""The one exception tree and the one table from exception to problem."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import ragplane
from ragplane import errors
from ragplane.errors import (
    ArchiveInvalid,
    BadGateway,
    CircuitOpen,
    CollectionExists,
    CollectionNotFound,
    DependencyRejected,
    DependencyUnavailable,
    NotFound,
    ProblemError,
    RagplaneError,
    RestoreFailed,
    SettingsError,
    SlotTimeout,
    problem_for,
)

SKIP = {"ragplane.adapters.model_process"}  # a child process's entry point: importing it is fine, but keep it lean


def ragplane_exceptions() -> list[type[BaseException]]:
    found = []
    for info in pkgutil.walk_packages(ragplane.__path__, "ragplane."):
        if info.name in SKIP or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == info.name:
                found.append(obj)
    return found


def test_every_exception_ragplane_defines_is_in_the_one_tree() -> None:
    outside = [f"{c.__module__}.{c.__qualname__}" for c in ragplane_exceptions() if not issubclass(c, RagplaneError)]
    assert not outside, f"derive these from ragplane.errors (the one tree): {outside}"


def test_only_problems_are_subclassed_outside_errors_py() -> None:
    """A service may build a problem's detail and headers from its own data; nothing else branches off."""
    for cls in ragplane_exceptions():
        if cls.__module__ != "ragplane.errors":
            assert issubclass(cls, ProblemError), f"{cls.__module__}.{cls.__qualname__}: declare it in errors.py"


def test_the_tree_is_drawn_in_the_module_docstring() -> None:
    drawn = errors.__doc__ or ""
    for name, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, RagplaneError) and cls is not RagplaneError:
            assert f"── {name} " in drawn, f"{name} is missing from the tree in errors.py's docstring"


@pytest.mark.parametrize(
    ("exc", "status", "slug"),
    [
        (NotFound("gone"), 404, "not-found"),
        (CollectionNotFound("docs"), 404, "not-found"),
        (CollectionExists("docs"), 409, "conflict"),
        (CircuitOpen("qdrant", failures=5, retry_after=7), 503, "service-unavailable"),
        (SlotTimeout("embedder", waited_s=4), 503, "service-unavailable"),
        (DependencyUnavailable("llm", "refused"), 503, "service-unavailable"),
        (DependencyRejected("llm", "bad model"), 502, "bad-gateway"),
        (ArchiveInvalid("truncated"), 422, "validation-failed"),
        (RestoreFailed("3 points missing"), 500, "restore-failed"),
    ],
)
def test_the_table_gives_each_exception_its_problem(exc: RagplaneError, status: int, slug: str) -> None:
    problem = problem_for(exc)
    assert problem is not None and (problem.status, problem.slug) == (status, slug)


def test_retry_after_comes_from_the_breaker_or_the_slot_queue() -> None:
    assert problem_for(CircuitOpen("qdrant", failures=5, retry_after=7)).headers == {"Retry-After": "7"}  # type: ignore[union-attr]
    assert problem_for(SlotTimeout("embedder", waited_s=4)).headers == {"Retry-After": "2"}  # type: ignore[union-attr]
    unavailable = problem_for(DependencyUnavailable("llm", "refused"))
    assert unavailable is not None and unavailable.headers == {"Retry-After": str(errors.DEPENDENCY_RETRY_AFTER_S)}


def test_a_bug_has_no_problem_of_its_own() -> None:
    assert problem_for(KeyError("x")) is None
    assert (
        problem_for(SettingsError("GATEWAY_PORT: expected a TCP port")) is None
    )  # a start-up failure, not a request's


def test_a_problem_is_its_own_answer() -> None:
    error = BadGateway("upstream refused")
    assert problem_for(error) is error
