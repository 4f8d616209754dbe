"""Leaderboard metrics on ``(y_true, proba)``: int class indices 0..K-1 and an ``(n, K)`` probability array.

Every metric tolerates folds where some classes are missing (small classes, blends fitted on a subset):

* ``macro_f1``: mean F1 over the classes present in ``y_true`` or in the predictions (scikit-learn's
  default and Kaggle's definition); a class absent from both contributes nothing rather than a 0.
* ``balanced_accuracy``: mean recall over the classes present in ``y_true``.
* ``roc_auc``: binary, the positive-class column; multiclass, one-vs-rest macro average over the classes
  present in ``y_true``. ``nan`` when fewer than two classes are present (AUC is undefined).
* ``log_loss``: rows are renormalised and probabilities clipped to ``[1e-15, 1]``, so a confident wrong
  prediction costs at most ~34.5 instead of infinity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from pixelboard.errors import PixelboardError

DEFAULT_METRIC = "macro_f1"
_EPS = 1e-15

MetricFn = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class Metric:
    """A registered metric: ``fn(y_true, proba) -> float``."""

    name: str
    label: str
    greater_is_better: bool
    fn: MetricFn

    def __call__(self, y_true: np.ndarray, proba: np.ndarray) -> float:
        y_true, proba = _check(y_true, proba, None)
        return float(self.fn(y_true, proba))

    def oriented(self, value: float) -> float:
        """``value`` turned so that higher is always better; ``nan`` becomes ``-inf`` (ranks last)."""
        if value is None or math.isnan(value):
            return -math.inf
        return value if self.greater_is_better else -value


METRICS: dict[str, Metric] = {}


def register_metric(name: str, label: str, greater_is_better: bool) -> Callable[[MetricFn], MetricFn]:
    """Decorator adding ``fn(y_true, proba)`` to :data:`METRICS` under ``name``."""
    def decorate(fn: MetricFn) -> MetricFn:
        METRICS[name] = Metric(name, label, greater_is_better, fn)
        return fn
    return decorate


def list_metrics() -> list[str]:
    return sorted(METRICS)


def get_metric(name: str | Metric) -> Metric:
    """The registered metric called ``name`` (a :class:`Metric` is passed through)."""
    if isinstance(name, Metric):
        return name
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        raise PixelboardError(f"unknown metric {name!r}; choose one of: {', '.join(list_metrics())}") from None


def score_all(y_true: np.ndarray, proba: np.ndarray, n_classes: int) -> dict[str, float]:
    """Every registered metric, by name."""
    y_true, proba = _check(y_true, proba, n_classes)
    return {name: float(metric.fn(y_true, proba)) for name, metric in METRICS.items()}


def is_better(metric: str | Metric, a: float, b: float) -> bool:
    """True when score ``a`` is strictly better than ``b`` (``nan`` is worse than any number)."""
    metric = get_metric(metric)
    return metric.oriented(a) > metric.oriented(b)


def _check(y_true: np.ndarray, proba: np.ndarray, n_classes: int | None) -> tuple[np.ndarray, np.ndarray]:
    # Shape problems here are programming errors of the caller, not user input: ValueError.
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or y_true.ndim != 1 or proba.shape[0] != y_true.shape[0]:
        raise ValueError(f"expected y_true (n,) and proba (n, K), got {y_true.shape} and {proba.shape}")
    if n_classes is not None and proba.shape[1] != n_classes:
        raise ValueError(f"proba has {proba.shape[1]} columns, expected n_classes={n_classes}")
    if y_true.size and (not np.issubdtype(y_true.dtype, np.integer) or y_true.min() < 0
                        or y_true.max() >= proba.shape[1]):
        raise ValueError(f"y_true must hold class indices 0..{proba.shape[1] - 1}")
    return y_true.astype(np.int64), proba


def _confusion(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    return np.bincount(y_true * k + pred, minlength=k * k).reshape(k, k)


@register_metric("macro_f1", "Macro F1", greater_is_better=True)
def macro_f1(y_true: np.ndarray, proba: np.ndarray) -> float:
    cm = _confusion(y_true, proba)
    tp, true, pred = np.diag(cm), cm.sum(axis=1), cm.sum(axis=0)
    seen = (true + pred) > 0
    if not seen.any():
        return math.nan
    return float(np.mean(2 * tp[seen] / (true[seen] + pred[seen])))


@register_metric("accuracy", "Accuracy", greater_is_better=True)
def accuracy(y_true: np.ndarray, proba: np.ndarray) -> float:
    return float(np.mean(proba.argmax(axis=1) == y_true)) if y_true.size else math.nan


@register_metric("balanced_accuracy", "Balanced Accuracy", greater_is_better=True)
def balanced_accuracy(y_true: np.ndarray, proba: np.ndarray) -> float:
    cm = _confusion(y_true, proba)
    true = cm.sum(axis=1)
    present = true > 0
    return float(np.mean(np.diag(cm)[present] / true[present])) if present.any() else math.nan


@register_metric("log_loss", "LogLoss", greater_is_better=False)
def log_loss(y_true: np.ndarray, proba: np.ndarray) -> float:
    if not y_true.size:
        return math.nan
    p = np.clip(proba, 0.0, None)
    total = p.sum(axis=1, keepdims=True)
    p = np.divide(p, total, out=np.full_like(p, 1.0 / p.shape[1]), where=total > 0)
    return float(-np.mean(np.log(np.clip(p[np.arange(y_true.size), y_true], _EPS, 1.0))))


@register_metric("roc_auc", "AUC", greater_is_better=True)
def roc_auc(y_true: np.ndarray, proba: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score  # here: `pixelboard export` starts without sklearn

    present = np.unique(y_true)
    if present.size < 2:
        return math.nan
    if proba.shape[1] == 2:
        return float(roc_auc_score(y_true == 1, proba[:, 1]))
    return float(np.mean([roc_auc_score(y_true == c, proba[:, c]) for c in present]))
