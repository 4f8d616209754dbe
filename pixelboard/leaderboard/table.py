"""The DataRobot-like comparison table: rank rows by Cross Validation and render them.

Formats: console text, CSV, Markdown, JSON and a self-contained sortable HTML page. Ranking uses
the Cross Validation mean of the chosen metric only; Holdout is shown for full rows and blends, never
used to rank, and locked (a dash) for screening rows unless unlocked by id (``--show-holdout``).

The renderers take plain records (one dict per row, columns in order), not a DataFrame: ``pixelboard
export`` must answer in well under a second, and importing pandas alone takes most of one.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from typing import TYPE_CHECKING

from pixelboard.errors import PixelboardError
from pixelboard.leaderboard.metrics import get_metric

if TYPE_CHECKING:
    import pandas as pd

Record = dict[str, object]  # one table row: column name -> value, in column order


def rank_rows(results: list[dict], metric: str, shifted: bool = False) -> list[dict]:
    """Best first by CV mean (direction from the metric); ties by lower CV std, then id. ``shifted``:
    by the Cross Validation scored under the test conditions (``--validate-under``). Screening rows
    (one fold on a sample: no CV) come after every full row, larger samples first, by Validation."""
    m = get_metric(metric)
    key = "scores_shifted" if shifted else "scores"

    def order(r):
        score = r[key][m.name]
        if r["kind"] == "stage":
            return 1, -r["sample_pct"], -m.oriented(score["validation"]), 0.0, r["id"]
        return 0, 0.0, -m.oriented(score["cv_mean"]), score["cv_std"], r["id"]

    return sorted(results, key=order)


def is_recommendable(row: dict) -> bool:
    """Full rows, and blends that beat their best member by more than their CV standard error
    (blend_rows.py); never a screening row (its one-fold score is not comparable)."""
    return row["kind"] != "stage" and bool(row.get("beats_members", True))


def recommended(ranked: list[dict]) -> dict:
    """The best full row or blend of a ranked leaderboard (``best``)."""
    for row in ranked:
        if is_recommendable(row):
            return row
    raise PixelboardError("the leaderboard has only screening rows (a time budget stopped it before full "
                          "cross-validation); run it again to finish, or choose a model id")


LOCKED = None  # a locked Holdout cell: rendered as a dash ("" in CSV)


def holdout_locked(row: dict, show_holdout: tuple[str, ...] = ()) -> bool:
    """A screening row's Holdout stays locked (DataRobot keeps the holdout out of sight until a model is
    chosen, so nobody picks by it) unless its id is in ``show_holdout``; full rows and blends show it."""
    return row["kind"] == "stage" and row["id"] not in show_holdout


def table_records(ranked: list[dict], metric: str, show_holdout: tuple[str, ...] = ()) -> list[Record]:
    """The table's rows, best first, with the columns every format shows (``Recommended`` marks the
    recommended row). Screening rows' Holdout is locked unless their id is in ``show_holdout``."""
    m = get_metric(metric)
    chosen = next((row["id"] for row in ranked if is_recommendable(row)), None)
    records = []
    for rank, row in enumerate(ranked, start=1):
        score = row["scores"][m.name]
        records.append({
            "Rank": rank,
            "Model ID": row["id"],
            "Blueprint": row["label"] + (f" ({'+'.join(row['members'])})" if row["members"] else ""),
            "Featurizer": row["featurizer"],
            "Levels": ",".join(row["levels"]) if row["levels"] else "",
            "Sample %": row["sample_pct"],
            "Validation": score["validation"],
            "Cross Validation": score["cv_mean"],
            "CV Std": score["cv_std"],
            "Holdout": LOCKED if holdout_locked(row, show_holdout) else score["holdout"],
            **_shifted_columns(row, m.name, holdout_locked(row, show_holdout)),
            "Fit s": row["fit_seconds"],
            "Predict s": row["predict_seconds"],
            "Recommended": row["id"] == chosen,
        })
    return records


def to_frame(ranked: list[dict], metric: str) -> "pd.DataFrame":
    """The table as a DataFrame (the Python API's ``Leaderboard.frame``)."""
    import pandas as pd

    return pd.DataFrame.from_records(table_records(ranked, metric))


def _shifted_columns(row: dict, metric: str, locked: bool) -> dict:
    """Scores under the test conditions (``--validate-under``), beside the clean ones."""
    if "scores_shifted" not in row:
        return {}
    score = row["scores_shifted"][metric]
    return {"CV (shifted)": score["cv_mean"], "Holdout (shifted)": LOCKED if locked else score["holdout"]}


def _fmt(value, digits: int = 4) -> str:
    if value is LOCKED:
        return "—"
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def render_text(records: list[Record], metric: str) -> str:
    """A fixed-width table for the console."""
    shifted = bool(records) and "CV (shifted)" in records[0]
    shown = []
    for r in records:
        row = {k: v for k, v in r.items() if k not in ("Recommended", "Levels", "CV Std")}
        row["Model ID"] = f"{r['Model ID']} *" if r["Recommended"] else r["Model ID"]
        cv, std = r["Cross Validation"], r["CV Std"]
        row["Cross Validation"] = "" if math.isnan(cv) else f"{cv:.4f} ± {std:.4f}"  # screening rows have no CV
        shown.append(row)
    columns = list(shown[0]) if shown else ["Rank", "Model ID", "Blueprint"]
    cells = [[_fmt(v, _digits(c)) for c, v in row.items()] for row in shown]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    line = lambda values: "  ".join(str(v).ljust(w) for v, w in zip(values, widths))  # noqa: E731
    ranked_by = "CV (shifted): Cross Validation under the test conditions" if shifted else "Cross Validation"
    header = f"Leaderboard — metric: {get_metric(metric).label} (ranked by {ranked_by}; * = recommended)"
    return "\n".join([header, line(columns), line("-" * w for w in widths)] + [line(r) for r in cells])


def _digits(column: str) -> int:
    return 2 if column in ("Fit s", "Predict s", "Sample %") else 4


def render_csv(records: list[Record]) -> str:
    """Comma-separated, full precision; an empty cell where a score does not exist (NaN)."""
    out = io.StringIO()
    if records:
        writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is LOCKED or (isinstance(v, float) and math.isnan(v)) else v
                          for k, v in r.items()} for r in records)
    return out.getvalue()


def render_markdown(records: list[Record], metric: str) -> str:
    columns = list(records[0]) if records else []
    header = "| " + " | ".join(columns) + " |"
    rule = "| " + " | ".join("---" for _ in columns) + " |"
    body = ["| " + " | ".join(("**recommended**" if v else "") if c == "Recommended" else _fmt(v).replace("|", "\\|")
                              for c, v in r.items()) + " |" for r in records]
    return "\n".join([f"# Leaderboard — {get_metric(metric).label}", "", header, rule, *body, ""])


def render_json(ranked: list[dict], metric: str, show_holdout: tuple[str, ...] = ()) -> str:
    """Every stored field but the key and spec; a locked row's holdout scores are null."""
    payload = {"metric": metric, "rows": [_lock_scores({k: v for k, v in r.items() if k not in ("key", "spec")},
                                                       holdout_locked(r, show_holdout)) for r in ranked]}
    return json.dumps(payload, indent=2, default=lambda v: None) + "\n"


def _lock_scores(row: dict, locked: bool) -> dict:
    if not locked:
        return row
    for key in ("scores", "scores_shifted"):
        if key in row:
            row[key] = {name: {**score, "holdout": None} for name, score in row[key].items()}
    return row


def render_html(records: list[Record], metric: str, title: str = "pixelboard leaderboard", report: str | None = None) -> str:
    """One file, no external assets: click a header to sort; the recommended row carries a badge.
    ``report``: the insights report's path relative to the page (``pixelboard report``), linked at the top."""
    columns = [c for c in records[0] if c != "Recommended"] if records else []
    head = "".join(f"<th onclick=\"sortBy({i})\">{html.escape(c)}</th>" for i, c in enumerate(columns))
    rows = []
    for row in records:
        cells = []
        for c in columns:
            value = row[c]
            text = html.escape(_fmt(value, _digits(c)))
            if c == "Model ID" and row["Recommended"]:
                text += ' <span class="badge">Recommended</span>'
            sort_key = "" if value is LOCKED or (isinstance(value, float) and math.isnan(value)) else value
            cells.append(f"<td data-v=\"{html.escape(str(sort_key))}\">{text}</td>")
        rows.append(f"<tr class=\"{'top' if row['Recommended'] else ''}\">{''.join(cells)}</tr>")
    label = html.escape(get_metric(metric).label)
    link = (f'<p><a id="report-link" href="{html.escape(report)}">Insights report: confusion matrices, activation '
            'maps, embeddings map, likely label errors</a></p>') if report else ""
    return _HTML.format(title=html.escape(title), label=label, head=head, body="\n".join(rows), link=link)


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1f2933}}
table{{border-collapse:collapse;font-size:14px}} th,td{{padding:6px 10px;border-bottom:1px solid #e4e7eb;text-align:left}}
th{{background:#f5f7fa;cursor:pointer;user-select:none;position:sticky;top:0}} th:hover{{background:#e4e7eb}}
tr.top{{background:#f0fff4}} .badge{{background:#2f855a;color:#fff;border-radius:8px;padding:1px 7px;font-size:11px}}
caption{{text-align:left;font-size:13px;color:#52606d;padding-bottom:8px}}
</style></head><body>
<h1>{title}</h1>
{link}
<table id="lb"><caption>Metric: {label}. Ranked by Cross Validation (mean over folds); Holdout is never used
for ranking. Click a column header to sort.</caption>
<thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table>
<script>
let dir = {{}};
function sortBy(i) {{
  const body = document.querySelector('#lb tbody');
  const rows = Array.from(body.rows);
  dir[i] = !dir[i];
  rows.sort((a, b) => {{
    const x = a.cells[i].dataset.v, y = b.cells[i].dataset.v;
    const nx = parseFloat(x), ny = parseFloat(y);
    const c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
    return dir[i] ? c : -c;
  }});
  rows.forEach(r => body.appendChild(r));
}}
</script></body></html>
"""
