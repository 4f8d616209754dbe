"""``pixelboard report``: one offline HTML page that shows why a leaderboard run scores as it does.

Built from the run's saved arrays and fitted models (nothing is refitted): the sortable leaderboard,
the partition, the options and timings; for each of the top ``models`` rows its confusion matrix,
per-class scores, ROC curves, learning curve (when the run has sample-size stages), most-confused
pairs and misclassified images; activation maps of a sample of images per class; a 2-D map of the
embeddings; and the data-quality lists (likely label errors, near-duplicates, outliers), also
written as CSV beside the report. The leaderboard page links to the report.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from pixelboard import atomic
from pixelboard.errors import PixelboardError
from pixelboard.insights import report_html as h
from pixelboard.insights.run_data import RunData, load_run
from pixelboard.insights.sections import (ActivationSection, DataQualitySection, EmbeddingSection, ModelSection,
                                          activation_section, data_quality_section, embedding_section, model_section)
from pixelboard.leaderboard.metrics import get_metric
from pixelboard.project import Project

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"
CSV_NAMES = {"label_issues": "label_issues.csv", "near_duplicates": "near_duplicates.csv", "outliers": "outliers.csv"}
MAX_LISTED = 60  # rows of each data-quality list shown with thumbnails (the CSVs hold them all)


@dataclass(frozen=True)
class ReportResult:
    path: Path
    csv: dict[str, Path]  # label_issues, near_duplicates, outliers
    models: list[str]  # the detailed rows
    seconds: float
    stage_seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # label_issues, near_duplicates, outliers


def build_report(files: Project, run: str = "leaderboard", output: str | os.PathLike | None = None, models: int = 3,
                 per_class: int = 2, device: str = "cpu", progress: bool = True) -> ReportResult:
    started = time.perf_counter()
    if models < 1:
        raise PixelboardError(f"models must be at least 1, got {models}")
    data = load_run(files, run)
    _check_images(data)
    output = Path(output) if output else data.directory / REPORT_NAME
    stages: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(name: str):
        begun = time.perf_counter()
        yield
        stages[name] = round(time.perf_counter() - begun, 2)
        log.info("report: %s in %.1f s", name, stages[name])

    with stage("model insights"):
        detailed = [model_section(data, row) for row in data.rows[:models]]
    with stage("data quality"):
        quality = data_quality_section(data)
    with stage("embedding map"):
        embedding = embedding_section(data, quality.featurizer, progress=progress)
    with stage("activation maps"):
        try:
            activations = activation_section(data, per_class=per_class, device=device, progress=progress)
        except PixelboardError as exc:  # e.g. the backbone's weights are not on this machine
            log.warning("activation maps skipped: %s", exc)
            activations = ActivationSection("", "", "", "", [], note=str(exc))
    csv = _write_csv(quality, output.parent)
    with stage("render"):
        page = render_report(data, detailed, activations, embedding, quality, csv, output, stages)
    atomic.write_text(output, page)
    link_from_leaderboard(data, output)
    counts = {"label_issues": len(quality.label_issues), "near_duplicates": len(quality.duplicates),
              "outliers": len(quality.outliers)}
    return ReportResult(output, csv, [s.model_id for s in detailed], time.perf_counter() - started, stages, counts)


def _check_images(data: RunData) -> None:
    missing = [p for p in data.image_set.paths() if not p.is_file()]
    if missing:
        raise PixelboardError(f"{len(missing)} image(s) of set {data.set_name!r} are missing (e.g. {missing[0]}); "
                              "the report shows the images where `pixelboard featurize` read them")


def _write_csv(quality: DataQualitySection, folder: Path) -> dict[str, Path]:
    from pixelboard.insights.data_quality import LabelIssue, NearDuplicate, Outlier, write_csv

    lists = {"label_issues": (quality.label_issues, LabelIssue), "near_duplicates": (quality.duplicates, NearDuplicate),
             "outliers": (quality.outliers, Outlier)}
    return {name: Path(write_csv(records, folder / CSV_NAMES[name], record_type=kind))
            for name, (records, kind) in lists.items()}


def link_from_leaderboard(data: RunData, output: Path) -> None:
    """Re-render ``leaderboard.html`` with a link to the report."""
    from pixelboard.leaderboard.export import write_tables

    link = os.path.relpath(output.resolve(), data.directory.resolve())
    write_tables(data.rows, data.metric, data.directory, formats=("html",), report=Path(link).as_posix())


# --- rendering ----------------------------------------------------------------------------------------------
def render_report(data: RunData, detailed: list[ModelSection], activations: ActivationSection,
                  embedding: EmbeddingSection, quality: DataQualitySection, csv: dict[str, Path], output: Path,
                  stages: dict[str, float]) -> str:
    metric = get_metric(data.metric)
    board = data.directory / "leaderboard.html"
    back = f' · <a href="{h.esc(_rel(board, output))}">leaderboard table</a>' if board.is_file() else ""
    subtitle = (f"run {h.esc(data.run)} of {h.esc(str(data.files.root))} · {len(data.labels.ids):,} images of set "
                f"{h.esc(data.set_name)}, {len(data.class_names)} classes · ranked by Cross Validation "
                f"{h.esc(metric.label)} · built {time.strftime('%Y-%m-%d %H:%M')}{back}")
    parts = [_leaderboard(data, {s.model_id for s in detailed}), _partition(data), _options(data),
             _timings(data, stages)]
    parts.append(h.section("models", "Models", "\n".join(model_html(data, s) for s in detailed)))
    parts += [_activations(data, activations), _embedding(embedding), _quality(data, quality, csv, output)]
    nav = [("leaderboard", "Leaderboard"), ("partition", "Partition"), ("options", "Options"), ("timings", "Timings"),
           *[(f"model-{s.model_id}", s.model_id) for s in detailed], ("activation-maps", "Activation maps"),
           ("embedding-map", "Embeddings map"), ("data-quality", "Data quality")]
    return h.page(f"pixelboard report — {data.run}", subtitle, nav, "\n".join(parts))


def _rel(target: Path, output: Path) -> str:
    return Path(os.path.relpath(target.resolve(), output.resolve().parent)).as_posix()


def _leaderboard(data: RunData, detailed: set[str]) -> str:
    from pixelboard.leaderboard.table import table_records

    records = table_records(data.rows, data.metric)
    headers = [c for c in records[0] if c != "Recommended"] if records else []
    rows = []
    for record in records:
        values = []
        for c in headers:
            value = record[c]
            if c == "Model ID":
                badge = ' <span class="badge">Recommended</span>' if record["Recommended"] else ""
                shown = f'<a href="#model-{h.esc(value)}">{h.esc(value)}</a>' if value in detailed else h.esc(value)
                value = (value, shown + badge)
            values.append(value)
        rows.append(values)
    note = ('<p class="note">Ranked by Cross Validation; Holdout is shown, never used for ranking. Click a column '
            "header to sort. Rows with details below link to them.</p>")
    return h.section("leaderboard", "Leaderboard", note + h.table(headers, rows, table_id="leaderboard-table",
                                                                  raw=("Model ID",)))


def _partition(data: RunData) -> str:
    import numpy as np

    p = data.partition
    fold_of = p.fold_of()
    head = ["Class", "Images", "Holdout", *[f"Fold {k + 1}" for k in range(p.n_folds)]]
    rows = []
    for k, name in enumerate(data.class_names):
        of_class = data.labels.y == k
        rows.append([name, int(of_class.sum()), int((of_class & (fold_of == -1)).sum()),
                     *[int((of_class & (fold_of == f)).sum()) for f in range(p.n_folds)]])
    rows.append(["all", len(fold_of), int(p.holdout.size), *[int(v.size) for _, v in p.folds]])
    groups = data.config.get("n_groups")
    shared = data.config.get("images_sharing_a_group", 0)
    text = (f"<p>Stratified holdout of {p.holdout.size:,} images ({p.holdout_fraction:.0%}), then {p.n_folds} "
            f"folds over the other {int(np.sum(fold_of >= 0)):,}; seed {p.seed}. Validation is fold 1, Cross "
            f"Validation the mean over the folds. {groups if groups is not None else '?'} identity groups "
            f"({shared} images share a group with another): a group never straddles train and validation.</p>")
    return h.section("partition", "Partition", text + h.table(head, rows, table_id="partition-table"))


def _options(data: RunData) -> str:
    options = dict(data.config.get("options", {}))
    rows = [[k, ", ".join(map(str, v)) if isinstance(v, list) else str(v)] for k, v in options.items()]
    rows += [["featurizer " + k, v] for k, v in data.config.get("featurizers", {}).items()]
    rows += [[f"version {k}", v] for k, v in data.config.get("versions", {}).items() if v]
    rows.append(["updated", data.config.get("updated", "")])
    return h.section("options", "Options", h.table(["Option", "Value"], rows, table_id="options-table",
                                                   sortable=False))


def _timings(data: RunData, stages: dict[str, float]) -> str:
    from pixelboard.insights.figures import timings_png

    featurize = []
    for name in data.files.featurizer_names(data.set_name):
        timing = data.files.load_embeddings(data.set_name, name).sidecar.get("timings") or {}
        featurize.append([name, timing.get("seconds", float("nan")), timing.get("images_computed", ""),
                          timing.get("images_per_second", "")])
    rows = [[r["id"], r["label"], r["featurizer"], float(r["fit_seconds"]), float(r["predict_seconds"])]
            for r in data.rows]
    chart = timings_png([f"{r['id']} {r['label'][:34]}" for r in data.rows], [r["fit_seconds"] for r in data.rows],
                        [r["predict_seconds"] for r in data.rows])
    total = sum(r["fit_seconds"] + r["predict_seconds"] for r in data.rows)
    body = ("<h4>Featurize (last run per featurizer)</h4>"
            + h.table(["Featurizer", "Seconds", "Images computed", "Images / s"], featurize, digits=2)
            + f"<h4>Leaderboard: {total:,.1f} s of fitting and predicting (summed over folds)</h4>"
            + h.table(["Model ID", "Blueprint", "Featurizer", "Fit s", "Predict s"], rows, table_id="timings-table",
                      digits=2)
            + f'<div class="pics">{h.picture(chart, "fit and predict seconds per model")}</div>'
            + "<h4>This report</h4>" + h.table(["Stage", "Seconds"], [[k, v] for k, v in stages.items()], digits=2))
    return h.section("timings", "Timings", body)


def model_html(data: RunData, s: ModelSection) -> str:
    mid, ins = s.model_id, s.insights
    score = s.row["scores"][data.metric]
    intro = (f'<p>{h.esc(s.row["label"])} on {h.esc(s.row["featurizer"])} · Cross Validation '
             f"{score['cv_mean']:.4f} ± {score['cv_std']:.4f} · Holdout {score['holdout']:.4f} · pictures from the "
             f"out-of-fold predictions of {int(ins.confusion.sum()):,} validated images</p>")
    parts = [h.section(f"model-{mid}-confusion", "Confusion matrix", '<div class="pics">'
                       + h.picture(s.figures["confusion_counts"], f"{mid} confusion matrix, counts")
                       + h.picture(s.figures["confusion_normalised"], f"{mid} confusion matrix, row-normalised")
                       + "</div>", 4, "div")]
    per_class = [[c.name, c.precision, c.recall, c.f1, int(c.support)] for c in ins.per_class]
    parts.append(h.section(f"model-{mid}-per-class", "Per-class scores", h.table(
        ["Class", "Precision", "Recall", "F1", "Support"], per_class, table_id=f"model-{mid}-per-class-table"), 4, "div"))
    aucs = ", ".join(f"{c.name} {c.auc:.3f}" for c in ins.roc)
    parts.append(h.section(f"model-{mid}-roc", "ROC curves (one vs rest)", '<div class="pics">'
                           + h.picture(s.figures["roc"], f"{mid} ROC curves") + f'</div><p class="note">AUC: '
                           f"{h.esc(aucs)}</p>", 4, "div"))
    if "learning_curve" in s.figures:
        points = "; ".join(f"{pct:g}% → {score:.4f}" for pct, score in next(iter(s.learning_curve.values())))
        parts.append(h.section(f"model-{mid}-learning-curve", "Learning curve", '<div class="pics">'
                               + h.picture(s.figures["learning_curve"], f"{mid} learning curve")
                               + f'</div><p class="note">{h.esc(points)}</p>', 4, "div"))
    elif data.learning_curve() is not None:
        parts.append('<p class="note">No sample-size stages for this model in learning_curve.json.</p>')
    pairs = []
    for pair in ins.confused_pairs:
        thumbs = "".join(h.thumb(data.thumbnail(i), h.esc(i), css="error") for i in pair.example_ids)
        pairs.append(f'<div class="pair"><b>{h.esc(pair.true)} → predicted {h.esc(pair.predicted)}: {pair.count}'
                     f'</b><div class="gallery">{thumbs}</div></div>')
    parts.append(h.section(f"model-{mid}-confused-pairs", "Most-confused pairs",
                           "\n".join(pairs) or '<p class="note">No validated image was misclassified.</p>', 4, "div"))
    gallery = "".join(h.thumb(data.thumbnail(m.image_id), f"{h.esc(m.image_id)}<br>true {h.esc(m.true)}<br>"
                              f"pred {h.esc(m.predicted)} ({m.confidence:.2f})", css="error")
                      for m in ins.misclassified)
    parts.append(h.section(f"model-{mid}-misclassified", "Misclassified validation images (most confident first)",
                           f'<div class="gallery">{gallery}</div>' if gallery
                           else '<p class="note">No validated image was misclassified.</p>', 4, "div"))
    title = f"{mid} — {s.row['label']}"
    return h.section(f"model-{mid}", title, intro + "\n".join(parts), 3, "article")


def _activations(data: RunData, a: ActivationSection) -> str:
    if not a.tiles:
        return h.section("activation-maps", "Activation maps",
                         f'<p class="note">No activation maps: {h.esc(a.note or "no images")}</p>')
    tiles = "".join(
        f'<figure class="thumb wide">{h.picture(t.overlay, f"map of {t.image_id}")}<figcaption>{h.esc(t.image_id)}'
        f"<br>true {h.esc(t.true)} · pred {h.esc(t.predicted)}<br>map for {h.esc(t.explained)}</figcaption></figure>"
        for t in a.tiles)
    intro = (f"<p>{h.esc(a.model_id)} ({h.esc(a.label)} on {h.esc(a.featurizer)}), method: {h.esc(a.method)}. "
             "Red = the regions that raise the class score most; the image is shown as the network saw it.</p>")
    return h.section("activation-maps", "Activation maps", intro + f'<div class="gallery">{tiles}</div>')


def _embedding(e: EmbeddingSection) -> str:
    intro = (f"<p>{e.n_points:,} images of {h.esc(e.featurizer)} projected to 2-D, coloured by their label; "
             f"{e.n_errors:,} ringed in black are misclassified by {h.esc(e.model_id)} (out of sample).</p>")
    return h.section("embedding-map", "Image embeddings map",
                     intro + f'<div class="pics">{h.picture(e.png, "embeddings map")}</div>')


def _quality(data: RunData, q: DataQualitySection, csv: dict[str, Path], output: Path) -> str:
    def link(name: str) -> str:
        return f'<a href="{h.esc(_rel(csv[name], output))}">{h.esc(csv[name].name)}</a>'

    def image(image_id: str, set_name: str | None = None) -> tuple[str, str]:
        return image_id, h.thumb(data.thumbnail(image_id, set_name), h.esc(image_id))

    issues = [[image(i.image_id), i.given, i.suggested, float(i.label_quality)] for i in q.label_issues[:MAX_LISTED]]
    body = [h.section("label-issues", f"Likely label errors: {len(q.label_issues):,}", (
        f"<p>Images whose given label disagrees with the out-of-sample probabilities of {h.esc(q.model_id)} "
        f"(confident learning), lowest label quality first. All of them: {link('label_issues')}.</p>"
        + h.table(["Image", "Given", "Suggested", "Label quality"], issues, table_id="label-issues-table",
                  raw=("Image",))), 3, "div")]
    pairs = [[image(d.a), image(d.b, _set_of(data, d, q)), d.within, float(d.similarity)]
             for d in q.duplicates[:MAX_LISTED]]
    against = f" and against set(s) {h.esc(', '.join(q.other_sets))}" if q.other_sets else ""
    body.append(h.section("near-duplicates", f"Near-duplicates: {len(q.duplicates):,} pairs", (
        f"<p>Pairs of images whose {h.esc(q.featurizer)} embeddings are almost identical (cosine similarity), "
        f"within the training set{against}. All of them: {link('near_duplicates')}.</p>"
        + h.table(["Image", "Near-duplicate", "Within", "Similarity"], pairs, table_id="near-duplicates-table",
                  raw=("Image", "Near-duplicate"))), 3, "div"))
    odd = [[image(o.image_id), data.class_names[data.labels.y[data.labels.ids.index(o.image_id)]], float(o.score)]
           for o in q.outliers[:MAX_LISTED]]
    body.append(h.section("outliers", f"Outliers: {len(q.outliers):,}", (
        f"<p>Training images least like the others in the {h.esc(q.featurizer)} embeddings. All of them: "
        f"{link('outliers')}.</p>" + h.table(["Image", "Label", "Outlier score"], odd, table_id="outliers-table",
                                             raw=("Image",))), 3, "div"))
    return h.section("data-quality", "Data quality", "\n".join(body))


def _set_of(data: RunData, duplicate, q: DataQualitySection) -> str | None:
    """The image set of a near-duplicate's second image: training, or the first other set holding it."""
    if duplicate.b in set(data.labels.ids) and duplicate.within in ("train", data.set_name, "within"):
        return None
    for name in q.other_sets:
        if duplicate.b in data.image_set_named(name).ids:
            return name
    return None
