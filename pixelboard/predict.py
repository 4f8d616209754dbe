"""Predict new images with a leaderboard model or blend: the same featurizers, the fold models averaged.

The featurizers are rebuilt from the training sidecars (backbone, levels, resize, weights) and must
produce the same fingerprint as at training time; otherwise the embeddings would not match the
models and the error says so. Test-time augmentation averages the probabilities of each image
over its transformed copies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from pixelboard.datasets.sources import ImageSet
from pixelboard.errors import PixelboardError
from pixelboard.featurizers import create_featurizer
from pixelboard.featurizers.augment import augmentation_tags
from pixelboard.featurizers.pipeline import FeaturizeOptions, featurize_set
from pixelboard.leaderboard.data import load_labels
from pixelboard.leaderboard.evaluate import full_proba
from pixelboard.leaderboard.export import load_ranked
from pixelboard.leaderboard.store import RunStore
from pixelboard.project import Project


@dataclass(frozen=True)
class Prediction:
    ids: list[str]
    proba: np.ndarray  # (n images, K)
    classes: list  # training label space, column order
    model: dict  # the leaderboard row used

    def labels(self) -> list:
        return [self.classes[i] for i in self.proba.argmax(axis=1)]

    def to_frame(self, probabilities: bool = False, id_column: str = "ID", target_column: str = "target") -> pd.DataFrame:
        frame = pd.DataFrame({id_column: self.ids})
        if probabilities:
            for k, value in enumerate(self.classes):
                frame[str(value)] = self.proba[:, k]
        else:
            frame[target_column] = self.labels()
        return frame


def choose_model(rows: list[dict], choice: str) -> dict:
    """``best`` (rank 1), ``blend`` (best-ranked blend) or a model id such as ``M3`` / ``B2``."""
    if choice == "best":
        return rows[0]
    if choice == "blend":
        blends = [r for r in rows if r["kind"] == "blend"]
        if not blends:
            raise PixelboardError("the leaderboard has no blend; choose --model best or a model id")
        return blends[0]
    for row in rows:
        if row["id"] == choice:
            return row
    raise PixelboardError(f"unknown model id {choice!r}; the leaderboard has {', '.join(r['id'] for r in rows)}")


def predict(project: Project, image_set: ImageSet, *, run: str = "leaderboard", model: str = "best",
            tta: list[str] | None = None, options: FeaturizeOptions | None = None,
            device: str = "auto") -> Prediction:
    rows, _ = load_ranked(project.root / run)
    store = RunStore(project.root / run)
    train_set = store.config()["options"]["set_name"]  # the labelled set this run was fitted on
    chosen = store.read_result(choose_model(rows, model)["id"])
    members = [store.read_result(m) for m in chosen["members"]] if chosen["kind"] == "blend" else [chosen]
    labels = load_labels(project, train_set)
    augmentation_tags(list(tta or []), 1)  # unknown transform names fail before any featurizer is built
    # A copy: the caller's options are not changed by the TTA settings of this prediction.
    options = replace(options or FeaturizeOptions(), augment=list(tta or []), augment_copies=1)

    probas: dict[str, np.ndarray] = {}
    embedded: dict[str, tuple[np.ndarray, list[str]]] = {}
    for member in members:
        name = member["featurizer"]
        if name not in embedded:
            embedded[name] = _embed(project, image_set, name, train_set, options, device)
        X, sources = embedded[name]
        fold_models = [store.load_artifact(member["id"], f"fold_{k}") for k in range(member["spec"]["folds"])]
        row_proba = np.mean([full_proba(m, X, labels.n_classes) for m in fold_models], axis=0)
        probas[member["id"]] = _average_copies(row_proba, sources, image_set.ids)
    if chosen["kind"] == "blend":
        proba = store.load_artifact(chosen["id"], "blender").predict_proba(probas)
    else:
        proba = probas[chosen["id"]]
    return Prediction(image_set.ids, proba, labels.classes, chosen)


def _embed(project: Project, image_set: ImageSet, name: str, train_set: str, options: FeaturizeOptions,
           device: str) -> tuple[np.ndarray, list[str]]:
    trained = project.load_embeddings(train_set, name).sidecar
    featurizer = create_featurizer(trained["backbone"], device=device, **trained.get("create_options", {}))
    if featurizer.fingerprint() != trained["fingerprint"]:
        raise PixelboardError(
            f"featurizer {name} no longer matches the one the models were trained with (fingerprint "
            f"{featurizer.fingerprint()} vs {trained['fingerprint']}: weights or library versions changed); "
            "re-run featurize and leaderboard")
    result = featurize_set(project, image_set, featurizer, options)
    embeddings = project.load_embeddings(image_set.name, result.name)
    if embeddings.sidecar["skipped"]:
        skipped = ", ".join(s["file"] for s in embeddings.sidecar["skipped"])
        raise PixelboardError(f"cannot predict unreadable image(s): {skipped}")
    return np.asarray(embeddings.matrix), embeddings.sources


def _average_copies(row_proba: np.ndarray, sources: list[str], ids: list[str]) -> np.ndarray:
    """Mean probability over each image's rows (the original plus its TTA copies), in ``ids`` order."""
    position = {image_id: i for i, image_id in enumerate(ids)}
    index = np.array([position[s] for s in sources])
    sums = np.zeros((len(ids), row_proba.shape[1]))
    np.add.at(sums, index, row_proba)
    counts = np.bincount(index, minlength=len(ids))[:, None]
    return sums / counts
