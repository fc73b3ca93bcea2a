"""`python -m dashboards`: committed JSON equals the generator's output; `--check` catches drift."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dashboards import dashboards
from dashboards.__main__ import main
from dashboards.generate import OUTPUT, expected, render, sync_files
from tests.dashboards.rendered import ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dashboards", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_committed_files_equal_the_generator_output() -> None:
    said: list[str] = []
    assert sync_files(OUTPUT, check=True, say=said.append) == 0, said
    assert len(said) == len(dashboards()) and all(line.endswith("is up to date") for line in said)


def test_check_exits_0_on_the_committed_files() -> None:
    result = run("--check")
    assert result.returncode == 0, result.stderr


def test_check_exits_1_naming_each_drifted_missing_and_extra_file(tmp_path: Path) -> None:
    sync_files(tmp_path, check=False, say=lambda _: None)
    drifted, missing = tmp_path / "ragplane-overview.json", tmp_path / "ragplane-gateway.json"
    drifted.write_text(drifted.read_text().replace("RAG Services Overview", "Edited in the UI"))
    missing.unlink()
    (tmp_path / "old-dashboard.json").write_text("{}\n")
    before = {p.name: p.read_text() for p in tmp_path.iterdir()}

    result = run("--check", "--output", str(tmp_path))

    assert result.returncode == 1
    command = f"run `python -m dashboards --output {tmp_path}`"
    assert f"{drifted} is out of date: {command}" in result.stderr
    assert f"{missing} is missing: {command}" in result.stderr
    assert f"{tmp_path / 'old-dashboard.json'} is no longer generated: {command}" in result.stderr
    assert f"{tmp_path / 'ragplane-qdrant.json'} is up to date" in result.stderr
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == before  # --check writes nothing


def test_writing_creates_one_file_per_uid_and_removes_stale_ones(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    out.mkdir()
    (out / "renamed-dashboard.json").write_text("{}\n")
    assert main(["--output", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{d.uid}.json" for d in dashboards())
    assert main(["--check", "--output", str(out)]) == 0


def test_output_is_sorted_two_space_json_with_a_trailing_newline() -> None:
    for name, text in expected().items():
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n", name


def test_rendering_is_deterministic() -> None:
    assert [render(d) for d in dashboards()] == [render(d) for d in dashboards()]
