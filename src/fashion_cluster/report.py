"""The HTML report of a run (built from metrics.json and figures/)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from .artifacts import atomic_path, read_json


def write_report(out: str | Path) -> Path:
    out = Path(out)
    metrics = read_json(out / "metrics.json")
    parts = [f"<h1>fashion-cluster: {html.escape(str(metrics['preset']))}</h1>"]
    for png in sorted((out / "figures").glob("*.png")):
        data = base64.b64encode(png.read_bytes()).decode()
        parts.append(f"<h3>{html.escape(png.stem)}</h3><img src='data:image/png;base64,{data}'>")
    path = out / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text("<!doctype html><meta charset='utf-8'>" + "\n".join(parts))
    return path
