"""``pixelboard document M3``: the documentation of one leaderboard model, like DataRobot's compliance
document — what the model is (its blueprint's steps, every hyper-parameter with the value used), how it
was validated (the partition, every score) and what it gets wrong (the insight pictures).

The content is built once as a list of typed blocks (:class:`Heading`, :class:`Paragraph`,
:class:`Steps`, :class:`Table`, :class:`Picture`); ``document_formats`` writes it as Markdown (pictures
as PNG files beside it), one self-contained HTML page, or DOCX (``python-docx``).
"""

from __future__ import annotations

import io
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixelboard.errors import PixelboardError
from pixelboard.insights import figures
from pixelboard.insights.model_card import ModelCard, describe_model, featurizer_rows
from pixelboard.insights.run_data import RunData, load_run
from pixelboard.insights.sections import ActivationSection, activation_section, model_section
from pixelboard.leaderboard.metrics import get_metric
from pixelboard.project import Project

log = logging.getLogger(__name__)

FORMATS = ("md", "html", "docx")


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Steps:
    items: list[str]


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Picture:
    name: str  # file stem (Markdown writes <name>.png)
    png: bytes
    caption: str


Block = Heading | Paragraph | Steps | Table | Picture


@dataclass(frozen=True)
class DocumentResult:
    path: Path
    format: str
    model_id: str
    files: list[Path]  # everything written (Markdown: the pictures too)
    seconds: float


def build_document(files: Project, model: str, run: str = "leaderboard", fmt: str = "html",
                   output: str | os.PathLike | None = None, per_class: int = 2, device: str = "cpu",
                   progress: bool = True) -> DocumentResult:
    from pixelboard.insights.document_formats import write_document

    started = time.perf_counter()
    if fmt not in FORMATS:
        raise PixelboardError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    data = load_run(files, run)
    row = data.row(model)
    output = Path(output) if output else data.directory / "documents" / f"{row['id']}.{fmt}"
    blocks = document_blocks(data, row, per_class=per_class, device=device, progress=progress)
    written = write_document(blocks, fmt, output, title=f"{row['id']} — {row['label']}")
    return DocumentResult(output, fmt, row["id"], written, time.perf_counter() - started)


def document_blocks(data: RunData, row: dict, per_class: int = 2, device: str = "cpu",
                    progress: bool = True) -> list[Block]:
    fitted = data.fitted_for_predict(row)  # what `predict` uses: the 100% refit once deployed
    card = describe_model(fitted)
    refit = "100%" in card.trained_on
    rank = next(i for i, r in enumerate(data.rows, start=1) if r["id"] == row["id"])
    metric = get_metric(data.metric)
    score = row["scores"][metric.name]
    blocks: list[Block] = [
        Heading(1, f"Model documentation: {row['id']} — {row['label']}"),
        Paragraph(f"Project {data.files.root}, run {data.run}; generated {time.strftime('%Y-%m-%d %H:%M')}. "
                  f"Rank {rank} of {len(data.rows)} by Cross Validation {metric.label}: {score['cv_mean']:.4f} ± "
                  f"{score['cv_std']:.4f} (Holdout {score['holdout']:.4f}). The model described (the one `pixelboard "
                  f"predict` uses): {card.trained_on}."
                  + (" The scores and pictures come from its 5-fold cross-validation models, which never saw "
                     "the images they judged." if refit else "")),
        Table(["Field", "Value"], [["Model ID", row["id"]], ["Blueprint", row["label"]],
                                   ["Blueprint name", row["blueprint"]], ["Featurizer", row["featurizer"]],
                                   ["Levels", ", ".join(row.get("levels") or []) or "-"],
                                   ["Sample %", f"{row['sample_pct']}"], ["Rank", str(rank)]]),
    ]
    blocks += _card_blocks(card, 2)
    blocks += _partition_blocks(data)
    blocks += _score_blocks(data, row)
    blocks += _insight_blocks(data, row, per_class, device, progress)
    return blocks


def _card_blocks(card: ModelCard, level: int) -> list[Block]:
    blocks: list[Block] = [Heading(level, f"Blueprint steps — {card.model_id}"), Steps(card.steps)]
    if card.featurizer is not None:
        blocks += [Heading(level + 1, "Featurizer"), Table(["Setting", "Value"], [list(r) for r in
                                                                                 featurizer_rows(card.featurizer)])]
    blocks += [Heading(level + 1, f"Hyper-parameters — {card.model_id}"),
               Paragraph("blueprint: set by pixelboard's blueprint; fitted: the value the fit arrived at (per fold "
                         "when the fold models differ); library: the wrapped library model's settings."),
               Table(["Parameter", "Value", "Source"], [[p.name, p.value, p.source] for p in card.parameters])]
    if card.kind == "blend":
        blocks += [Heading(level + 1, "Members"),
                   Table(["Member", "Blueprint", "Weight"],
                         [[m.model_id, m.label, f"{card.weights.get(m.model_id, 0.0):.4f}"] for m in card.members])]
        for member in card.members:
            blocks += _card_blocks(member, min(level + 1, 4))
    return blocks


def _partition_blocks(data: RunData) -> list[Block]:
    p = data.partition
    fold_of = p.fold_of()
    rows = [[name, str(int((data.labels.y == k).sum())), str(int(((data.labels.y == k) & (fold_of == -1)).sum())),
             *[str(int(((data.labels.y == k) & (fold_of == f)).sum())) for f in range(p.n_folds)]]
            for k, name in enumerate(data.class_names)]
    rows.append(["all", str(p.n_rows), str(p.holdout.size), *[str(v.size) for _, v in p.folds]])
    return [Heading(2, "Partition"),
            Paragraph(f"{p.n_rows:,} labelled images of set {data.set_name}: a stratified holdout of "
                      f"{p.holdout.size:,} ({p.holdout_fraction:.0%}), then {p.n_folds} group-aware folds over "
                      f"the rest (seed {p.seed}). Validation is fold 1; Cross Validation the mean over the folds; "
                      "Holdout the average of the fold models on the holdout, never used for ranking."),
            Table(["Class", "Images", "Holdout", *[f"Fold {f + 1}" for f in range(p.n_folds)]], rows)]


def _score_blocks(data: RunData, row: dict) -> list[Block]:
    def rows_of(scores: dict, suffix: str = "") -> list[list[str]]:
        return [[get_metric(name).label + suffix, _f(s["validation"]), f"{_f(s['cv_mean'])} ± {_f(s['cv_std'])}",
                 _f(s["holdout"])] for name, s in scores.items()]

    rows = rows_of(row["scores"])
    if "scores_shifted" in row:
        rows += rows_of(row["scores_shifted"], " (shifted)")
    blocks: list[Block] = [Heading(2, "Scores"), Table(["Metric", "Validation", "Cross Validation", "Holdout"], rows)]
    if "scores_shifted" in row:
        blocks.append(Paragraph("(shifted): scored with the validation and holdout images under the test "
                                "conditions (--validate-under)."))
    blocks.append(Paragraph(f"Fit {row['fit_seconds']:.2f} s and predict {row['predict_seconds']:.2f} s, summed "
                            "over the fold models."))
    return blocks


def _f(value) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{float(value):.4f}"


def _insight_blocks(data: RunData, row: dict, per_class: int, device: str, progress: bool) -> list[Block]:
    section = model_section(data, row)
    ins = section.insights
    blocks: list[Block] = [
        Heading(2, "Insights (out-of-fold predictions)"),
        Picture("confusion_counts", section.figures["confusion_counts"], "Confusion matrix, counts (rows: true class)"),
        Picture("confusion_normalised", section.figures["confusion_normalised"],
                "Confusion matrix, each true class's row sums to 1"),
        Table(["Class", "Precision", "Recall", "F1", "Support"],
              [[c.name, _f(c.precision), _f(c.recall), _f(c.f1), str(int(c.support))] for c in ins.per_class]),
        Picture("roc", section.figures["roc"], "One-vs-rest ROC curves: " + ", ".join(
            f"{c.name} AUC {c.auc:.3f}" for c in ins.roc)),
    ]
    if "learning_curve" in section.figures:
        blocks.append(Picture("learning_curve", section.figures["learning_curve"], "Learning curve (sample-size stages)"))
    if ins.confused_pairs:
        blocks += [Heading(3, "Most-confused pairs"),
                   Table(["True", "Predicted", "Count", "Examples"],
                         [[p.true, p.predicted, str(p.count), ", ".join(p.example_ids)] for p in ins.confused_pairs])]
    if ins.misclassified:
        shown = ins.misclassified[:24]
        png = figures.gallery_png([data.image(m.image_id) for m in shown],
                                  [f"{m.image_id[:14]}\n{m.true[:12]} → {m.predicted[:12]}" for m in shown],
                                  title="Misclassified validation images (true → predicted)")
        blocks.append(Picture("misclassified", png, f"{len(ins.misclassified)} most confident misclassified "
                                                    f"validation images (first {len(shown)} shown)"))
    try:
        maps = activation_section(data, row, per_class=per_class, device=device, progress=progress)
    except PixelboardError as exc:
        log.warning("activation maps skipped: %s", exc)
        maps = ActivationSection("", "", "", "", [], note=str(exc))
    if maps.tiles:
        from PIL import Image

        png = figures.gallery_png([Image.open(io.BytesIO(t.overlay)) for t in maps.tiles],
                                  [f"{t.true[:12]} (pred {t.predicted[:10]})" for t in maps.tiles],
                                  columns=min(8, 2 * per_class), title=f"Activation maps of {maps.model_id}")
        blocks += [Heading(3, "Activation maps"),
                   Picture("activation_maps", png, f"{maps.method} maps of {maps.model_id} ({maps.label} on "
                                                   f"{maps.featurizer}) for the images' true classes")]
    else:
        blocks += [Heading(3, "Activation maps"), Paragraph(f"No activation maps: {maps.note}")]
    return blocks
