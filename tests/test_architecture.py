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
            if node.module == "ragplane":  # `from ragplane import errors` imports ragplane.errors
                names.update(f"ragplane.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_never_imports_another(service: str) -> None:
    others = {f"ragplane.services.{s}" for s in SERVICES if s != service}
    for path in (PACKAGE / "services" / service).rglob("*.py"):
        bad = {name for name in imports(path) for other in others if name == other or name.startswith(other + ".")}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


# The layers, bottom up, and what each may import of ragplane besides itself. A module's layer
# is its package under ragplane/ (top-level modules are named). Upper layers are composition:
# stack.py builds everything, ops/ are operator tools over the services' own code, cli.py calls both.
BASE = {"errors", "lexical", "text", "redaction", "parsing"}
SETTINGS = {"settings"}  # the package: Settings, its sections and how they are read
MAY_IMPORT: dict[str, set[str]] = {
    **{name: BASE for name in BASE},
    "telemetry": BASE,
    **{name: BASE | SETTINGS | {"telemetry"} for name in SETTINGS},
    "adapters": BASE | SETTINGS | {"telemetry"},
    "kit": BASE | SETTINGS | {"telemetry"},
    "services": BASE | SETTINGS | {"telemetry", "adapters", "kit"},
}


def layer_of(path: Path) -> str:
    part = path.relative_to(PACKAGE).parts[0]
    return part.removesuffix(".py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_point_one_way(path: Path) -> None:
    """telemetry ← settings ← adapters, kit ← services ← stack, cli, ops; kit imports no adapter."""
    layer = layer_of(path)
    if layer not in MAY_IMPORT:
        return  # the composition root and the tools on top may import anything below them
    allowed = MAY_IMPORT[layer] | {layer}
    used = {name.split(".")[1] for name in imports(path) if name.startswith("ragplane.")}
    bad = used - allowed - {"__version__"}
    assert not bad, f"{path.relative_to(ROOT)} ({layer}) imports {sorted(bad)}"


def test_the_layer_rule_knows_every_top_level_module() -> None:
    """A new module under ragplane/ must be placed in a layer (or be one of the top ones)."""
    top = {"stack", "cli", "serving", "ops", "web", "__init__", "__main__"}
    for path in MODULES:
        assert layer_of(path) in MAY_IMPORT or layer_of(path) in top, path


def test_only_settings_reads_the_environment() -> None:
    pattern = re.compile(r"os\.environ(?!\[\"(HF_HUB_OFFLINE|TRANSFORMERS_OFFLINE)\"\] =)|os\.getenv|environ\.get")
    for path in MODULES:
        if layer_of(path) == "settings":
            continue
        assert not pattern.search(path.read_text()), f"{path.relative_to(ROOT)} reads the environment"


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if layer_of(p) in ("adapters", "kit")],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_adapters_and_kit_are_handed_a_section_never_the_whole_settings(path: Path) -> None:
    """The composition root and the app factories give each adapter and kit module the section it
    needs (CacheSettings, QdrantSettings, ResilienceSettings...): what it may read is in its signature."""
    tree = ast.parse(path.read_text())
    whole = [
        node.lineno
        for node in ast.walk(tree)
        if (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").startswith("ragplane.settings")
            and any(alias.name == "Settings" for alias in node.names)
        )
        or (isinstance(node, ast.Attribute) and node.attr == "Settings")
    ]
    assert not whole, f"{path.relative_to(ROOT)} takes the whole Settings (lines {whole}): hand it its section"


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
