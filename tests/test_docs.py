"""The documentation stays true: links resolve, every metric and setting is documented."""

import asyncio
import re
import shlex
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from loadtests import config as load_config
from loadtests import profiles as load_profiles
from ragplane.errors import PromQLSyntaxError
from ragplane.settings import variables
from ragplane.settings.resilience import BREAKER_NAMES
from ragplane.telemetry import promql
from ragplane.telemetry.catalog import CATALOG
from ragplane.telemetry.runbooks import runbook_path
from tests.promstack import alert_names, check_expressions, recorded_names

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("runbooks/**/*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub-style anchors of a Markdown page's headings."""
    out = set()
    for heading in re.findall(r"^#+\s+(.*)$", page.read_text(), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    for target in LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+://|^mailto:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.relative_to(ROOT)} links to missing {target}"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{page.relative_to(ROOT)}: no #{anchor} in {path or page.name}"


def test_every_metric_is_documented() -> None:
    text = (ROOT / "docs" / "observability.md").read_text()
    missing = [m.name for m in CATALOG if f"`{m.name}`" not in text]
    assert not missing, f"document these in docs/observability.md: {missing}"


# How the product came to be is for commit messages: "the seed named…", "issue 3's breaker".
HISTORY = re.compile(r"\bthe seed\b|\bseed \d|\bissues? \d+|\bTASKS\.md\b", re.I)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_describe_the_product_not_its_history(page: Path) -> None:
    found = [m.group(0) for m in HISTORY.finditer(page.read_text())]
    assert not found, f"{page.relative_to(ROOT)} tells the project's history: {found}"


def test_metrics_that_need_postgresql_or_redis_say_so() -> None:
    rows = {
        line.split("|")[1].strip(" `"): line
        for line in (ROOT / "docs" / "observability.md").read_text().splitlines()
        if line.startswith("| `ragplane_")
    }
    database = ("ragplane_registry_", "ragplane_query_log_")
    needs = {m.name: "DATABASE_URL" for m in CATALOG if m.name.startswith(database)}
    needs["ragplane_gateway_rate_limit_errors_total"] = "REDIS_URL"
    unmarked = [name for name, setting in needs.items() if f"with `{setting}` only" not in rows[name]]
    assert not unmarked, f"mark these as needing their backend in docs/observability.md: {unmarked}"


def test_every_setting_is_documented() -> None:
    """Each variable the settings read is in docs/configuration.md (one breaker's own, such as
    CIRCUIT_BREAKER_LLM_RECOVERY_S, through the `CIRCUIT_BREAKER_<NAME>_` row and its name)."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    every = variables()
    assert len(every) > 80 and "GATEWAY_PORT" in every and "CIRCUIT_BREAKER_LLM_RECOVERY_S" in every
    own = re.compile(r"CIRCUIT_BREAKER_(" + "|".join(n.upper() for n in BREAKER_NAMES) + r")_(.+)")
    missing = []
    for name in every:
        breaker = own.fullmatch(name)
        if breaker:
            documented = "`CIRCUIT_BREAKER_<NAME>_" in text and f"`{breaker[1]}`" in text and f"_{breaker[2]}`" in text
        else:
            documented = f"`{name}`" in text
        if not documented:
            missing.append(name)
    assert not missing, f"document these in docs/configuration.md: {missing}"


def test_quick_start_has_exactly_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.strip().splitlines()]
    assert commands == ["make run", "make test"]


def test_the_sql_in_the_database_guide_runs(database_url: str) -> None:
    """Every ```sql block of docs/database.md runs against a migrated database, with a row to read."""
    blocks = re.findall(r"```sql\n(.*?)```", (ROOT / "docs" / "database.md").read_text(), re.S)
    assert blocks

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(
                "INSERT INTO query_logs (time, collection, kind, query_hash, query_text, results, latency_s, "
                "cache_hit, degraded, status) VALUES (now(), 'docs', 'search', 'h', 'q', 0, 1.5, true, false, 200)"
            )
            for table, column, unit in (("query_logs", "time", "day"), ("ingestion_jobs", "created_at", "month")):
                await conn.execute(
                    "SELECT ragplane_keep_partitions($1, $2, $3, 2, interval '30 days')", table, column, unit
                )
            for statement in (s for block in blocks for s in block.split(";\n") if s.strip()):
                await conn.fetch(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def shell_commands(page: Path) -> list[str]:
    """The commands of a page's ```sh blocks, continuation lines joined."""
    blocks = re.findall(r"```sh\n(.*?)```", page.read_text(), re.S)
    return [line.strip() for block in blocks for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_the_offline_amtool_commands_of_the_alerting_guide_run() -> None:
    """The commands that need no running Alertmanager are run as written, from the repository root."""
    offline = [
        c for c in shell_commands(ROOT / "docs/alerting.md") if c.startswith("amtool") and "--alertmanager.url" not in c
    ]
    assert len(offline) >= 4
    for command in offline:
        result = subprocess.run(shlex.split(command), cwd=ROOT, capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"


def test_the_load_testing_guide_names_real_targets_profiles_settings_and_locustfiles() -> None:
    """Every command of docs/load-testing.md: its make targets exist, its profiles exist, every
    VAR= is one the harness reads (or Locust's own LOCUST_*), and every locustfile loads in Locust."""
    page = ROOT / "docs" / "load-testing.md"
    makefile = (ROOT / "Makefile").read_text()
    harness = set(re.findall(r'read\("([A-Z_]+)"', (ROOT / "loadtests" / "config.py").read_text()))
    profiles = load_profiles.parse(load_config.PROFILES.read_text())
    locustfiles, targets = set(), set()
    for command in shell_commands(page):
        words = shlex.split(command.split(" #")[0])
        for name, _, value in (w.partition("=") for w in words if re.fullmatch(r"[A-Z_]+=.*", w)):
            assert name in harness or name.startswith("LOCUST_"), command
            assert name != "PROFILE" or value in profiles, command
        if "make" in words:
            targets.add(words[words.index("make") + 1])
        if "-f" in words:
            locustfiles.add(words[words.index("-f") + 1])
    assert targets == {"load", "load-baseline", "load-compare"}
    assert all(re.search(rf"^{target}:", makefile, re.M) for target in targets)
    missing = sorted(name for name in harness if f"`{name}`" not in page.read_text())
    assert not missing, f"document these in docs/load-testing.md: {missing}"
    assert set(profiles) <= set(re.findall(r"^\| `([a-z-]+)` \|", page.read_text(), re.M))
    locust = Path(sys.executable).with_name("locust")
    for locustfile in sorted(locustfiles | {f"loadtests/{name}.py" for name in load_profiles.LOCUSTFILES}):
        result = subprocess.run(
            [str(locust), "-f", locustfile, "--list"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0 and "Available Users" in result.stdout, result.stdout + result.stderr


RUNBOOK_SECTIONS = ["What it means", "Impact", "Dashboard", "Diagnose", "Mitigate", "Escalate"]


def promql_blocks(pages: list[Path]) -> list[tuple[Path, str]]:
    fence = re.compile(r"```promql\n(.*?)```", re.S)
    return [(page, block.strip()) for page in pages for block in fence.findall(page.read_text())]


def promtool_accepts(tmp_path: Path, exprs: list[str]) -> str:
    """promtool's complaint about `exprs`, or "" when they all parse."""
    result = check_expressions(exprs, tmp_path)
    return "" if result.returncode == 0 else result.stdout + result.stderr


def test_every_alert_runbook_has_the_on_call_sections() -> None:
    for alert in alert_names():
        page = ROOT / runbook_path(alert)
        headings = re.findall(r"^## (.+)$", page.read_text(), re.M)
        assert headings == RUNBOOK_SECTIONS, f"{page.name}: {headings}"


def test_the_promql_of_the_runbooks_and_docs_parses_and_names_only_known_metrics(tmp_path: Path) -> None:
    """A ```promql block is one expression (an alert's, over several lines) or one per line;
    promtool must accept it one way or the other, and it may name only known metrics."""
    blocks = promql_blocks(PAGES)
    assert len(blocks) >= 15
    recorded = recorded_names()
    for page, block in blocks:
        lines = [line for line in block.splitlines() if line.strip()]
        try:
            unknown = promql.unknown_metrics(block, recorded)
        except PromQLSyntaxError:  # not one expression: one per line, each of which must parse
            unknown = set[str]().union(*(promql.unknown_metrics(line, recorded) for line in lines))
        assert not unknown, f"{page.name}: {block}"
        complaint = promtool_accepts(tmp_path, [block]) and promtool_accepts(tmp_path, lines)
        assert not complaint, f"{page.name}: {block}\n{complaint}"


def test_the_benchmark_commands_of_the_development_guide_name_real_scripts_and_options() -> None:
    """Each `python -m loadtests.X` / `python loadtests/X.py` line runs a script that has the options shown."""
    text = (ROOT / "docs" / "development.md").read_text()
    commands = re.findall(r"^\.venv/bin/python (?:-m loadtests\.(\w+)|loadtests/(\w+)\.py)(.*)$", text, re.M)
    assert len(commands) >= 4
    for module, script, rest in commands:
        source = (ROOT / "loadtests" / f"{module or script}.py").read_text()
        for option in re.findall(r"--[\w-]+", rest.split("#")[0]):
            assert f'"{option}"' in source, f"loadtests/{module or script}.py has no {option}"
