"""Generated files: written only when their text changed; `check` names every difference and writes nothing."""

from pathlib import Path

from ragplane.ops.generated import sync, write


def test_write_says_whether_the_file_changed(tmp_path: Path) -> None:
    path = tmp_path / "deploy" / "kong" / "kong.yml"
    assert write(path, "a\n") is True
    assert write(path, "a\n") is False
    assert write(path, "b\n") is True and path.read_text() == "b\n"


def test_sync_writes_changed_files_and_removes_stale_ones(tmp_path: Path) -> None:
    same, changed, new, stale = (tmp_path / n for n in ("same", "changed", "new", "stale"))
    same.write_text("s")
    changed.write_text("old")
    stale.write_text("x")
    said: list[str] = []
    files = {same: "s", changed: "c", new: "n"}
    assert sync(files, check=False, command="gen", say=said.append, stale=[stale]) == 0
    assert said == [f"removed {stale}", f"unchanged {same}", f"wrote {changed}", f"wrote {new}"]
    assert (changed.read_text(), new.read_text(), stale.exists()) == ("c", "n", False)


def test_check_names_each_problem_with_the_command_and_writes_nothing(tmp_path: Path) -> None:
    same, changed, missing, stale = (tmp_path / n for n in ("same", "changed", "missing", "stale"))
    same.write_text("s")
    changed.write_text("old")
    stale.write_text("x")
    said: list[str] = []
    files = {same: "s", changed: "c", missing: "m"}
    assert sync(files, check=True, command="gen", say=said.append, stale=[stale]) == 1
    assert said == [
        f"{same} is up to date",
        f"{stale} is no longer generated: run `gen`",
        f"{changed} is out of date: run `gen`",
        f"{missing} is missing: run `gen`",
    ]
    assert (changed.read_text(), missing.exists(), stale.exists()) == ("old", False, True)
    assert sync({same: "s"}, check=True, command="gen", say=said.append) == 0
