"""Where an alert's runbook lives: `runbooks/<alertname-lowercase>.md`, in the repository and online.

Alert rules put the URL in `runbook_url`, dashboards link their alert panels to it, and a
test checks that the file exists for every alert, so a page never points at nothing.
"""

from __future__ import annotations

from pathlib import PurePosixPath

# The published runbooks (the repository's runbooks/ folder, as rendered by the forge).
BASE_URL = "https://github.com/ragplane/ragplane/blob/main/runbooks/"


def runbook_path(alertname: str) -> PurePosixPath:
    """The runbook's path relative to the repository root."""
    return PurePosixPath("runbooks") / f"{alertname.lower()}.md"


def runbook_url(alertname: str) -> str:
    return BASE_URL + runbook_path(alertname).name
