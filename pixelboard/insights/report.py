"""``pixelboard report``: one offline HTML page that shows why a leaderboard run scores as it does.

Built from the run's saved arrays and fitted models (nothing is refitted): the sortable leaderboard
beside the recommended model's confusion matrix (the first screen), the partition, the options and
timings; for each of the top ``models`` distinct rows (report_models.py) its confusion matrix,
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
from pixelboard.insights.report_models import distinct_rows, model_html
from pixelboard.insights.run_data import RunData, load_run
from pixelboard.insights.sections import (ActivationSection, DataQualitySection, EmbeddingSection, ModelSection,
                                          activation_section, data_quality_section, embedding_section, model_section)
from pixelboard.leaderboard.metrics import get_metric
from pixelboard.project import Project

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"
CSV_NAMES = {"label_issues": "label_issues.csv", "near_duplicates": "near_duplicates.csv", "outliers": "outliers.csv"}
LEADERBOARD_FIRST = ("Rank", "Model ID", "Blueprint", "Featurizer", "Cross Validation", "CV Std", "Holdout")
MAX_LISTED = 60  # rows of each data-quality list shown with thumbnails (the CSVs hold them all)
SHOWN = 10  # of those in view; the rest behind "show more"


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

    chosen, repeats = distinct_rows(_recommended_first(data.rows), data.metric, models)
    with stage("model insights"):
        from tqdm.auto import tqdm

        detailed = [model_section(data, row) for row in tqdm(chosen, desc="report: model pictures", unit="model",
                                                             disable=not progress)]
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
        page = render_report(data, detailed, activations, embedding, quality, csv, output, stages, repeats)
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
                  stages: dict[str, float], repeats: dict[str, str] | None = None) -> str:
    metric = get_metric(data.metric)
    repeats = repeats or {}
    board = data.directory / "leaderboard.html"
    back = f' · <a href="{h.esc(_rel(board, output))}">leaderboard table</a>' if board.is_file() else ""
    subtitle = (f"run {h.esc(data.run)} of {h.esc(str(data.files.root))} · {len(data.labels.ids):,} images of set "
                f"{h.esc(data.set_name)}, {len(data.class_names)} classes · ranked by Cross Validation "
                f"{h.esc(metric.label)} · built {time.strftime('%Y-%m-%d %H:%M')}{back}")
    overview = (f'<div class="grid overview">{_leaderboard(data, {s.model_id for s in detailed})}'
                f"{_recommended(data, detailed[0])}</div>")
    run_facts = (f'<div class="grid">{_partition(data)}{_options(data)}</div>'
                 f"{_timings(data, stages)}")
    shown_as = {}
    for repeat, original in repeats.items():
        shown_as.setdefault(original, []).append(repeat)
    models = h.section("models", "Models", "\n".join(model_html(data, s, shown_as.get(s.model_id, []))
                                                      for s in detailed))
    parts = [overview, run_facts, models, _activations(data, activations), _embedding(embedding),
             _quality(data, quality, csv, output)]
    nav = [("leaderboard", "Leaderboard"), ("recommended", "Recommended model"), ("partition", "Partition"),
           ("options", "Options"), ("timings", "Timings"), *[(f"model-{s.model_id}", s.model_id) for s in detailed],
           ("activation-maps", "Activation maps"), ("embedding-map", "Embeddings map"), ("data-quality", "Data quality")]
    return h.page(f"pixelboard report — {data.run}", subtitle, nav, "\n".join(parts))


def _recommended_first(rows: list[dict]) -> list[dict]:
    """The ranked rows with the recommended one first: it is the model detailed beside the leaderboard
    (rank 1 may be a blend that does not beat its best member, or a run may hold screening rows only)."""
    from pixelboard.leaderboard.table import recommended

    try:
        best = recommended(rows)
    except PixelboardError:
        return rows
    return [best] + [row for row in rows if row is not best]


def _rel(target: Path, output: Path) -> str:
    return Path(os.path.relpath(target.resolve(), output.resolve().parent)).as_posix()


def _leaderboard(data: RunData, detailed: set[str]) -> str:
    from pixelboard.leaderboard.table import table_records

    records = table_records(data.rows, data.metric)
    present = [c for c in records[0] if c != "Recommended"] if records else []
    # The scores right after the model's name (they must be on the first screen); details to the right.
    first = [c for c in LEADERBOARD_FIRST if c in present]
    headers = first + [c for c in present if c not in first and c != "Levels"] + (["Levels"] * ("Levels" in present))
    rows = []
    for record in records:
        values = []
        for c in headers:
            value = record[c]
            if c == "Levels":
                value = value.replace(",", ", ")  # wraps
            if c == "Sample %" and isinstance(value, float) and value.is_integer():
                value = int(value)  # 64, not 64.0000
            if c == "Model ID":
                badge = ' <span class="badge">Recommended</span>' if record["Recommended"] else ""
                shown = f'<a href="#model-{h.esc(value)}">{h.esc(value)}</a>' if value in detailed else h.esc(value)
                value = (value, shown + badge)
            values.append(value)
        rows.append(values)
    note = ('<p class="note">Ranked by Cross Validation; Holdout is never used for ranking, and a screening row\'s '
            "stays locked (\u2014). Click a column header to sort, type to filter. Rows with details below link to them.</p>")
    return h.section("leaderboard", "Leaderboard", note + h.table(
        headers, rows, table_id="leaderboard-table", raw=("Model ID",), digits={"Fit s": 2, "Predict s": 2},
        filterable=True))


def _recommended(data: RunData, best: ModelSection) -> str:
    score = best.row["scores"][data.metric]
    text = (f'<p><b>{h.esc(best.model_id)}</b> {h.esc(best.row["label"])} on {h.esc(best.row["featurizer"])}: '
            f"Cross Validation {score['cv_mean']:.4f} ± {score['cv_std']:.4f}, Holdout {score['holdout']:.4f}. "
            f'<a href="#model-{h.esc(best.model_id)}">All its insights</a>.</p>')
    picture = h.chart(best.figures["confusion_normalised"], f"{best.model_id} confusion matrix, share of each class")
    return h.section("recommended", "Recommended model: confusion matrix", text + f'<div class="pics">{picture}</div>')


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
    return h.section("partition", "Partition", text + h.table(head, rows, table_id="partition-table",
                                                              filterable=False))


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
        computed = timing.get("images_computed")
        featurize.append([name, _number(timing.get("seconds")), computed if isinstance(computed, int) else "",
                          _number(timing.get("images_per_second"))])
    rows = [[r["id"], r["label"], r["featurizer"], float(r["fit_seconds"]), float(r["predict_seconds"])]
            for r in data.rows]
    chart = timings_png([f"{r['id']} {r['label']} · {r['featurizer']}" for r in data.rows],
                        [r["fit_seconds"] for r in data.rows], [r["predict_seconds"] for r in data.rows])
    total = sum(r["fit_seconds"] + r["predict_seconds"] for r in data.rows)
    tables = (f'<div class="grid"><div><h4>Featurize (last run per featurizer)</h4>'
              + h.table(["Featurizer", "Seconds", "Images computed", "Images / s"], featurize, digits=1,
                        filterable=False)
              + "<h4>This report</h4>" + h.table(["Stage", "Seconds"], [[k, float(v)] for k, v in stages.items()],
                                                  digits=1, filterable=False)
              + f"</div><div><h4>Leaderboard: {total:,.1f} s of fitting and predicting (summed over folds)</h4>"
              + h.table(["Model ID", "Blueprint", "Featurizer", "Fit s", "Predict s"], rows, table_id="timings-table",
                        digits=2, filterable=True) + "</div></div>")
    body = tables + f'<div class="pics">{h.chart(chart, "fit and predict seconds per model")}</div>'
    return h.section("timings", "Timings", body)


def _number(value) -> float:
    """A timing from a sidecar as a float (NaN when missing), so its column keeps one precision."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _activations(data: RunData, a: ActivationSection) -> str:
    from pixelboard.insights.figures import gradient_css

    if not a.tiles:
        return h.section("activation-maps", "Activation maps",
                         f'<p class="note">No activation maps: {h.esc(a.note or "no images")}</p>')
    tiles = "".join(
        f'<figure class="thumb map">{h.picture(t.overlay, f"map of {t.image_id}")}<figcaption>{h.esc(t.image_id)}'
        f"<br>true {h.esc(t.true)} · pred {h.esc(t.predicted)}<br>map for {h.esc(t.explained)}</figcaption></figure>"
        for t in a.tiles)
    intro = (f"<p>{h.esc(a.model_id)} ({h.esc(a.label)} on {h.esc(a.featurizer)}), method: {h.esc(a.method)}. "
             "Bright = the regions that raise the class score most; the image is shown as the network saw it.</p>"
             f'<div class="colourbar">low<span class="bar" style="background:{gradient_css()}"></span>high '
             "contribution to the class score</div>")
    return h.section("activation-maps", "Activation maps", intro + f'<div class="gallery">{tiles}</div>')


def _embedding(e: EmbeddingSection) -> str:
    intro = (f"<p>{e.n_points:,} images of {h.esc(e.featurizer)} projected to 2-D (t-SNE), coloured by their label; "
             f"{e.n_errors:,} ringed in black are misclassified by {h.esc(e.model_id)} (out of sample). Nearby "
             "points look alike to the backbone; a dot inside another class's cloud is worth a look.</p>")
    return h.section("embedding-map", "Image embeddings map",
                     intro + f'<div class="pics">{h.chart(e.png, "embeddings map")}</div>')


def _quality(data: RunData, q: DataQualitySection, csv: dict[str, Path], output: Path) -> str:
    def link(name: str, what: str) -> str:
        return f'<a href="{h.esc(_rel(csv[name], output))}">download all {what} (CSV)</a>'

    def image(image_id: str, set_name: str | None = None) -> tuple[str, str]:
        return image_id, h.thumb(data.thumbnail(image_id, set_name), h.esc(image_id))

    shown = (f"the first {MAX_LISTED} are listed here" if len(q.label_issues) > MAX_LISTED else "all are listed here")
    expected = (f"Confident learning (cleanlab) expects about <b>{q.expected_label_errors:,}</b> wrong labels among "
                f"the {len(data.labels.ids):,} images. " if q.expected_label_errors is not None else "")
    issues = [[image(i.image_id), i.given, i.suggested, float(i.given_probability), float(i.suggested_probability),
               float(i.label_quality)] for i in q.label_issues[:MAX_LISTED]]
    body = [h.section("label-issues", f"Likely label errors: {len(q.label_issues):,}", (
        f"<p>{expected}Listed: the images whose given label the out-of-sample probabilities of "
        f"{h.esc(q.model_id)} find less likely than another class, most suspicious first (cleanlab's label "
        f"quality), at most as many as expected; {shown}. {link('label_issues', 'label issues')}.</p>"
        + _listing(["Image", "Given", "Suggested", "P(given)", "P(suggested)", "Label quality"], issues,
                   "label-issues-table", raw=("Image",))), 3, "div")]
    pairs = [[image(d.a), image(d.b, _set_of(data, d, q)), d.within, float(d.similarity)]
             for d in q.duplicates[:MAX_LISTED]]
    against = f" and against set(s) {h.esc(', '.join(q.other_sets))}" if q.other_sets else ""
    body.append(h.section("near-duplicates", f"Near-duplicates: {len(q.duplicates):,} pairs", (
        f"<p>Pairs of images whose {h.esc(q.featurizer)} embeddings are almost identical (cosine similarity), "
        f"within the training set{against}. {link('near_duplicates', 'pairs')}.</p>"
        + _listing(["Image", "Near-duplicate", "Within", "Similarity"], pairs, "near-duplicates-table",
                   raw=("Image", "Near-duplicate"))), 3, "div"))
    odd = [[image(o.image_id), data.class_names[data.labels.y[data.labels.ids.index(o.image_id)]], float(o.score)]
           for o in q.outliers[:MAX_LISTED]]
    body.append(h.section("outliers", f"Outliers: {len(q.outliers):,}", (
        f"<p>Training images least like the others in the {h.esc(q.featurizer)} embeddings. "
        f"{link('outliers', 'outliers')}.</p>" + _listing(["Image", "Label", "Outlier score"], odd, "outliers-table",
                                                           raw=("Image",))), 3, "div"))
    return h.section("data-quality", "Data quality", f'<div class="grid"><div class="wide">{body[0]}</div>'
                     + "".join(body[1:]) + "</div>")


def _listing(headers: list[str], rows: list, table_id: str, raw: tuple[str, ...]) -> str:
    """The first SHOWN rows of a data-quality list, the others (up to MAX_LISTED) behind a "show more"
    toggle: a section a reader scrolls past, not thousands of pixels of thumbnails."""
    markup = h.table(headers, rows[:SHOWN], table_id=table_id, raw=raw, digits=3, filterable=False)
    if len(rows) > SHOWN:
        markup += (f"<details><summary>show {len(rows) - SHOWN} more</summary>"
                   + h.table(headers, rows[SHOWN:], table_id=f"{table_id}-more", raw=raw, digits=3) + "</details>")
    return markup


def _set_of(data: RunData, duplicate, q: DataQualitySection) -> str | None:
    """The image set of a near-duplicate's second image: training, or the first other set holding it."""
    if duplicate.b in set(data.labels.ids) and duplicate.within in ("train", data.set_name, "within"):
        return None
    for name in q.other_sets:
        if duplicate.b in data.image_set_named(name).ids:
            return name
    return None
