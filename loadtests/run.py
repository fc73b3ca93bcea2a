"""`make load`: run one profile against a stack, gate it, and report.

    .venv/bin/python -m loadtests.run [--profile smoke] [--save-baseline | --compare]

Without HOST, a private embedded stack is started on free ports (stack.py) and stopped
afterwards. Then: the stack's /metrics read, Locust
run headless as a subprocess (its gates decide its exit code) between two measurements of the
raw-embedder reference, /metrics read again, and
`reports/load/<UTC timestamp>-<profile>/` gets Locust's HTML report, its CSV files with
full history, and `summary.json` with the server's view, the reference and the stack's
version added. `--save-baseline` keeps the run's summary as the profile's baseline (and
exits 0 once it is saved, whatever the gates said); `--compare` judges the run against it.
Exit codes: 0 passed, 1 a gate or the comparison failed, 2 the run could not be made.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from loadtests import baseline, config, gates, profiles, server
from loadtests.stack import ROOT, Stack, StackFailed

REPORTS = ROOT / "reports" / "load"
LOCUST = Path(sys.executable).with_name("locust")


class RunFailed(RuntimeError):
    """The run could not be made (as opposed to made and failed its gates)."""


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Reference:
    """`reference.py --around-run`: measured before Locust starts and again after it ends."""

    def __enter__(self) -> Reference:
        self.log = tempfile.TemporaryFile()
        command = [sys.executable, "-m", "loadtests.reference", "--around-run"]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            self.__exit__(None, None, None)
            raise RunFailed("the reference measurement (loadtests/reference.py) did not start")
        return self

    def result(self) -> dict[str, Any]:
        """Measure again and return both measurements and their mean."""
        output, _ = self.process.communicate(input="", timeout=120)
        if self.process.returncode != 0:
            self.log.seek(0)
            raise RunFailed(f"the reference measurement failed:\n{self.log.read().decode()[-2000:]}")
        data: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
        return data

    def __exit__(self, *_: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


def _token(cfg: config.Config) -> str | None:
    """LOAD_TOKEN, else a load-plan token from `ragplane token` with this checkout's settings."""
    if cfg.token:
        return cfg.token
    command = [str(Path(sys.executable).with_name("ragplane")), "token", "--sub", "load-test", "--plan", "load"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return result.stdout.strip()
    _say(f"no load token ({result.stderr.strip()}); requests go anonymous, under the default plan's limit")
    return None


def _scrape(urls: dict[str, str]) -> dict[str, server.Scrape]:
    try:
        return {name: server.read(url) for name, url in urls.items()}
    except (httpx.HTTPError, ValueError) as exc:  # the cross-check is a report, never a reason to lose the run
        _say(f"cannot read /metrics ({exc}); the summary has no server view")
        return {}


def locust(profile: profiles.Profile, host: str, out: Path, env: dict[str, str]) -> int:
    command = [
        str(LOCUST),
        "-f",
        f"loadtests/{profile.locustfile}.py",
        "--headless",
        "--host",
        host,
        "--csv",
        str(out / "locust"),
        "--csv-full-history",
        "--html",
        str(out / "report.html"),
    ]
    _say(f"running profile {profile.name} ({profile.duration:g} s) against {host}: {' '.join(command[1:3])}")
    return subprocess.run(command, cwd=ROOT, env=config.environment(env), check=False).returncode


@dataclass(frozen=True)
class Target:
    """Where the load goes, and what the harness needs to reach around the gateway."""

    host: str
    token: str | None
    query_url: str | None = None  # for its /metrics and /internal/faults
    service_token: str | None = None


def _target(cfg: config.Config, stack: Stack | None) -> Target:
    if stack is None:
        return Target(cfg.host or "", _token(cfg), cfg.query_url, cfg.service_token)
    _say("starting a private embedded stack (ragplane up --demo) and waiting for the demo corpus ...")
    stack.start()
    return Target(stack.urls["gateway"], stack.token(), stack.urls["query"], stack.service_token)


def run(cfg: config.Config, profile: profiles.Profile, out: Path) -> tuple[int, dict[str, Any]]:
    """Run `profile` and return Locust's exit code and the completed summary."""
    stack = None if cfg.host else Stack()
    try:
        target = _target(cfg, stack)
        if profile.fault is not None and not (target.query_url and target.service_token):
            raise RunFailed("a fault needs the query service: set LOAD_QUERY_URL and LOAD_SERVICE_TOKEN")
        scraped = {"gateway": target.host, **({"query": target.query_url} if target.query_url else {})}
        before = _scrape(scraped)
        env = {
            "PROFILE": profile.name,
            "LOAD_PROFILES": str(cfg.profiles.resolve()),
            "LOAD_TOKEN": target.token or "",
            "LOAD_QUERY_URL": target.query_url or "",
            "LOAD_SERVICE_TOKEN": target.service_token or "",
        }
        with Reference() as beside:
            code = locust(profile, target.host, out, env)
            measured = beside.result()
        after = _scrape(scraped)
    except StackFailed as exc:
        raise RunFailed(str(exc)) from None
    finally:
        if stack is not None:
            stack.stop()
    path = out / "summary.json"
    if not path.is_file():
        raise RunFailed(f"Locust exited with {code} and wrote no summary (see its output above)")
    result: dict[str, Any] = json.loads(path.read_text())
    result["reference"] = measured
    result["stack"] = {
        "url": target.host,
        "private": stack is not None,
        "version": after.get("gateway", server.Scrape()).version,
    }
    if before and after:
        result["server"] = server.view(before, after, result["run"]["total"]["requests"])
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return code, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", help="a profile of profiles.yaml (default: PROFILE, else smoke)")
    parser.add_argument("--reports", type=Path, default=REPORTS, help="where run directories go (default reports/load)")
    parser.add_argument("--baselines", type=Path, default=baseline.DIRECTORY, help="default loadtests/baselines")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--save-baseline", action="store_true", help="keep this run's summary as the baseline")
    action.add_argument("--compare", action="store_true", help="judge this run against the profile's baseline")
    args = parser.parse_args(argv)
    try:
        cfg = config.load()
        profile = profiles.load(cfg.profiles, args.profile or cfg.profile or "smoke", cfg.fault)
    except (config.ConfigError, profiles.ProfileError, OSError) as exc:
        _say(f"loadtests: {exc}")
        return 2
    saved = baseline.path_for(profile.name, args.baselines)
    if args.compare and not saved.is_file():
        _say(f"loadtests: no baseline at {saved}; make one with: make load-baseline PROFILE={profile.name}")
        return 2
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.reports / f"{stamp}-{profile.name}"
    out.mkdir(parents=True, exist_ok=True)
    try:
        code, result = run(cfg, profile, out)
    except RunFailed as exc:
        _say(f"loadtests: {exc}")
        return 2
    if "server" in result:
        print(server.describe(result["server"]), flush=True)
    print(baseline.describe_reference(result["reference"]), flush=True)
    if args.save_baseline:
        # A baseline records where the stack stands, targets met or not: a profile that misses
        # its target today (search at 1000/s) still needs one to show progress and regressions.
        baseline.save(result, saved)
        print(f"baseline saved: {saved}" + ("" if code == 0 else " (this run failed gates, shown above)"), flush=True)
        code = 0
    if args.compare:
        old = baseline.load(saved)
        rows = baseline.compare(old, result, cfg.min_rps_ratio or gates.DEFAULT_MIN_RPS_RATIO, normalise=cfg.normalise)
        print(f"\ncompared with {saved}:\n{baseline.table(rows, old, result, normalise=cfg.normalise)}", flush=True)
        code = code or int(baseline.regressed(rows))
    print(f"reports: {out}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
