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
    expected_label_errors: int | None = None  # cleanlab's estimate of how many validated labels are wrong


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
    # One point is not a curve (a row fitted at one sample size only): no picture for it.
    return ({f"{row['label']} on {row['featurizer']}": points} if len(points) >= 2 else {}), \
        str(stages.get("metric", data.metric))


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
    """The maps of ``per_class`` images per class, from the insight cache when the same model (row key),
    images and settings made them before (the backbone runs again only for a new key)."""
    chosen_row = activation_model_row(data, row)
    rows = sample_per_class(data, per_class)
    ids = [data.labels.ids[i] for i in rows]
    parts = {"model": chosen_row["id"], "row_key": chosen_row.get("key"), "per_class": per_class, "images": ids,
             "labels": [int(data.labels.y[i]) for i in rows], "classes": data.class_names}
    return data.cache.get_or_compute(
        "activation-maps", f"{chosen_row['id']}-{per_class}-per-class", parts,
        lambda: _compute_activations(data, chosen_row, rows, device, progress),
        _activations_to_json, _activations_from_json)


def _compute_activations(data: RunData, chosen_row: dict, rows: list[int], device: str,
                         progress: bool) -> ActivationSection:
    from tqdm.auto import tqdm

    from pixelboard.insights.activation_maps import activation_maps

    fitted = data.store.load_fitted(chosen_row["id"])
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


def _activations_to_json(section: ActivationSection) -> dict:
    import base64

    def b64(png: bytes) -> str:
        return base64.b64encode(png).decode("ascii")

    return {**{k: getattr(section, k) for k in ("model_id", "label", "featurizer", "method", "note")},
            "tiles": [{"image_id": t.image_id, "true": t.true, "predicted": t.predicted, "explained": t.explained,
                       "overlay": b64(t.overlay), "image": b64(t.image)} for t in section.tiles]}


def _activations_from_json(value: dict) -> ActivationSection:
    import base64

    tiles = [ActivationTile(t["image_id"], t["true"], t["predicted"], t["explained"], base64.b64decode(t["overlay"]),
                            base64.b64decode(t["image"])) for t in value["tiles"]]
    return ActivationSection(value["model_id"], value["label"], value["featurizer"], value["method"], tiles,
                             value.get("note", ""))


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
    from pixelboard.insights.cache import array_digest
    from pixelboard.insights.embedding_map import embedding_map

    featurizer = featurizer or data.main_featurizer()
    X = data.train_embeddings(featurizer)
    model_id = data.rows[0]["id"]
    errors = data.out_of_sample(model_id).argmax(axis=1) != data.labels.y
    parts = {"featurizer": featurizer, "embeddings": array_digest(X), "max_points": max_points, "seed": 0}
    used, coords = data.cache.get_or_compute(
        "embedding-map", featurizer, parts, lambda: embedding_map(X, seed=0, max_points=max_points, progress=progress),
        lambda value: {"rows": np.asarray(value[0]).tolist(), "coords": np.asarray(value[1]).tolist()},
        lambda value: (np.asarray(value["rows"], dtype=np.int64),
                       np.asarray(value["coords"], dtype=np.float32).reshape(-1, 2)))
    used = np.asarray(used, dtype=np.int64)
    shown = spread_points(coords, n_thumbnails)
    thumbs = [(int(p), data.image(data.labels.ids[used[p]])) for p in shown]
    png = figures.embedding_png(coords, data.labels.y[used], data.class_names, errors[used], thumbs,
                                f"{featurizer} embeddings, 2-D map ({len(used):,} images; rings: misclassified "
                                f"by {model_id})")
    return EmbeddingSection(featurizer, model_id, len(used), int(errors[used].sum()), png)


def spread_points(coords: np.ndarray, n: int, gap: float = 0.08, seed: int = 0) -> list[int]:
    """Up to ``n`` points, seeded, no two closer than ``gap`` of the map's extent on both axes at once:
    the thumbnails drawn at them do not overlap."""
    coords = np.asarray(coords, dtype=float).reshape(-1, 2)
    if not len(coords):
        return []
    extent = np.maximum(np.ptp(coords, axis=0), 1e-12)
    unit = (coords - coords.min(axis=0)) / extent
    chosen: list[int] = []
    for p in np.random.default_rng(seed).permutation(len(coords)):
        if all(np.max(np.abs(unit[p] - unit[q])) >= gap for q in chosen):
            chosen.append(int(p))
            if len(chosen) == n:
                break
    return chosen


def data_quality_section(data: RunData, featurizer: str | None = None) -> DataQualitySection:
    """Label issues, near-duplicates and outliers; from the insight cache while the recommended model's
    out-of-sample probabilities, the labels and the embeddings (this set's and the other sets') are the
    same ones."""
    from pixelboard.insights.cache import array_digest

    try:
        import cleanlab  # noqa: F401  (confident learning, in find_label_issues)
    except ImportError:
        raise figures.missing_extra("cleanlab", "report") from None

    model_id = data.rows[0]["id"]
    featurizer = featurizer or data.main_featurizer()
    proba, X = data.out_of_sample(model_id), data.train_embeddings(featurizer)
    others = data.other_sets(featurizer)
    other_rows = {name: data.set_embeddings(name, featurizer) for name in others}
    parts = {"model": model_id, "row_key": data.rows[0].get("key"), "featurizer": featurizer,
             "proba_labels_embeddings": array_digest(proba, data.labels.y, X), "ids": array_digest(data.labels.ids),
             "other_sets": {n: [array_digest(Xo), array_digest(io)] for n, (Xo, io) in other_rows.items()}}
    return data.cache.get_or_compute(
        "data-quality", "", parts, lambda: _compute_data_quality(data, model_id, featurizer, proba, X, other_rows),
        _quality_to_json, _quality_from_json)


def _compute_data_quality(data: RunData, model_id: str, featurizer: str, proba: np.ndarray, X: np.ndarray,
                          other_rows: dict) -> DataQualitySection:
    from pixelboard.insights.data_quality import find_label_issues, near_duplicates, outliers

    ids = list(data.labels.ids)
    issues = find_label_issues(proba, data.labels.y, ids, data.class_names)
    duplicates = list(near_duplicates(X, ids))
    for X_other, ids_other in other_rows.values():
        if len(ids_other):
            duplicates += near_duplicates(X, ids, X_other=X_other, ids_other=ids_other)
    return DataQualitySection(model_id, featurizer, list(issues), duplicates, list(outliers(X, ids)),
                              list(other_rows), expected_label_errors=issues.expected)


def _quality_to_json(q: DataQualitySection) -> dict:
    from dataclasses import asdict

    return {"model_id": q.model_id, "featurizer": q.featurizer, "other_sets": q.other_sets,
            "expected_label_errors": q.expected_label_errors,
            "label_issues": [asdict(r) for r in q.label_issues], "duplicates": [asdict(r) for r in q.duplicates],
            "outliers": [asdict(r) for r in q.outliers]}


def _quality_from_json(value: dict) -> DataQualitySection:
    from pixelboard.insights.data_quality import LabelIssue, NearDuplicate, Outlier

    return DataQualitySection(value["model_id"], value["featurizer"],
                              [LabelIssue(**r) for r in value["label_issues"]],
                              [NearDuplicate(**r) for r in value["duplicates"]],
                              [Outlier(**r) for r in value["outliers"]], list(value["other_sets"]),
                              expected_label_errors=value.get("expected_label_errors"))
