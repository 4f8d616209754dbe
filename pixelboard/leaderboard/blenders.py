"""Blenders: combine models' class probabilities, fitted on out-of-fold probabilities only.

They work on arrays only — ``{model id: (n, K) probabilities}`` plus int labels 0..K-1 — and know nothing
about blueprints, featurizers or files. Ties are broken by sorted model id so results never depend on
dict order. :func:`cross_validated_blend` gives a blend an honest CV score by refitting it per fold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from pixelboard.errors import PixelboardError
from pixelboard.leaderboard.metrics import DEFAULT_METRIC, get_metric, log_loss

Probas = dict[str, np.ndarray]


class Blender:
    """Base class. Subclasses set ``members_`` (ids used) and ``weights_`` in ``fit``."""

    members_: list[str]
    weights_: dict[str, float]

    def fit(self, probas: Probas, y: np.ndarray) -> Blender:
        raise NotImplementedError

    def predict_proba(self, probas: Probas) -> np.ndarray:
        """Default: weighted average of the members' probabilities."""
        return sum(self.weights_[m] * _member(probas, m) for m in self.members_)

    def _validate(self, probas: Probas, y: np.ndarray) -> tuple[list[str], np.ndarray]:
        if not probas:
            raise ValueError("a blender needs at least one model's probabilities")
        ids = sorted(probas)
        shapes = {np.shape(probas[m]) for m in ids}
        y = np.asarray(y)
        if len(shapes) != 1 or len(next(iter(shapes))) != 2 or next(iter(shapes))[0] != y.shape[0]:
            raise ValueError(f"all probabilities must share one (n, K) shape with n=len(y); got {shapes}")
        return ids, y.astype(np.int64)


@dataclass(frozen=True)
class BlenderSpec:
    name: str
    label: str
    cls: type[Blender]


BLENDERS: dict[str, BlenderSpec] = {}


def register_blender(name: str, label: str) -> Callable[[type[Blender]], type[Blender]]:
    def decorate(cls: type[Blender]) -> type[Blender]:
        BLENDERS[name] = BlenderSpec(name, label, cls)
        return cls
    return decorate


def _member(probas: Probas, model_id: str) -> np.ndarray:
    if model_id not in probas:
        raise PixelboardError(f"the blend needs predictions of model {model_id!r}, which are missing")
    return np.asarray(probas[model_id], dtype=np.float64)


def _rank_key(metric_name: str, y: np.ndarray, proba: np.ndarray) -> tuple[float, float]:
    """Higher is better: the metric first, then (for flat argmax metrics) lower log loss."""
    return get_metric(metric_name).oriented(get_metric(metric_name).fn(y, proba)), -log_loss(y, proba)


def _top(probas: Probas, ids: list[str], y: np.ndarray, metric: str, k: int) -> list[str]:
    keys = {m: _rank_key(metric, y, np.asarray(probas[m], dtype=np.float64)) for m in ids}
    return sorted(ids, key=lambda m: (-keys[m][0], -keys[m][1], m))[:k]


@register_blender("avg", "Average Blender")
class AverageBlender(Blender):
    """Unweighted mean of the ``k`` best models by ``metric`` (ties: lower log loss, then id)."""

    def __init__(self, k: int = 3, metric: str = DEFAULT_METRIC):
        self.k = k
        self.metric = metric

    def fit(self, probas: Probas, y: np.ndarray) -> AverageBlender:
        ids, y = self._validate(probas, y)
        self.members_ = _top(probas, ids, y, self.metric, max(1, int(self.k)))
        self.weights_ = {m: 1.0 / len(self.members_) for m in self.members_}
        return self


@register_blender("glm", "GLM Blender")
class GLMStacker(Blender):
    """Multinomial L2 logistic regression on the members' clipped log-probabilities, standardized.

    Members are the ``max_members`` best models by ``metric`` (all when None): the stacker has
    ``members × K`` inputs, and on a few thousand rows more inputs overfit and slow it down while the
    weaker models rarely add anything. ``C=None`` picks C from ``Cs`` by an internal stratified
    ``cv``-fold log loss when that is cheap (rows × inputs ≤ 5e6 and every class has ``cv`` rows),
    else uses 1.0. ``weights_`` is each member's share of the absolute coefficients (for display).
    """

    def __init__(self, C: float | None = None, Cs: tuple[float, ...] = (0.03, 0.3, 3.0), cv: int = 3,
                 max_members: int | None = 10, metric: str = DEFAULT_METRIC, random_state: int = 0):
        self.C = C
        self.Cs = Cs
        self.cv = cv
        self.max_members = max_members
        self.metric = metric
        self.random_state = random_state

    def fit(self, probas: Probas, y: np.ndarray) -> GLMStacker:
        ids, y = self._validate(probas, y)
        self.members_ = _top(probas, ids, y, self.metric, self.max_members or len(ids))
        self.n_classes_ = int(np.shape(probas[ids[0]])[1])
        x = self._features(probas)
        self.C_ = float(self.C) if self.C is not None else self._choose_C(x, y)
        self.model_ = self._fit_model(self.C_, x, y)
        share = np.abs(self.model_[-1].coef_).reshape(-1, len(self.members_), self.n_classes_).sum(axis=(0, 2))
        share = share / share.sum() if share.sum() > 0 else np.full(share.size, 1.0 / share.size)
        self.weights_ = {m: float(s) for m, s in zip(self.members_, share)}
        return self

    def predict_proba(self, probas: Probas) -> np.ndarray:
        out = np.zeros((np.shape(_member(probas, self.members_[0]))[0], self.n_classes_))
        # A class missing from the fitted rows gets probability 0 rather than shifting the columns.
        out[:, self.model_.classes_] = self.model_.predict_proba(self._features(probas))
        return out

    def _features(self, probas: Probas) -> np.ndarray:
        return np.hstack([np.log(np.clip(_member(probas, m), 1e-6, 1.0)) for m in self.members_])

    @staticmethod
    def _fit_model(C: float, x: np.ndarray, y: np.ndarray) -> Pipeline:
        # Stacking problems are small: extra BLAS/OpenMP threads only add overhead, and on a busy
        # 2-core machine their spin-waiting made one fit 20x slower. Scoped to this fit only.
        # Standardized: raw log-probabilities (0 down to -14) took lbfgs 500-1,300 iterations; on the
        # 2,000-image benchmark (benchmarks/results/scale.json) standardizing made the nested-CV blend
        # 6-7x faster and its CV / holdout macro F1 0.001-0.005 / 0.008-0.023 higher.
        with threadpool_limits(1):
            return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)).fit(x, y)

    def _choose_C(self, x: np.ndarray, y: np.ndarray) -> float:
        counts = np.bincount(y)
        counts = counts[counts > 0]
        if x.size > 5e6 or counts.size < 2 or counts.min() < self.cv or not self.Cs:
            return 1.0
        split = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        losses = []
        for C in self.Cs:
            loss = 0.0
            for train, valid in split.split(x, y):
                model = self._fit_model(C, x[train], y[train])
                proba = np.zeros((valid.size, self.n_classes_))
                proba[:, model.classes_] = model.predict_proba(x[valid])
                loss += log_loss(y[valid], proba)
            losses.append(loss)
        return float(self.Cs[int(np.argmin(losses))])


@register_blender("greedy", "Greedy (Caruana) Blender")
class GreedyEnsemble(Blender):
    """Caruana ensemble selection with replacement.

    Starts from the best single model, then for up to ``rounds`` rounds adds the model (repeats allowed)
    that makes the running average best by ``metric``, ties broken by lower log loss (argmax metrics are
    flat, log loss is not), then by id. Keeps the best prefix seen, so on the data it was fitted on the
    blend is never worse than its best member. ``weights_`` = selection counts / total.
    """

    def __init__(self, metric: str = DEFAULT_METRIC, rounds: int = 25):
        self.metric = metric
        self.rounds = rounds

    def fit(self, probas: Probas, y: np.ndarray) -> GreedyEnsemble:
        ids, y = self._validate(probas, y)
        arrays = {m: np.asarray(probas[m], dtype=np.float64) for m in ids}
        first = _top(probas, ids, y, self.metric, 1)[0]
        counts = {first: 1}
        total = arrays[first].copy()
        best_key, best_counts = _rank_key(self.metric, y, total), dict(counts)
        for step in range(2, int(self.rounds) + 1):
            keys = {m: _rank_key(self.metric, y, (total + arrays[m]) / step) for m in ids}
            pick = sorted(ids, key=lambda m: (-keys[m][0], -keys[m][1], m))[0]
            total += arrays[pick]
            counts[pick] = counts.get(pick, 0) + 1
            if keys[pick] > best_key:
                best_key, best_counts = keys[pick], dict(counts)
        n = sum(best_counts.values())
        self.members_ = sorted(best_counts, key=lambda m: (-best_counts[m], m))
        self.weights_ = {m: best_counts[m] / n for m in self.members_}
        self.score_ = best_key[0] if get_metric(self.metric).greater_is_better else -best_key[0]
        return self


def list_blenders() -> list[str]:
    return sorted(BLENDERS)


def get_blender_spec(name: str) -> BlenderSpec:
    """The blender registered as ``name``; an unknown name is a one-line user error."""
    if name not in BLENDERS:
        raise PixelboardError(f"unknown blender {name!r}; choose one of: {', '.join(list_blenders())}")
    return BLENDERS[name]


def create_blender(name: str, **params: object) -> Blender:
    """A new, unfitted blender registered as ``name`` (``avg``, ``glm``, ``greedy``)."""
    return get_blender_spec(name).cls(**params)


def cross_validated_blend(blender_factory: Callable[[], Blender], oof: Probas, y: np.ndarray,
                          fold_of_row: np.ndarray, apply_to: Probas | None = None) -> np.ndarray:
    """Out-of-fold blended probabilities: for each fold f, a fresh blender is fitted on the rows of the
    other folds only and predicts fold f, so a blend's CV score never sees the fold it is scored on.

    All arrays are full length (one row per image, the partition's row order). Rows whose fold is
    negative (holdout, train-only, unused) are ignored: their output rows are ``nan``. ``apply_to``
    (default ``oof``) are the probabilities each fold's blender predicts: e.g. a blender fitted on
    shifted out-of-fold probabilities, applied to the clean ones.
    """
    apply_to = oof if apply_to is None else apply_to
    fold_of_row = np.asarray(fold_of_row)
    y = np.asarray(y)
    folds = np.unique(fold_of_row[fold_of_row >= 0])
    if folds.size < 2:
        raise ValueError(f"cross_validated_blend needs at least 2 folds, got {folds.size}")
    n_classes = np.shape(next(iter(oof.values())))[1]
    out = np.full((fold_of_row.size, n_classes), math.nan)
    for fold in folds:
        train = np.flatnonzero((fold_of_row >= 0) & (fold_of_row != fold))
        valid = np.flatnonzero(fold_of_row == fold)
        blender = blender_factory().fit({m: np.asarray(p)[train] for m, p in oof.items()}, y[train])
        out[valid] = blender.predict_proba({m: np.asarray(p)[valid] for m, p in apply_to.items()})
    return out
