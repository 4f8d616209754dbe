"""Small helpers shared by the hand-written estimators (input checks, seeds, thread counts, predict)."""

from __future__ import annotations

import numpy as np
from joblib import effective_n_jobs
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_random_state, validate_data


def validate_classification(estimator, X, y, dtype=np.float32):
    """Validate ``X, y``, set ``n_features_in_`` and ``classes_``; return ``X`` and encoded ``y``.

    Labels of any type (strings, ints, floats) are encoded to ``0..n_classes-1`` so every backend
    sees the same integer targets and ``predict_proba`` columns line up with ``classes_``.
    """
    X, y = validate_data(estimator, X, y, dtype=dtype)
    check_classification_targets(y)
    encoder = LabelEncoder().fit(y)
    estimator.classes_ = encoder.classes_
    return X, encoder.transform(y)


def check_groups(groups, n_rows: int):
    """``groups`` as an array of one key per row (or None); a length mismatch is a ValueError."""
    if groups is None:
        return None
    groups = np.asarray(groups)
    if groups.shape != (n_rows,):
        raise ValueError(f"groups has shape {groups.shape}, expected ({n_rows},)")
    return groups


def min_units_per_class(y_enc, groups=None) -> int:
    """The smallest number of independent units (rows, or distinct groups) of any class."""
    if groups is None:
        return int(np.bincount(y_enc).min())
    pairs = np.unique(np.stack([y_enc, np.unique(groups, return_inverse=True)[1]]), axis=1)
    return int(np.bincount(pairs[0], minlength=int(y_enc.max()) + 1).min())


def resolve_seed(random_state) -> int:
    """An int seed drawn from ``random_state`` (None, int or RandomState); call inside ``fit``."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def resolve_threads(n_jobs) -> int:
    """A positive thread count: ``None`` -> 1, ``-1`` -> all cores, as joblib reads ``n_jobs``."""
    return max(1, int(effective_n_jobs(n_jobs)))


class ArgmaxPredictMixin:
    """``predict`` as the most probable class of ``predict_proba``, shared by every estimator here."""

    def predict(self, X):
        proba = self.predict_proba(X)  # first, so an unfitted model raises NotFittedError
        return self.classes_[np.argmax(proba, axis=1)]
