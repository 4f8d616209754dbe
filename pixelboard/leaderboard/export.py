"""Write the ranked leaderboard as leaderboard.csv / .md / .html / .json in the run directory.

The tables only render: the run's ``ranking.json`` and each row's ``result.json`` (leaderboard/store.py)
are the source of truth that ``pixelboard export`` and ``predict`` read.
"""

from __future__ import annotations

from pathlib import Path

from pixelboard import atomic
from pixelboard.errors import PixelboardError
from pixelboard.leaderboard.table import render_csv, render_html, render_json, render_markdown, table_records

FORMATS = ("csv", "md", "html", "json")


def render(ranked: list[dict], metric: str, fmt: str, report: str | None = None,
           show_holdout: tuple[str, ...] = ()) -> str:
    """``show_holdout``: ids of screening rows whose locked Holdout is shown (table.holdout_locked)."""
    if fmt == "json":
        return render_json(ranked, metric, show_holdout)
    records = table_records(ranked, metric, show_holdout)
    if fmt == "csv":
        return render_csv(records)
    if fmt == "md":
        return render_markdown(records, metric)
    if fmt == "html":
        return render_html(records, metric, report=report)
    raise PixelboardError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


def write_tables(ranked: list[dict], metric: str, directory: Path, formats=FORMATS,
                 report: str | None = None) -> dict[str, Path]:
    """``report``: the insights report's path relative to ``directory`` for the HTML page to link to
    (default: ``report.html`` when `pixelboard report` wrote one there)."""
    if report is None and (Path(directory) / "report.html").is_file():
        report = "report.html"
    paths = {}
    for fmt in formats:
        path = Path(directory) / f"leaderboard.{fmt}"
        atomic.write_text(path, render(ranked, metric, fmt, report))
        paths[fmt] = path
    return paths


def load_ranked(directory: Path) -> tuple[list[dict], str]:
    """The rows and metric of the last leaderboard run in ``directory``."""
    from pixelboard.leaderboard.store import RunStore

    return RunStore(Path(directory)).ranked_rows()
