"""The web page's size budget: what a first visit downloads, gzipped, as the gateway's files are
served. The page must stay fast on a slow phone connection; this fails when it grows past it."""

import gzip
import re
from pathlib import Path

from ragplane.services.gateway.web import web_dir

INITIAL_BUDGET = 30 * 1024  # HTML + JS + CSS of the first view, gzipped
VIEW_BUDGET = 20 * 1024  # each view's module, gzipped, imported when the view is opened
_REFERENCED = re.compile(r'(?:src|href)="/static/([^"]+)"')
_IMPORTED = re.compile(
    r'^import\s+(?:[^;"]*?\sfrom\s+)?"(\.\.?/[^"]+)"', re.M
)  # `import x from "./a.js"`, `import "../a.js"`


def gzipped(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=9))


def initial_files(root: Path) -> list[Path]:
    """index.html, the files it references and the modules those import statically (a module
    imported with import() on navigation is not part of the first visit)."""
    files = [root / "index.html"]
    pending = [root / name for name in _REFERENCED.findall(files[0].read_text())]
    while pending:
        path = pending.pop()
        if path not in files:
            files.append(path)
            if path.suffix == ".js":
                pending += [(path.parent / name).resolve() for name in _IMPORTED.findall(path.read_text())]
    return files


def test_the_first_visit_downloads_less_than_its_budget() -> None:
    files = initial_files(web_dir())
    assert {f.name for f in files} == {"index.html", "favicon.svg", "app.js", "dom.js", "style.css"}  # views load later
    total = sum(gzipped(f) for f in files)
    assert total < INITIAL_BUDGET, {f.name: gzipped(f) for f in files}


VIEWS = ("search", "ask", "collections", "health", "activity", "token")


def view_files(root: Path, name: str) -> list[Path]:
    """What opening view `name` downloads: its module and what it imports, less the first visit's."""
    first = initial_files(root)
    files, pending = [], [root / "views" / f"{name}.js"]
    while pending:
        path = pending.pop()
        if path not in files and path not in first:
            files.append(path)
            pending += [(path.parent / n).resolve() for n in _IMPORTED.findall(path.read_text())]
    return files


def test_each_view_stays_under_its_budget() -> None:
    root = web_dir()
    sizes = {name: sum(gzipped(f) for f in view_files(root, name)) for name in VIEWS}
    assert all(size < VIEW_BUDGET for size in sizes.values()), sizes


def test_the_chart_code_is_loaded_by_the_activity_view_only() -> None:
    root = web_dir()
    assert [f.name for f in view_files(root, "activity")] == ["activity.js", "chart.js"]
    for name in VIEWS:
        if name != "activity":
            assert [f.name for f in view_files(root, name)] == [f"{name}.js"]


def test_static_imports_are_followed_and_dynamic_ones_are_not(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text('<script type="module" src="/static/app.js"></script>')
    (tmp_path / "app.js").write_text(
        'import { el } from "./dom.js";\nimport "./theme.js";\nconst view = () => import("./view.js");\n'
    )
    (tmp_path / "theme.js").write_text("document.body.dataset.theme = 'light';\n")
    (tmp_path / "dom.js").write_text("export const el = 1;\n")
    (tmp_path / "view.js").write_text("export default 1;\n")
    assert sorted(f.name for f in initial_files(tmp_path)) == ["app.js", "dom.js", "index.html", "theme.js"]
