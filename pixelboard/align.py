"""Embedding-level test-time alignment (``predict --align``): the test set's embeddings moved to the
training set's per-column mean and spread before the model sees them.

Corruption and style shift move a frozen CNN's features as a whole; re-estimating BatchNorm statistics
on the test set recovers much of it (Schneider et al. 2020). This is the same idea one step later and
for any featurizer: each embedding column of the unlabelled test rows is standardised with the test
set's own mean and standard deviation, then given the training rows' (the first-order part of CORAL,
Sun et al. 2016; the full covariance is left out: a few hundred test rows cannot estimate the
covariance of ~1,000 columns). Labels are never used; the test set must be predicted as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixelboard.errors import PixelboardError

MIN_ROWS = 8  # fewer test rows than this give no usable spread per column


@dataclass(frozen=True)
class Moments:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray) -> Moments:
        X = np.asarray(X, dtype=np.float64)
        return cls(X.mean(axis=0), X.std(axis=0))


def align(X: np.ndarray, source: Moments) -> np.ndarray:
    """``X`` (the test rows) with each column's mean and spread replaced by ``source``'s (training)."""
    if len(X) < MIN_ROWS:
        raise PixelboardError(f"--align needs at least {MIN_ROWS} test images to estimate their statistics, "
                              f"got {len(X)}")
    target = Moments.of(X)
    scale = np.where(target.std > 1e-8, source.std / np.maximum(target.std, 1e-8), 1.0)
    return ((np.asarray(X, dtype=np.float64) - target.mean) * scale + source.mean).astype(np.float32)


def training_moments(project, model, train_set: str) -> dict[str, Moments]:
    """Per featurizer of ``model``: the moments of the training rows it was fitted on (read from the project)."""
    return {name: Moments.of(project.load_embeddings(train_set, name).matrix) for name in model.featurizers()}
