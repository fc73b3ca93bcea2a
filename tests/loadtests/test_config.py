"""The harness's settings: every variable read once, mistakes named."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests import config
from loadtests.config import ConfigError, FaultOverride


def test_defaults_when_nothing_is_set() -> None:
    cfg = config.load({})
    assert cfg == config.Config()
    assert cfg.profiles == config.PROFILES and cfg.collection == "docs" and cfg.normalise


def test_every_variable_is_read() -> None:
    cfg = config.load(
        {
            "HOST": "https://staging.example/",
            "PROFILE": "search",
            "LOAD_P95_MS": "250",
            "LOAD_MAX_ERROR_RATIO": "0.02",
            "LOAD_MIN_RPS_RATIO": "0.9",
            "LOAD_UNIQUE": "true",
            "LOAD_FAULT": "qdrant:delay:300ms",
            "LOAD_TOKEN": "t",
            "LOAD_QUERY_URL": "http://127.0.0.1:8001",
            "LOAD_SERVICE_TOKEN": "s",
            "LOAD_PROFILES": "/tmp/p.yaml",
            "LOAD_COLLECTION": "notes",
            "LOAD_NORMALISE": "false",
        }
    )
    assert cfg.host == "https://staging.example"
    assert (cfg.profile, cfg.p95_ms, cfg.max_error_ratio, cfg.min_rps_ratio) == ("search", 250, 0.02, 0.9)
    assert cfg.unique and cfg.fault == FaultOverride("delay", "qdrant", 300)
    assert (cfg.token, cfg.query_url, cfg.service_token) == ("t", "http://127.0.0.1:8001", "s")
    assert cfg.profiles == Path("/tmp/p.yaml") and cfg.collection == "notes" and not cfg.normalise


@pytest.mark.parametrize(
    ("raw", "fault"),
    [
        ("error", FaultOverride("error")),
        ("hang", FaultOverride("hang")),
        ("delay:1.5ms", FaultOverride("delay", None, 1.5)),
    ],
)
def test_fault_forms(raw: str, fault: FaultOverride) -> None:
    assert config.fault(raw) == fault


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("HOST", "myhost"),  # a shell's HOST (the machine's name) is not a URL: refused, not dialled
        ("LOAD_P95_MS", "0"),
        ("LOAD_MAX_ERROR_RATIO", "5"),
        ("LOAD_UNIQUE", "maybe"),
        ("LOAD_FAULT", "delay"),
        ("LOAD_FAULT", "error:300ms"),
        ("LOAD_FAULT", "explode"),
    ],
)
def test_a_bad_value_names_its_variable(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{key}="):
        config.load({key: value})


def test_children_get_this_environment_minus_and_plus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGPLANE_DATA_DIR", "/somewhere")
    monkeypatch.setenv("KEEP_ME", "1")
    env = config.environment({"EXTRA": "x"}, without=("RAGPLANE_",))
    assert "RAGPLANE_DATA_DIR" not in env and env["KEEP_ME"] == "1" and env["EXTRA"] == "x"
