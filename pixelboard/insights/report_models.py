"""The report's per-model sections: which rows get one (one per distinct model) and their HTML (a grid of
confusion matrices, per-class scores, ROC and learning curves; the top confused pairs with the rest
behind a "show all" toggle; the most confident misclassified images)."""

from __future__ import annotations

from pixelboard.insights import report_html as h
from pixelboard.insights.run_data import RunData
from pixelboard.insights.sections import ModelSection

TOP_PAIRS = 10  # confused pairs shown at once; the rest behind "show all"
PAIR_EXAMPLES = 4  # thumbnails per pair


def _signature(row: dict, metric: str) -> tuple:
    """Rows that are the same model for a reader: a blend with the same members and the same scores as
    another (AVG and GLM blenders that both picked one member, say) is shown once."""
    if row["kind"] != "blend":
        return ("model", row["id"])
    score = row["scores"][metric]
    return ("blend", tuple(sorted(row["members"])), round(float(score["cv_mean"]), 6),
            round(float(score["holdout"]), 6))


def distinct_rows(rows: list[dict], metric: str, n: int) -> tuple[list[dict], dict[str, str]]:
    """The first ``n`` distinct rows (ranked order), and ``{row id: id of the detailed row it repeats}``
    for the repeats met on the way."""
    chosen, first, repeats = [], {}, {}
    for row in rows:
        if len(chosen) == n:
            break
        sig = _signature(row, metric)
        if sig in first:
            repeats[row["id"]] = first[sig]
            continue
        first[sig] = row["id"]
        chosen.append(row)
    return chosen, repeats


def model_html(data: RunData, s: ModelSection, repeats: list[str] = ()) -> str:
    mid, ins = s.model_id, s.insights
    score = s.row["scores"][data.metric]
    one = len(repeats) == 1
    same = (f" {h.esc(', '.join(repeats))} {'has' if one else 'have'} the same members and scores, so "
            f"{'it is' if one else 'they are'} not shown again.") if repeats else ""
    intro = (f'<p>{h.esc(s.row["label"])} on {h.esc(s.row["featurizer"])} · Cross Validation '
             f"{score['cv_mean']:.4f} ± {score['cv_std']:.4f} · Holdout {score['holdout']:.4f} · pictures from the "
             f"out-of-fold predictions of {int(ins.confusion.sum()):,} validated images.{same}</p>")
    grid = [h.section(f"model-{mid}-confusion", "Confusion matrix",
                      '<div class="pics">' + h.chart(s.figures["confusion_counts"], f"{mid} confusion matrix, counts")
                      + "</div>", 4, "div"),
            h.section(f"model-{mid}-confusion-share", "Confusion matrix, share of each true class",
                      '<div class="pics">' + h.chart(s.figures["confusion_normalised"],
                                                     f"{mid} confusion matrix, row-normalised") + "</div>", 4, "div")]
    per_class = [[c.name, c.precision, c.recall, c.f1, int(c.support)] for c in ins.per_class]
    grid.append(h.section(f"model-{mid}-per-class", "Per-class scores", h.table(
        ["Class", "Precision", "Recall", "F1", "Support"], per_class, table_id=f"model-{mid}-per-class-table"), 4,
        "div"))
    aucs = ", ".join(f"{c.name} {c.auc:.3f}" for c in ins.roc)
    grid.append(h.section(f"model-{mid}-roc", "ROC curves (one vs rest)", '<div class="pics">'
                          + h.chart(s.figures["roc"], f"{mid} ROC curves") + f'</div><p class="note">AUC: '
                          f"{h.esc(aucs)}</p>", 4, "div"))
    if "learning_curve" in s.figures:
        points = "; ".join(f"{pct:g}% → {score:.4f}" for pct, score in next(iter(s.learning_curve.values())))
        grid.append(h.section(f"model-{mid}-learning-curve", "Learning curve", '<div class="pics">'
                              + h.chart(s.figures["learning_curve"], f"{mid} learning curve")
                              + f'</div><p class="note">{h.esc(points)}</p>', 4, "div"))
    elif data.learning_curve() is not None:
        grid.append('<p class="note">No sample-size stages for this model.</p>')
    parts = [f'<div class="grid">{"".join(grid)}</div>', _pairs_html(data, s)]
    gallery = "".join(h.thumb(data.thumbnail(m.image_id), f"{h.esc(m.image_id)}<br>true {h.esc(m.true)}<br>"
                              f"pred {h.esc(m.predicted)} ({m.confidence:.2f})", css="error")
                      for m in ins.misclassified)
    parts.append(h.section(f"model-{mid}-misclassified", "Misclassified validation images (most confident first)",
                           f'<div class="gallery">{gallery}</div>' if gallery
                           else '<p class="note">No validated image was misclassified.</p>', 4, "div"))
    return h.section(f"model-{mid}", f"{mid} — {s.row['label']}", intro + "\n".join(parts), 3, "article")


def _pairs_html(data: RunData, s: ModelSection) -> str:
    pairs = s.insights.confused_pairs
    section_id = f"model-{s.model_id}-confused-pairs"
    if not pairs:
        return h.section(section_id, "Most-confused pairs", '<p class="note">No validated image was misclassified.</p>',
                         4, "div")

    def rows(chosen) -> list:
        return [[p.true, p.predicted, int(p.count),
                 ("", '<div class="gallery">' + "".join(h.thumb(data.thumbnail(i), h.esc(i), css="error")
                                                        for i in p.example_ids[:PAIR_EXAMPLES]) + "</div>")]
                for p in chosen]

    headers = ["True class", "Predicted", "Images", "Examples (most confident first)"]
    top = h.table(headers, rows(pairs[:TOP_PAIRS]), table_id=f"{section_id}-top", raw=(headers[-1],),
                  filterable=False)
    body = f'<div class="pairs">{top}</div>'
    if len(pairs) > TOP_PAIRS:
        rest = h.table(headers, rows(pairs[TOP_PAIRS:]), table_id=f"{section_id}-rest", raw=(headers[-1],))
        body += (f'<details class="pairs"><summary>show all {len(pairs):,} pairs ({len(pairs) - TOP_PAIRS:,} more)'
                 f"</summary>{rest}</details>")
    title = f"Most-confused pairs (top {min(TOP_PAIRS, len(pairs))} of {len(pairs):,})"
    return h.section(section_id, title, body, 4, "div")
