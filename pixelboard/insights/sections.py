"""The insight sections, as typed records built from a run's saved arrays (and, for activation maps,
its fitted model): what the HTML report and the model documents render.

- :func:`model_section`: confusion matrix, per-class scores, ROC curves, learning curve, confused
  pairs and misclassified images of one leaderboard row (out-of-fold probabilities only);
- :func:`activation_section`: class activation maps of a sample of images per class;
- :func:`embedding_section`: a 2-D map of the embeddings, errors marked;
- :func:`data_quality_section`: likely label errors, near-duplicates (within the training set and
  against a test set) and outliers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from pixelboard.errors import PixelboardError
from pixelboard.insights import figures
from pixelboard.insights.run_data import RunData
from pixelboard.leaderboard.metrics import get_metric

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSection:
    row: dict
    insights: object  # pixelboard.insights.metrics.ModelInsights
    learning_curve: dict[str, list[tuple[float, float]]]  # {label: [(sample %, score)]}, empty without stages
    learning_curve_metric: str
    figures: dict[str, bytes]  # confusion_counts, confusion_normalised, roc[, learning_curve]

    @property
    def model_id(self) -> str:
        return self.row["id"]


@dataclass(frozen=True)
class ActivationTile:
    image_id: str
    true: str
    predicted: str
    explained: str  # the class the map explains
    overlay: bytes  # PNG: the map over the image as the network saw it
    image: bytes  # PNG thumbnail of the image


@dataclass(frozen=True)
class ActivationSection:
    model_id: str
    label: str
    featurizer: str
    method: str
    tiles: list[ActivationTile]
    note: str = ""  # why there are no maps, when there are none


@dataclass(frozen=True)
class EmbeddingSection:
    featurizer: str
    model_id: str  # whose predictions mark the errors
    n_points: int
    n_errors: int
    png: bytes


@dataclass(frozen=True)
class DataQualitySection:
    model_id: str  # whose out-of-sample probabilities rate the labels
    featurizer: str  # whose embeddings find duplicates and outliers
    label_issues: list
    duplicates: list
    outliers: list
    other_sets: list[str] = field(default_factory=list)


def model_section(data: RunData, row: dict) -> ModelSection:
    from pixelboard.insights.metrics import model_insights

    oof, _ = data.store.load_arrays(row["id"])
    insights = model_insights(row["id"], oof, data.labels.y, list(data.labels.ids), data.class_names)
    title = f"{row['id']} {row['label']}"
    pictures = {
        "confusion_counts": figures.confusion_png(insights.confusion, data.class_names, False,
                                                  f"{title}: counts (out-of-fold)"),
        "confusion_normalised": figures.confusion_png(insights.confusion, data.class_names, True,
                                                      f"{title}: share of each true class"),
        "roc": figures.roc_png(insights.roc, f"{title}: one-vs-rest ROC (out-of-fold)"),
    }
    curve, metric_name = learning_curve_points(data, row)
    if curve:
        pictures["learning_curve"] = figures.learning_curve_png(curve, _metric_label(metric_name),
                                                                f"{title}: learning curve")
    return ModelSection(row, insights, curve, metric_name, pictures)


def learning_curve_points(data: RunData, row: dict) -> tuple[dict[str, list[tuple[float, float]]], str]:
    """The row's sample-size stages from ``learning_curve.json`` (none for a run without stages)."""
    stages = data.learning_curve()
    if stages is None:
        return {}, data.metric
    points = [(float(r["sample_pct"]), float(r["score"])) for r in stages["rows"]
              if r.get("blueprint") == row["blueprint"] and r.get("featurizer") == row["featurizer"]
              and r.get("score") is not None and np.isfinite(float(r["score"]))]
    return ({f"{row['label']} on {row['featurizer']}": points} if points else {}), str(stages.get("metric", data.metric))


def _metric_label(name: str) -> str:
    try:
        return get_metric(name).label
    except PixelboardError:
        return name


# --- activation maps ------------------------------------------------------------------------------------
def activation_model_row(data: RunData, row: dict | None = None) -> dict:
    """The model whose maps are drawn: ``row`` (a blend: its best member) on a CNN featurizer when
    there is one, else the best-ranked such model of the run."""
    candidates = data.leaf_rows(row) if row is not None else []
    candidates += [r for r in data.rows if r["kind"] != "blend" and r not in candidates]
    usable = [r for r in candidates if r["blueprint"] != "majority"]
    cnn = [r for r in usable if not r["featurizer"].startswith("grayscale")]
    if not (cnn or usable):
        raise PixelboardError("no model to draw activation maps for (only majority-class rows)")
    return (cnn or usable)[0]


def sample_per_class(data: RunData, per_class: int, seed: int = 0) -> list[int]:
    """``per_class`` validated (out-of-fold) images of each class, seeded; holdout images when a class
    has too few."""
    rng = np.random.default_rng(seed)
    fold_of = data.partition.fold_of()
    chosen = []
    for k in range(len(data.class_names)):
        of_class = np.flatnonzero(data.labels.y == k)
        validated = of_class[fold_of[of_class] >= 0]
        pool = validated if len(validated) >= per_class else of_class
        chosen += sorted(rng.choice(pool, size=min(per_class, len(pool)), replace=False).tolist())
    return chosen


def activation_section(data: RunData, row: dict | None = None, per_class: int = 2, device: str = "cpu",
                       progress: bool = True) -> ActivationSection:
    from tqdm.auto import tqdm

    from pixelboard.insights.activation_maps import activation_maps

    chosen_row = activation_model_row(data, row)
    fitted = data.store.load_fitted(chosen_row["id"])
    rows = sample_per_class(data, per_class)
    ids = [data.labels.ids[i] for i in rows]
    predicted = data.out_of_sample(chosen_row["id"])[rows].argmax(axis=1)
    preprocess = _preprocessor(fitted)
    tiles, method = [], ""
    bar = tqdm(total=len(rows), desc=f"activation maps ({chosen_row['id']})", unit="image", disable=not progress)
    with bar:
        for k in range(len(data.class_names)):  # one call per class: the bar moves while the maps are made
            batch = [j for j, i in enumerate(rows) if data.labels.y[i] == k]
            if not batch:
                continue
            images = [data.image(ids[j]) for j in batch]
            maps = activation_maps(fitted, images, [ids[j] for j in batch], class_index=[k] * len(batch),
                                   device=device)
            for j, image, amap in zip(batch, images, maps):
                method = amap.method
                seen = preprocess(image) if preprocess else image
                tiles.append(ActivationTile(ids[j], data.class_names[k], data.class_names[int(predicted[j])],
                                            data.class_names[int(amap.class_index)],
                                            figures.image_png(figures.overlay(seen, amap.heatmap)),
                                            data.thumbnail(ids[j])))
            bar.update(len(batch))
    return ActivationSection(chosen_row["id"], chosen_row["label"], chosen_row["featurizer"], method, tiles)


def _preprocessor(fitted):
    """The featurizer's resize (squash, pad or crop) as RGB, so the map lies over what the network saw."""
    from dataclasses import replace

    from PIL import Image

    from pixelboard.featurizers.base import Preprocessor

    options = ((fitted.featurizer.description if fitted.featurizer else {}) or {}).get("preprocess")
    if not isinstance(options, dict):
        return None
    try:
        resize = replace(Preprocessor(**options), grayscale=False)
    except TypeError:
        return None
    return lambda image: Image.fromarray(resize(image))


# --- embeddings map and data quality -------------------------------------------------------------------
def embedding_section(data: RunData, featurizer: str | None = None, max_points: int = 2000, n_thumbnails: int = 30,
                      progress: bool = True) -> EmbeddingSection:
    from tqdm.auto import tqdm

    from pixelboard.insights.embedding_map import embedding_map

    featurizer = featurizer or data.main_featurizer()
    X = data.train_embeddings(featurizer)
    model_id = data.rows[0]["id"]
    errors = data.out_of_sample(model_id).argmax(axis=1) != data.labels.y
    with tqdm(total=1, desc=f"embedding map ({featurizer}, {min(len(X), max_points):,} images)",
              disable=not progress) as bar:
        used, coords = embedding_map(X, seed=0, max_points=max_points)
        bar.update(1)
    used = np.asarray(used, dtype=np.int64)
    rng = np.random.default_rng(0)
    shown = rng.choice(len(used), size=min(n_thumbnails, len(used)), replace=False) if len(used) else []
    thumbs = [(int(p), data.image(data.labels.ids[used[p]])) for p in shown]
    png = figures.embedding_png(coords, data.labels.y[used], data.class_names, errors[used], thumbs,
                                f"{featurizer} embeddings, 2-D map ({len(used):,} images; rings: misclassified "
                                f"by {model_id})")
    return EmbeddingSection(featurizer, model_id, len(used), int(errors[used].sum()), png)


def data_quality_section(data: RunData, featurizer: str | None = None) -> DataQualitySection:
    from pixelboard.insights.data_quality import find_label_issues, near_duplicates, outliers

    try:
        import cleanlab  # noqa: F401  (confident learning, in find_label_issues)
    except ImportError:
        raise figures.missing_extra("cleanlab", "report") from None

    model_id = data.rows[0]["id"]
    ids = list(data.labels.ids)
    issues = find_label_issues(data.out_of_sample(model_id), data.labels.y, ids, data.class_names)
    featurizer = featurizer or data.main_featurizer()
    X = data.train_embeddings(featurizer)
    duplicates = list(near_duplicates(X, ids))
    others = data.other_sets(featurizer)
    for name in others:
        X_other, ids_other = data.set_embeddings(name, featurizer)
        if len(ids_other):
            duplicates += near_duplicates(X, ids, X_other=X_other, ids_other=ids_other)
    return DataQualitySection(model_id, featurizer, list(issues), duplicates, list(outliers(X, ids)), others)
