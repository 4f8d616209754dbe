"""Fit one blueprint on one featurizer per CV fold: out-of-fold and holdout probabilities, timings.

Per fold ``f`` the estimator (``random_state = seed + f``) trains on the fold's training images
and their augmented copies, predicts the fold's validation images (out-of-fold probabilities for
the whole CV part) and the holdout images; Holdout is the average of the fold models.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from pixelboard.leaderboard.data import FeatureRows
from pixelboard.leaderboard.metrics import score_all
from pixelboard.leaderboard.partition import Partition
from pixelboard.models import create_blueprint


@dataclass
class FoldResult:
    fold: int
    model: object
    valid_proba: np.ndarray
    holdout_proba: np.ndarray
    fit_seconds: float
    predict_seconds: float
    shifted_valid_proba: np.ndarray | None = None  # the same images under their drawn views (shift.py)
    shifted_holdout_proba: np.ndarray | None = None


def fit_fold(blueprint: str, rows: FeatureRows, columns: np.ndarray, y: np.ndarray, groups: np.ndarray,
             n_classes: int, partition: Partition, fold: int, seed: int, threads: int,
             sample: np.ndarray | None = None) -> FoldResult:
    """One fold's fit and predictions; safe to run in a worker process.

    ``groups`` (one per original image) reach the estimator's inner splits too, so no image, copy or
    duplicate straddles the split that tunes C or picks the boosting rounds. ``sample``: train on
    these original images (a screening sample inside the fold's training part) instead of all of it.
    """
    train_originals, valid_originals = partition.folds[fold]
    if sample is not None:
        train_originals = sample
    train = rows.train_rows(train_originals)
    valid = rows.original_rows(valid_originals)
    holdout = rows.original_rows(partition.holdout)
    X = rows.X[:, columns] if len(columns) != rows.X.shape[1] else rows.X
    estimator = create_blueprint(blueprint, random_state=seed + fold, n_jobs=threads)
    # Caps BLAS/OpenMP threads too, so parallel folds do not oversubscribe the cores.
    with threadpool_limits(limits=threads):
        started = time.perf_counter()
        fit_with_groups(estimator, np.asarray(X[train], dtype=np.float32), y[rows.source[train]],
                        groups[rows.source[train]])
        fitted = time.perf_counter()
        valid_proba = full_proba(estimator, X[valid], n_classes)
        holdout_proba = full_proba(estimator, X[holdout], n_classes)
        done = time.perf_counter()
        shifted = {}
        if rows.shifted is not None:
            S = rows.shifted[:, columns] if len(columns) != rows.X.shape[1] else rows.shifted
            shifted = {"shifted_valid_proba": full_proba(estimator, S[valid_originals], n_classes),
                       "shifted_holdout_proba": full_proba(estimator, S[partition.holdout], n_classes)}
    return FoldResult(fold, estimator, valid_proba, holdout_proba, fitted - started, done - fitted, **shifted)


def fit_with_groups(estimator, X: np.ndarray, y: np.ndarray, groups: np.ndarray):
    """``fit(X, y, groups=...)`` for estimators with inner splits; the others (no split) take X, y."""
    if "groups" in inspect.signature(estimator.fit).parameters:
        return estimator.fit(X, y, groups=groups)
    return estimator.fit(X, y)


def full_proba(estimator, X: np.ndarray, n_classes: int) -> np.ndarray:
    """predict_proba with one column per class, even if a class was absent from the training rows."""
    out = np.zeros((len(X), n_classes), dtype=np.float64)
    if len(X):
        out[:, np.asarray(estimator.classes_, dtype=np.int64)] = estimator.predict_proba(np.asarray(X, np.float32))
    return out


def assemble(folds: list[FoldResult], partition: Partition, n_classes: int,
             shifted: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold probabilities (n originals, K; NaN on holdout rows) and the averaged holdout ones
    (``shifted``: those of the images under their drawn views)."""
    valid_of = (lambda r: r.shifted_valid_proba) if shifted else (lambda r: r.valid_proba)
    holdout_of = (lambda r: r.shifted_holdout_proba) if shifted else (lambda r: r.holdout_proba)
    oof = np.full((partition.n_rows, n_classes), np.nan)
    for result in folds:
        oof[partition.folds[result.fold][1]] = valid_of(result)
    holdout = np.mean([holdout_of(r) for r in folds], axis=0) if len(partition.holdout) else np.zeros((0, n_classes))
    return oof, holdout


def score_one_fold(folds: list[FoldResult], y: np.ndarray, partition: Partition, n_classes: int,
                   shifted: bool = False) -> dict[str, dict[str, float]]:
    """A screening row's scores: Validation and Holdout of its one fold model; no Cross Validation."""
    (result,) = folds
    valid = partition.folds[result.fold][1]
    proba = result.shifted_valid_proba if shifted else result.valid_proba
    holdout_proba = result.shifted_holdout_proba if shifted else result.holdout_proba
    scores = score_all(y[valid], proba, n_classes)
    holdout = score_all(y[partition.holdout], holdout_proba, n_classes) if len(partition.holdout) else {}
    return {name: {"validation": float(value), "cv_mean": float("nan"), "cv_std": float("nan"),
                   "holdout": float(holdout.get(name, np.nan))} for name, value in scores.items()}


def score_model(oof: np.ndarray, holdout_proba: np.ndarray, y: np.ndarray, partition: Partition,
                n_classes: int) -> dict[str, dict[str, float]]:
    """Every metric as Validation (fold 1), Cross Validation (mean, std over folds) and Holdout."""
    per_fold = [score_all(y[valid], oof[valid], n_classes) for _, valid in partition.folds]
    holdout = score_all(y[partition.holdout], holdout_proba, n_classes) if len(partition.holdout) else {}
    scores = {}
    for name in per_fold[0]:
        values = np.array([fold[name] for fold in per_fold], dtype=float)
        scores[name] = {"validation": float(values[0]), "cv_mean": float(np.nanmean(values)),
                        "cv_std": float(np.nanstd(values)), "holdout": float(holdout.get(name, np.nan))}
    return scores
