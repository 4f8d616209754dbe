"""Per-model insights from the out-of-fold probabilities a leaderboard run saved.

Every number here describes the cross-validation rows only (the holdout rows of ``oof`` are NaN):
the same images the leaderboard's Cross Validation column scores, each predicted by the fold model
that did not train on it. The metrics themselves are scikit-learn's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixelboard.errors import PixelboardError


@dataclass(frozen=True)
class ClassReport:
    name: str
    precision: float
    recall: float
    f1: float
    support: int  # cross-validation images of this class


@dataclass(frozen=True)
class ConfusedPair:
    true: str
    predicted: str
    count: int
    example_ids: list[str]  # up to max_examples, most confident mistakes first


@dataclass(frozen=True)
class Misclassified:
    image_id: str
    true: str
    predicted: str
    confidence: float  # probability of the predicted class


@dataclass(frozen=True)
class RocCurve:
    name: str
    fpr: np.ndarray  # empty, and auc NaN, when the class has no positive or no negative row
    tpr: np.ndarray
    auc: float


@dataclass(frozen=True)
class ModelInsights:
    model_id: str
    class_names: list[str]  # display names in the probability columns' order
    confusion: np.ndarray  # (K, K) int counts over the cross-validation rows, rows = true class
    per_class: list[ClassReport]
    roc: list[RocCurve]  # one-vs-rest per class
    confused_pairs: list[ConfusedPair]  # most confused first, off-diagonal only
    misclassified: list[Misclassified]  # most confident mistakes first


def validated_rows(oof: np.ndarray, y: np.ndarray, ids: list[str], class_names: list[str],
                   what: str = "out-of-fold probabilities") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row indices with probabilities, their probabilities, their labels), after checking the shapes agree."""
    oof = np.asarray(oof, dtype=np.float64)
    y = np.asarray(y)
    if oof.ndim != 2 or oof.shape[1] != len(class_names):
        raise PixelboardError(f"{what} have shape {oof.shape}; expected (images, {len(class_names)} classes)")
    if y.shape != (oof.shape[0],) or len(ids) != oof.shape[0]:
        raise PixelboardError(f"{what} cover {oof.shape[0]} images but there are {y.shape[0] if y.ndim else 0} "
                              f"labels and {len(ids)} ids; the run and the project's labels disagree")
    if len(y) and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= len(class_names)):
        raise PixelboardError(f"labels must be class indices 0..{len(class_names) - 1}")
    rows = np.flatnonzero(~np.isnan(oof).any(axis=1))
    if not len(rows):
        raise PixelboardError(f"{what} have no cross-validation rows (every row is NaN)")
    return rows, oof[rows], y[rows].astype(np.int64)


def model_insights(model_id: str, oof: np.ndarray, y: np.ndarray, ids: list[str], class_names: list[str],
                   max_examples: int = 6, max_misclassified: int = 48) -> ModelInsights:
    from sklearn.metrics import auc, confusion_matrix, precision_recall_fscore_support, roc_curve

    rows, proba, truth = validated_rows(oof, y, ids, class_names)
    names = [str(n) for n in class_names]
    labels = np.arange(len(names))
    predicted = proba.argmax(axis=1)
    confidence = proba[np.arange(len(rows)), predicted]
    confusion = confusion_matrix(truth, predicted, labels=labels)
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=labels,
                                                                     zero_division=0)
    per_class = [ClassReport(names[k], float(precision[k]), float(recall[k]), float(f1[k]), int(support[k]))
                 for k in labels]
    roc = []
    for k in labels:
        positive = truth == k
        if positive.all() or not positive.any():  # one-vs-rest needs both sides
            roc.append(RocCurve(names[k], np.zeros(0), np.zeros(0), float("nan")))
            continue
        fpr, tpr, _ = roc_curve(positive, proba[:, k])
        roc.append(RocCurve(names[k], fpr, tpr, float(auc(fpr, tpr))))

    wrong = np.flatnonzero(predicted != truth)
    wrong = wrong[np.lexsort((wrong, -confidence[wrong]))]  # most confident first; ties by row order
    off_diagonal = [(int(confusion[t, p]), t, p) for t in labels for p in labels if t != p and confusion[t, p]]
    pairs = []
    for count, t, p in sorted(off_diagonal, key=lambda c: (-c[0], c[1], c[2])):
        examples = [ids[rows[r]] for r in wrong if truth[r] == t and predicted[r] == p][:max_examples]
        pairs.append(ConfusedPair(names[t], names[p], count, examples))
    misclassified = [Misclassified(ids[rows[r]], names[truth[r]], names[predicted[r]], float(confidence[r]))
                     for r in wrong[:max_misclassified]]
    return ModelInsights(model_id, names, confusion.astype(np.int64), per_class, roc, pairs, misclassified)
