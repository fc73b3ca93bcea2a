"""profiles.yaml and the stage arithmetic the Locust shape runs on."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests import config, profiles
from loadtests.profiles import Fault, Profile, ProfileError, Stage

SHAPE = Profile(
    name="t",
    locustfile="search",
    user_rps=2,
    stages=(
        Stage("ramp-up", 10, 20, ramp_s=10),
        Stage("sustain", 30, 20),
        Stage("spike", 5, 30),
        Stage("ramp-down", 5, 0, ramp_s=5),
    ),
)


def test_stages_follow_each_other() -> None:
    assert SHAPE.duration == 50
    assert SHAPE.starts() == [0, 10, 40, 45]
    assert [SHAPE.stage_at(t) for t in (0, 9.99, 10, 39.9, 40, 45, 49.9)] == [0, 0, 1, 1, 2, 3, 3]
    assert SHAPE.stage_at(50) is None


def test_a_ramp_moves_the_rate_linearly_and_users_follow_the_rate() -> None:
    assert [SHAPE.rps_at(t) for t in (0, 2.5, 5, 10)] == [0, 5, 10, 20]
    # users = ceil(rate / user_rps): 5 req/s at 2 per user needs 3 users
    assert [SHAPE.users_at(t) for t in (0, 2.5, 5, 10)] == [0, 3, 5, 10]
    assert [SHAPE.rps_at(t) for t in (45, 47.5, 49.99)] == [30, 15, pytest.approx(0.06)]


def test_a_spike_arrives_at_once_and_sustain_holds() -> None:
    assert SHAPE.users_at(39.9) == 10
    assert SHAPE.users_at(40) == 15


def test_tick_lets_the_whole_target_spawn_within_a_second_and_ends_the_run() -> None:
    assert SHAPE.tick(20) == (10, 10.0)
    assert SHAPE.tick(0) == (0, 1.0)
    assert SHAPE.tick(50) is None


def test_exact_rates_do_not_round_up_to_an_extra_user() -> None:
    odd = Profile("o", "search", 0.1, (Stage("sustain", 10, 0.3),))
    assert odd.users_at(1) == 3


def test_the_shipped_profiles_load_and_meet_their_promises() -> None:
    shipped = profiles.parse(config.PROFILES.read_text())
    assert {"smoke", "search", "query", "collections", "mixed", "soak"} <= set(shipped)
    smoke = shipped["smoke"]
    assert smoke.duration <= 60
    for name, target in (("search", 1000), ("query", 100)):
        stages = {stage.name: stage for stage in shipped[name].stages}
        assert list(stages) == ["ramp-up", "sustain", "spike", "ramp-down"]
        assert stages["sustain"].rps == target and stages["sustain"].seconds == 180
        assert stages["spike"].rps > target and stages["ramp-down"].rps == 0
    assert shipped["soak"].duration >= 30 * 60
    for profile in shipped.values():  # counting alone cannot fail the rate gate (see smoke's comment)
        for stage in profile.stages:
            if stage.name == "sustain":
                owed = stage.seconds * profile.user_rps
                assert (owed - 1) / owed >= 0.95, profile.name


def test_a_fault_defaults_to_the_sustain_stage() -> None:
    text = """
profiles:
  f:
    locustfile: search
    user_rps: 1
    stages: [{name: ramp-up, seconds: 5, rps: 2, ramp_s: 5}, {name: sustain, seconds: 20, rps: 2}]
    fault: {mode: delay, latency_ms: 300}
"""
    fault = profiles.parse(text)["f"].fault
    assert fault == Fault(mode="delay", at_s=5, seconds=20, dependency="embedder", latency_ms=300)


def test_load_fault_overrides_what_but_keeps_when(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "profiles:\n  p:\n    locustfile: mixed\n    user_rps: 1\n"
        "    stages: [{name: sustain, seconds: 30, rps: 1}]\n"
        "    fault: {mode: error, dependency: qdrant, at_s: 10, seconds: 5}\n"
    )
    fault = profiles.load(path, "p", config.fault("delay:250ms")).fault
    assert fault == Fault(mode="delay", at_s=10, seconds=5, dependency="qdrant", latency_ms=250)
    plain = SHAPE.with_fault(config.fault("error")).fault
    assert plain == Fault(mode="error", at_s=10, seconds=30, dependency="embedder")


@pytest.mark.parametrize(
    ("snippet", "complaint"),
    [
        ("locustfile: nope", "locustfile must be one of"),
        ("user_rps: 0", "user_rps must be a number > 0"),
        ("stages: []", "stages must be a non-empty list"),
        ("stages: [{name: s, seconds: 5, rps: 1, ramp_s: 9}]", "longer than the stage"),
        ("stages: [{name: s, seconds: 5}]", "missing ['rps']"),
        ("fault: {mode: delay}", "latency_ms goes with mode delay"),
        ("fault: {mode: error, latency_ms: 5}", "latency_ms goes with mode delay"),
        ("fault: {mode: error, at_s: 99}", "after the run ends"),
        ("queries: {tail: 2}", "tail is a share"),
        ("colour: red", "unknown ['colour']"),
    ],
)
def test_mistakes_are_named(snippet: str, complaint: str) -> None:
    base = {
        "locustfile": "locustfile: search",
        "user_rps": "user_rps: 1",
        "stages": "stages: [{name: sustain, seconds: 10, rps: 1}]",
    }
    key = snippet.split(":")[0]
    lines = [line for name, line in base.items() if name != key] + [snippet]
    text = "profiles:\n  bad:\n" + "".join(f"    {line}\n" for line in lines)
    with pytest.raises(ProfileError, match=r"profiles\.bad") as error:
        profiles.parse(text)
    assert complaint in str(error.value)


def test_an_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError, match=r"no profile 'nope'.*smoke"):
        profiles.load(config.PROFILES, "nope")
