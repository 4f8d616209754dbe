"""Shared base for gradient-boosted-tree blueprints: early stopping on an inner stratified split.

All three boosting libraries need the same thing on a leaderboard fold: hold out a small stratified
slice of the training rows, boost until the held-out loss stops improving, keep the best iteration.
The base does that once; a subclass only says how to build its booster and how to pass the eval set.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.decomposition import PCA
from sklearn.model_selection import StratifiedGroupKFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from pixelboard.models._validation import (ArgmaxPredictMixin, check_groups, min_units_per_class, resolve_seed,
                                          resolve_threads, validate_classification)


def inner_split(y, fraction, seed, groups=None):
    """Stratified ``(train_idx, val_idx)`` for early stopping, or None when it cannot be made.

    Rows of classes with a single example cannot be stratified; they all go to training (the split
    only picks the number of rounds). None when the validation part would be too small to hold one
    row of every class, or fewer than two classes can be split. With ``groups``, rows sharing a
    group (an image and its copies or duplicates) land on the same side, so the number of rounds is
    not picked on copies of training rows.
    """
    if groups is not None:
        return _inner_group_split(y, fraction, seed, groups)
    counts = np.bincount(y)
    splittable = counts[y] >= 2
    rows = np.flatnonzero(splittable)
    n_split_classes = int(np.count_nonzero(counts >= 2))
    n_val = math.ceil(fraction * rows.size)
    if n_split_classes < 2 or n_val < n_split_classes or rows.size - n_val < n_split_classes:
        return None
    train, val = train_test_split(rows, test_size=n_val, stratify=y[rows], random_state=seed)
    return np.sort(np.concatenate([train, np.flatnonzero(~splittable)])), np.sort(val)


def _inner_group_split(y, fraction, seed, groups):
    """One fold of ``StratifiedGroupKFold(round(1 / fraction))`` as the early-stopping slice (fewer,
    larger folds when no class has that many rows: a screening sample of a small set)."""
    n_splits = max(2, min(round(1 / fraction), int(np.bincount(y).max())))
    if min_units_per_class(y, groups) < 2 or np.unique(groups).size < n_splits:
        return None
    train, val = next(StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed).split(y, y, groups))
    if np.unique(y[val]).size < 2:
        return None
    return np.sort(train), np.sort(val)


def fit_projection(X: np.ndarray, n_components: int | None, seed: int) -> Pipeline | None:
    """Standardize -> PCA to ``n_components`` columns, fitted on the training rows (no labels), or None
    when that would not shrink ``X``: trees pay per column, and a few hundred components keep
    nearly everything a linear model finds in 1,000-3,000 embedding columns.

    Fitted (and applied, :func:`project`) in float64: see there."""
    if n_components is None or n_components >= min(X.shape):
        return None
    pca = PCA(n_components=int(n_components), svd_solver="randomized", random_state=seed)
    return make_pipeline(StandardScaler(), pca).fit(np.asarray(X, dtype=np.float64))


def project(projection: Pipeline, X: np.ndarray) -> np.ndarray:
    """``projection`` applied to ``X`` in float64, rounded once to float32.

    A row's projected values must not depend on the rows it is batched with: XGBoost's histogram
    cut points are training values themselves, so a value one float32 ulp off flips a split (a
    0.14 probability change was measured). A float32 matrix product differs in its last bit
    between batch sizes (the BLAS kernel sums in another order); in float64 that difference is
    ~1e-16 and vanishes when rounded to float32.
    """
    return projection.transform(np.asarray(X, dtype=np.float64)).astype(np.float32)


class EarlyStoppingBoostingClassifier(ArgmaxPredictMixin, ClassifierMixin, BaseEstimator):
    """Base class; subclasses define ``__init__`` (with at least ``n_estimators``,
    ``early_stopping_rounds``, ``validation_fraction``, ``n_jobs``, ``random_state``) and:

    - ``_make_booster(seed, n_classes, threads, early_stopping) -> unfitted library estimator``
    - ``_fit_booster(booster, X, y, eval_set)``: ``eval_set`` is ``(X_val, y_val)`` or None
    - ``_n_rounds(booster) -> int``: boosting rounds the fitted booster predicts with

    and may take ``n_components`` (None, the default: the booster sees the columns as they are; else
    a fitted :func:`fit_projection` in front of it). Measured on 1,752 EfficientNet-Lite0 columns
    (benchmarks/results/boosters.json) 128 components made every booster 6-8x faster but cost 0.5-0.9
    points of CV macro F1, so no default uses it.

    Labels are encoded to ``0..n_classes-1`` before the booster sees them, so ``predict_proba``
    columns follow ``classes_``. ``early_stopping_rounds=None`` (or an unsplittable ``y``) boosts
    a fixed ``n_estimators`` rounds on all rows.
    """

    def fit(self, X, y, groups=None):
        X, y_enc = validate_classification(self, X, y, dtype=np.float32)
        groups = check_groups(groups, X.shape[0])
        if len(self.classes_) < 2:
            only = self.classes_[0]
            raise ValueError(f"{type(self).__name__} needs 2+ classes in y, got 1 class ({only!r})")
        seed = resolve_seed(self.random_state)
        self.projection_ = fit_projection(X, getattr(self, "n_components", None), seed)
        X = self._project(X)
        split = None
        if self.early_stopping_rounds:
            split = inner_split(y_enc, self.validation_fraction, seed, groups)
        booster = self._make_booster(
            seed, len(self.classes_), resolve_threads(self.n_jobs), early_stopping=split is not None
        )
        if split is None:
            self._fit_booster(booster, X, y_enc, None)
        else:
            train, val = split
            self._fit_booster(booster, X[train], y_enc[train], (X[val], y_enc[val]))
        self.booster_ = booster
        self.early_stopping_used_ = split is not None
        self.n_rounds_ = int(self._n_rounds(booster))
        return self

    def _make_booster(self, seed, n_classes, threads, early_stopping):
        raise NotImplementedError

    def _fit_booster(self, booster, X, y, eval_set):
        raise NotImplementedError

    def _n_rounds(self, booster):
        raise NotImplementedError

    def _project(self, X):
        # getattr: a model saved before projections existed has none, and saw the columns as they are.
        projection = getattr(self, "projection_", None)
        return X if projection is None else project(projection, X)

    def predict_proba(self, X):
        check_is_fitted(self)
        X = self._project(validate_data(self, X, dtype=np.float32, reset=False))
        proba = np.asarray(self.booster_.predict_proba(X), dtype=np.float64)
        return proba / proba.sum(axis=1, keepdims=True)  # xgboost returns float32 rows
