"""`ragplane gateway export-kong [--output PATH] [--check]`: write (or check) Kong's declarative
config for the full stack, `deploy/kong/kong.yml`, from the gateway settings
(`ragplane.services.gateway.kong` builds it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ragplane.ops.generated import sync
from ragplane.services.gateway.kong import COMMAND, compose_text
from ragplane.settings import Settings

DEFAULT_OUTPUT = Path("deploy/kong/kong.yml")


def export(settings: Settings, output: Path, *, check: bool, say: Callable[[str], None]) -> int:
    """Write (or with `check`, compare) the Kong config; 1 when `check` finds the file out of date."""
    text = compose_text(settings.gateway)
    return sync({output: text}, check=check, command=f"{COMMAND} --output {output}", say=say)
