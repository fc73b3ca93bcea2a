"""scripts/test-packages: which Debian packages `make test` would install, decided from the commands on PATH.

The script's dry run uses only shell builtins, so a PATH holding nothing but stub commands
stands in for a machine with exactly those tools installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts/test-packages"
BASH = shutil.which("bash") or "/bin/bash"
COMMANDS = ("prometheus", "promtool", "prometheus-alertmanager", "amtool", "redis-server", "chromium", "npm")


def run(tmp_path: Path, installed: set[str], *args: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in installed:
        stub = bin_dir / name
        stub.write_text("#!/bin/sh\n")
        stub.chmod(0o755)
    return subprocess.run(
        [BASH, str(SCRIPT), *args], env={"PATH": str(bin_dir)}, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("missing", "packages"),
    [
        (set(), "nothing to install"),
        (set(COMMANDS), "would install: prometheus prometheus-alertmanager redis-server chromium npm"),
        ({"promtool"}, "would install: prometheus"),
        ({"amtool"}, "would install: prometheus-alertmanager"),
        ({"prometheus", "promtool", "chromium"}, "would install: prometheus chromium"),
    ],
    ids=["none", "all", "promtool", "amtool", "prometheus-and-chromium"],
)
def test_dry_run_names_each_missing_package_once(tmp_path: Path, missing: set[str], packages: str) -> None:
    result = run(tmp_path, set(COMMANDS) - missing, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == packages


def test_an_unknown_option_is_refused(tmp_path: Path) -> None:
    result = run(tmp_path, set(COMMANDS), "--yes")
    assert result.returncode == 2
    assert "usage" in result.stderr


def test_nothing_missing_means_nothing_to_do(tmp_path: Path) -> None:
    """With every command present the real run exits at once: no apt-get, no sudo, no output."""
    result = run(tmp_path, set(COMMANDS))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_without_apt_get_it_says_what_to_install(tmp_path: Path) -> None:
    result = run(tmp_path, set(COMMANDS) - {"chromium"})
    assert result.returncode == 1
    assert "missing chromium and no apt-get here" in result.stderr


def test_make_installs_the_packages_before_starting_the_services() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nservices:\n", 1)[1].split("\n\n", 1)[0].split()
    assert recipe == ["scripts/test-packages", "scripts/test-services"]
