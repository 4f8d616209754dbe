"""Predict new images with a fitted model: a leaderboard row, its 100% refit, or a portable bundle.

Everything the prediction needs comes from the :class:`~pixelboard.fitted.FittedModel`: the classes
of the run it was fitted in, the featurizer specifications (each rebuilt and checked against its
training fingerprint) and the estimators. Test-time augmentation averages each image's
probabilities over its transformed copies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from pixelboard.canonical import Canonicalizer, fit_canonicalizer
from pixelboard.datasets.sources import ImageSet
from pixelboard.errors import PixelboardError
from pixelboard.featurizers.augment import augmentation_tags
from pixelboard.featurizers.pipeline import FeaturizeOptions, featurize_set
from pixelboard.fitted import FeaturizerSpec, FittedModel
from pixelboard.leaderboard.store import RunStore
from pixelboard.leaderboard.table import recommended
from pixelboard.project import Project


@dataclass(frozen=True)
class Prediction:
    ids: list[str]
    proba: np.ndarray  # (n images, K)
    classes: list  # the run's label space, column order
    model: FittedModel  # the model used
    skipped: list[dict]  # unreadable images left out (with --skip-bad-images)

    def labels(self) -> list:
        return [self.classes[i] for i in self.proba.argmax(axis=1)]

    def to_frame(self, probabilities: bool = False, id_column: str = "ID", target_column: str = "target") -> pd.DataFrame:
        # object, not pandas' Arrow strings: an ID from a non-UTF-8 file name holds surrogate escapes
        # (os.fsdecode), which the submission writes back as the file name's own bytes (atomic.py).
        frame = pd.DataFrame({id_column: pd.Series(self.ids, dtype=object)})
        if probabilities:
            for k, value in enumerate(self.classes):
                frame[str(value)] = self.proba[:, k]
        else:
            frame[target_column] = self.labels()
        return frame


def choose_model(rows: list[dict], choice: str) -> dict:
    """``best`` (rank 1), ``blend`` (best-ranked blend) or a model id such as ``M3`` / ``B2``."""
    if choice == "best":  # never a screening row: its one-fold score on a sample is not comparable
        return recommended(rows)
    if choice == "blend":
        blends = [r for r in rows if r["kind"] == "blend"]
        if not blends:
            raise PixelboardError("the leaderboard has no blend; choose --model best or a model id")
        return blends[0]
    for row in rows:
        if row["id"] == choice:
            return row
    raise PixelboardError(f"unknown model id {choice!r}; the leaderboard has {', '.join(r['id'] for r in rows)}")


def load_run_model(store: RunStore, model: str | None = None) -> FittedModel:
    """The model ``predict`` uses from a run: with ``model=None`` the deployed (100% refit) model when
    `pixelboard deploy` made one, else the best row's fold models; otherwise the named row's fold models
    (or its refit, when that row is the deployed one)."""
    deployed = store.deployed()
    if model is None and deployed:
        return store.load_fitted(deployed["model"], deployed=True)
    rows, _ = store.ranked_rows()
    chosen = choose_model(rows, model or "best")["id"]
    return store.load_fitted(chosen, deployed=bool(deployed and deployed["model"] == chosen))


def predict(project: Project, image_set: ImageSet, model: FittedModel, *, tta: list[str] | None = None,
            options: FeaturizeOptions | None = None, device: str = "auto",
            upright: dict[str, Canonicalizer] | None = None, align: dict | None = None) -> Prediction:
    """Embed ``image_set`` with every featurizer ``model`` needs (cached in ``project``) and predict it.

    ``upright`` maps featurizer names to canonicalizers (:func:`upright_canonicalizers`): those
    featurizers see each test image in the view that looks upright instead of as it comes. ``align``
    maps featurizer names to training moments (``align.training_moments``): those test rows are moved
    to them first (``predict --align``).
    """
    augmentation_tags(list(tta or []), 1)  # unknown transform names fail before any featurizer is built
    # A copy: the caller's options are not changed by the TTA settings of this prediction.
    options = replace(options or FeaturizeOptions(), augment=list(tta or []), augment_copies=1)
    embedded, skipped = {}, {}
    for spec in model.featurizers().values():
        canonicalizer = (upright or {}).get(spec.name)
        if canonicalizer is None:
            X, sources, bad = _embed(project, image_set, spec, options, device)
        else:
            X, sources, bad = _embed_upright(project, image_set, spec, canonicalizer, options, device)
        if align and spec.name in align:
            from pixelboard.align import align as align_rows

            X = align_rows(X, align[spec.name])
        embedded[spec.name] = (X, sources)
        skipped.update(bad)
    keep = [i for i, f in enumerate(image_set.files) if f not in skipped]
    position = {image_set.ids[i]: k for k, i in enumerate(keep)}
    rows = {}
    for name, (X, sources) in embedded.items():
        wanted = [r for r, s in enumerate(sources) if s in position]  # images every featurizer could read
        rows[name] = (X[wanted], np.array([position[sources[r]] for r in wanted], dtype=np.int64))
    proba = model.predict_proba(rows, len(keep))
    return Prediction([image_set.ids[i] for i in keep], proba, model.classes, model,
                      [{"file": f, "reason": r} for f, r in sorted(skipped.items())])


def upright_canonicalizers(project: Project, model: FittedModel, train_set: str, seed: int = 0) -> dict:
    """A canonicalizer per plain featurizer of ``model``, learned from the training set's cached views
    (of its augmented copies too, when they were viewed: damaged pages teach it damaged uprights)."""
    out = {}
    for spec in model.featurizers().values():
        if spec.views:
            continue  # an invariant variant: nothing to turn upright
        stack, sidecar = project.load_view_embeddings(train_set, spec.name, copies=True)
        out[spec.name] = fit_canonicalizer(stack, sidecar["views"], seed)
    if not out:
        raise PixelboardError(f"--upright: model {model.model_id} uses only invariant featurizers; nothing to turn")
    return out


def _embed_upright(project: Project, image_set: ImageSet, spec: FeaturizerSpec, canonicalizer: Canonicalizer,
                   options: FeaturizeOptions, device: str) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """Each test image as its most upright-looking view (no TTA: the image is turned, not averaged)."""
    options = replace(options, augment=[], views=list(canonicalizer.views), pools=[])
    featurize_set(project, image_set, spec.create(device), options)
    stack, sidecar = project.load_view_embeddings(image_set.name, spec.name)
    skipped = {s["file"]: s["reason"] for s in sidecar["skipped"]}
    return canonicalizer.canonical_rows(stack), sidecar["rows"]["sources"], skipped


def _embed(project: Project, image_set: ImageSet, spec: FeaturizerSpec, options: FeaturizeOptions,
           device: str) -> tuple[np.ndarray, list[str], dict[str, str]]:
    if spec.views:  # an invariant variant: the same views of each test image, pooled the same way (no TTA)
        options = replace(options, augment=[], views=list(spec.views), pools=[spec.pool])
    featurize_set(project, image_set, spec.create(device), options)
    embeddings = project.load_embeddings(image_set.name, spec.name)
    skipped = {s["file"]: s["reason"] for s in embeddings.sidecar["skipped"]}
    return np.asarray(embeddings.matrix), embeddings.sources, skipped
