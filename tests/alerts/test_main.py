"""`python -m alerts`: writes the rule file, and `--check` fails naming it when it drifted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alerts.render import OUTPUT, ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alerts", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_check_passes_on_the_committed_file() -> None:
    done = run("--check")
    assert done.returncode == 0, done.stderr
    assert "deploy/prometheus/rules/ragplane.rules.yml is up to date" in done.stderr


def test_check_fails_naming_the_file_when_it_was_edited(tmp_path: Path) -> None:
    copy = tmp_path / "ragplane.rules.yml"
    copy.write_text(OUTPUT.read_text().replace("for: 5s", "for: 1m", 1))
    done = run("--check", "--output", str(copy))
    assert done.returncode == 1
    assert str(copy) in done.stderr and "out of date" in done.stderr
    assert copy.read_text() != OUTPUT.read_text()  # --check writes nothing


def test_it_writes_the_rule_file_and_rewrites_nothing_when_current(tmp_path: Path) -> None:
    target = tmp_path / "rules" / "ragplane.rules.yml"
    done = run("--output", str(target))
    assert done.returncode == 0, done.stderr
    assert target.read_text() == OUTPUT.read_text()
    again = run("--output", str(target))
    assert again.returncode == 0 and f"unchanged {target}" in again.stderr
