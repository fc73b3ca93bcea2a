"""The dashboards as Grafana reads them: the rendered JSON, parsed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dashboards import dashboards
from dashboards.generate import render

ROOT = Path(__file__).resolve().parents[2]


def boards() -> list[dict[str, Any]]:
    return [json.loads(render(d)) for d in dashboards()]


def data_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel but the row headers, including panels inside collapsed rows."""
    out: list[dict[str, Any]] = []
    for panel in board["panels"]:
        if panel["type"] == "row":
            out += panel["panels"]
        else:
            out.append(panel)
    return out


def all_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Row headers and data panels."""
    return [*board["panels"], *(p for row in board["panels"] if row["type"] == "row" for p in row["panels"])]
