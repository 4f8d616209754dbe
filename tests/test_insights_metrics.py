"""Per-model insights (pixelboard.insights.metrics): a case checked by hand, and agreement with sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score

from pixelboard.errors import PixelboardError
from pixelboard.insights.metrics import model_insights

NAMES = ["a", "b", "c"]
# 7 cross-validation rows and one holdout row (NaN): three mistakes, a->b (0.7), b->a (0.5), c->b (0.9).
OOF = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.9, 0.0],
                [0.5, 0.4, 0.1], [0.1, 0.1, 0.8], [0.05, 0.9, 0.05], [np.nan] * 3])
Y = np.array([0, 0, 0, 1, 1, 2, 2, 1])
IDS = [f"r{i}" for i in range(8)]


def test_hand_checked_case():
    insights = model_insights("M1", OOF, Y, IDS, NAMES)
    assert insights.model_id == "M1" and insights.class_names == NAMES
    assert insights.confusion.tolist() == [[2, 1, 0], [1, 1, 0], [0, 1, 1]]  # the holdout row is left out
    report = {c.name: c for c in insights.per_class}
    assert report["a"].precision == pytest.approx(2 / 3) and report["a"].recall == pytest.approx(2 / 3)
    assert report["b"].precision == pytest.approx(1 / 3) and report["b"].recall == pytest.approx(1 / 2)
    assert report["c"].precision == 1.0 and report["c"].recall == 0.5 and report["c"].f1 == pytest.approx(2 / 3)
    assert [c.support for c in insights.per_class] == [3, 2, 2]
    # Class c against the rest: r5 (0.8) beats all 5 negatives, r6 (0.05) beats only r3 (0.0): AUC 6/10.
    roc_c = insights.roc[2]
    assert roc_c.name == "c" and roc_c.auc == pytest.approx(0.6)
    assert roc_c.fpr[0] == 0 and roc_c.tpr[-1] == 1 and len(roc_c.fpr) == len(roc_c.tpr)
    assert [(m.image_id, m.true, m.predicted, m.confidence) for m in insights.misclassified] == [
        ("r6", "c", "b", 0.9), ("r2", "a", "b", 0.7), ("r4", "b", "a", 0.5)]
    pairs = [(p.true, p.predicted, p.count, p.example_ids) for p in insights.confused_pairs]
    assert pairs == [("a", "b", 1, ["r2"]), ("b", "a", 1, ["r4"]), ("c", "b", 1, ["r6"])]


def test_agrees_with_sklearn_and_orders_pairs_and_mistakes():
    rng = np.random.default_rng(0)
    n, k = 400, 5
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y] + 1.0 * np.eye(k)[(y + 1) % k] * (y == 0)[:, None]
    oof = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    oof[rng.choice(n, 80, replace=False)] = np.nan  # holdout rows
    ids = [f"img{i}" for i in range(n)]
    insights = model_insights("M2", oof, y, ids, list("vwxyz"), max_examples=4, max_misclassified=10)
    rows = ~np.isnan(oof).any(axis=1)
    pred = oof[rows].argmax(axis=1)
    assert np.array_equal(insights.confusion, confusion_matrix(y[rows], pred, labels=range(k)))
    assert np.allclose([c.f1 for c in insights.per_class], f1_score(y[rows], pred, average=None))
    assert np.allclose([c.precision for c in insights.per_class], precision_score(y[rows], pred, average=None))
    assert np.allclose([c.recall for c in insights.per_class], recall_score(y[rows], pred, average=None))
    ovr = roc_auc_score(y[rows], oof[rows], multi_class="ovr", average=None)
    assert np.allclose([r.auc for r in insights.roc], ovr)
    counts = [p.count for p in insights.confused_pairs]
    assert counts == sorted(counts, reverse=True) and sum(counts) == (pred != y[rows]).sum()
    top = insights.confused_pairs[0]
    assert (top.true, top.predicted) == ("v", "w")  # the planted confusion
    assert all(len(p.example_ids) <= 4 for p in insights.confused_pairs)
    confidences = [m.confidence for m in insights.misclassified]
    assert len(confidences) == 10 and confidences == sorted(confidences, reverse=True)
    worst = np.flatnonzero(rows)[np.argmax(np.where(pred != y[rows], oof[rows].max(axis=1), -1))]
    assert insights.misclassified[0].image_id == ids[worst]


def test_a_class_without_rows_has_no_roc_curve():
    oof = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0]])
    insights = model_insights("M3", oof, np.array([0, 1, 1]), ["x", "y", "z"], NAMES)
    assert np.isnan(insights.roc[2].auc) and len(insights.roc[2].fpr) == 0
    assert insights.per_class[2].support == 0 and insights.per_class[2].f1 == 0.0
    assert insights.roc[0].auc == 1.0


@pytest.mark.parametrize("oof, y, ids, names, message", [
    (OOF, Y, IDS, ["a", "b"], "expected \\(images, 2 classes\\)"),
    (OOF, Y[:5], IDS, NAMES, "8 images but there are 5 labels"),
    (OOF, Y, IDS[:3], NAMES, "and 3 ids"),
    (OOF, Y + 3, IDS, NAMES, "class indices 0..2"),
    (np.full((2, 3), np.nan), np.array([0, 1]), ["x", "y"], NAMES, "no cross-validation rows"),
])
def test_bad_input_is_one_clear_error(oof, y, ids, names, message):
    with pytest.raises(PixelboardError, match=message):
        model_insights("M1", oof, y, ids, names)


# --- the embeddings map (pixelboard.insights.embedding_map) -------------------------------------------
def test_embedding_map_is_seeded_sampled_and_keeps_clusters_apart():
    from sklearn.neighbors import KNeighborsClassifier

    from pixelboard.insights.embedding_map import embedding_map

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 60)
    X = rng.normal(0, 6, (3, 64))[labels] + rng.normal(size=(180, 64))
    rows, coords = embedding_map(X, seed=1, max_points=120)
    assert coords.shape == (120, 2) and coords.dtype == np.float32 and rows.tolist() == sorted(set(rows.tolist()))
    again_rows, again = embedding_map(X, seed=1, max_points=120)
    assert np.array_equal(rows, again_rows) and np.array_equal(coords, again)
    assert not np.array_equal(embedding_map(X, seed=2, max_points=120)[0], rows)
    neighbours = KNeighborsClassifier(5).fit(coords, labels[rows])
    assert neighbours.score(coords, labels[rows]) > 0.95  # the three blobs stay three groups in 2-D
    all_rows, _ = embedding_map(X[:10])
    assert all_rows.tolist() == list(range(10))
    with pytest.raises(PixelboardError, match="at least 3 images"):
        embedding_map(X[:2])
