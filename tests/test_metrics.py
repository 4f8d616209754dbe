"""Metric registry: hand-computed values, agreement with scikit-learn, missing classes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from pixelboard.errors import PixelboardError
from pixelboard.leaderboard.metrics import METRICS, get_metric, is_better, score_all

Y = np.array([0, 0, 1, 1, 2, 2])
P = np.array([[0.8, 0.1, 0.1],   # right
              [0.3, 0.6, 0.1],   # wrong (1)
              [0.2, 0.7, 0.1],   # right
              [0.1, 0.8, 0.1],   # right
              [0.1, 0.2, 0.7],   # right
              [0.5, 0.2, 0.3]])  # wrong (0)


def test_hand_computed():
    s = score_all(Y, P, 3)
    # class 0: tp1 fp1 fn1 -> F1 .5; class 1: tp2 fp1 fn0 -> .8; class 2: tp1 fp0 fn1 -> 2/3
    assert s["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["balanced_accuracy"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert s["log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.3, 0.7, 0.8, 0.7, 0.3])))


def _random_case(seed, n=200, k=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    p = np.exp(logits)
    return y, p / p.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_sklearn(seed):
    y, p = _random_case(seed)
    pred = p.argmax(axis=1)
    s = score_all(y, p, 4)
    assert s["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert s["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert s["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert s["log_loss"] == pytest.approx(skm.log_loss(y, p, labels=range(4)))
    assert s["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))


def test_binary_auc_uses_positive_column():
    y, p = _random_case(4, k=2)
    assert score_all(y, p, 2)["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p[:, 1]))


def test_missing_class_handled():
    # class 3 never occurs in y_true nor in the predictions; class 2 is predicted but absent from y_true
    y = np.array([0, 0, 1, 1])
    p = np.array([[.7, .1, .1, .1], [.1, .1, .7, .1], [.1, .7, .1, .1], [.1, .7, .1, .1]])
    s = score_all(y, p, 4)
    pred = p.argmax(axis=1)
    assert s["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))  # over classes 0, 1, 2
    assert s["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    assert s["log_loss"] == pytest.approx(-np.mean(np.log([.7, .1, .7, .7])))
    assert s["roc_auc"] == pytest.approx(np.mean([skm.roc_auc_score(y == c, p[:, c]) for c in (0, 1)]))
    assert all(np.isfinite(v) for v in s.values())
    assert math.isnan(score_all(np.array([1, 1]), p[:2], 4)["roc_auc"])  # one class: AUC undefined


def test_log_loss_clips_zero_probability():
    s = score_all(np.array([0]), np.array([[0.0, 1.0]]), 2)
    assert s["log_loss"] == pytest.approx(-np.log(1e-15))


def test_registry_labels_and_directions():
    assert {m: (METRICS[m].label, METRICS[m].greater_is_better) for m in METRICS} == {
        "macro_f1": ("Macro F1", True), "accuracy": ("Accuracy", True),
        "balanced_accuracy": ("Balanced Accuracy", True), "log_loss": ("LogLoss", False),
        "roc_auc": ("AUC", True)}
    assert get_metric("macro_f1")(Y, P) == pytest.approx(score_all(Y, P, 3)["macro_f1"])


def test_unknown_metric_lists_valid_names():
    with pytest.raises(PixelboardError, match="unknown metric 'f2'.*macro_f1"):
        get_metric("f2")


def test_is_better():
    assert is_better("macro_f1", 0.9, 0.8) and not is_better("macro_f1", 0.8, 0.8)
    assert is_better("log_loss", 0.2, 0.3) and not is_better("log_loss", 0.3, 0.2)
    assert is_better("roc_auc", 0.5, float("nan")) and not is_better("roc_auc", float("nan"), 0.5)


def test_shape_errors():
    with pytest.raises(ValueError):
        score_all(Y, P, 4)
    with pytest.raises(ValueError):
        score_all(Y[:-1], P, 3)
