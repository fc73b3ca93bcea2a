"""The rules of the house, checked on the source tree."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "platform" / "ragplane"
MODULES = sorted(PACKAGE.rglob("*.py"))
SERVICES = [p.name for p in (PACKAGE / "services").iterdir() if p.is_dir() and not p.name.startswith("_")]
MAX_LINES = 400


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_never_imports_another(service: str) -> None:
    others = {f"ragplane.services.{s}" for s in SERVICES if s != service}
    for path in (PACKAGE / "services" / service).rglob("*.py"):
        bad = {name for name in imports(path) for other in others if name == other or name.startswith(other + ".")}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_lower_layers_never_import_services() -> None:
    for layer in ("kit", "adapters", "telemetry"):
        for path in (PACKAGE / layer).rglob("*.py"):
            assert not any(n.startswith("ragplane.services") for n in imports(path)), path


def test_only_settings_reads_the_environment() -> None:
    pattern = re.compile(r"os\.environ(?!\[\"(HF_HUB_OFFLINE|TRANSFORMERS_OFFLINE)\"\] =)|os\.getenv|environ\.get")
    for path in MODULES:
        if path.name == "settings.py":
            continue
        assert not pattern.search(path.read_text()), f"{path.relative_to(ROOT)} reads the environment"


def test_only_the_telemetry_package_creates_metrics() -> None:
    kinds = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}
    for path in MODULES:
        if "telemetry" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        imported = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("prometheus_client")
            for alias in node.names
            if alias.name in kinds
        }
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not imported & calls, f"{path.relative_to(ROOT)} creates metrics; declare them in telemetry/catalog.py"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_platform_is_not_a_package() -> None:
    assert not (ROOT / "platform" / "__init__.py").exists()
