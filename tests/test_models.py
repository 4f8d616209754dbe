"""One common suite over every registered blueprint, plus sklearn's check_estimator for ours."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.metrics import balanced_accuracy_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from pixelboard.errors import PixelboardError
from pixelboard.models import create_blueprint, get_blueprint, list_blueprints
from pixelboard.models.boosting import inner_split
from pixelboard.models.catboost_gbt import CatBoostClassifier
from pixelboard.models.lightgbm_gbt import LightGBMClassifier
from pixelboard.models.logistic import TunedLogisticRegression
from pixelboard.models.mlp import SlimResidualMLPClassifier, auto_batch_size
from pixelboard.models.xgboost_gbt import XGBoostClassifier

# The embedding blueprints; the fine-tuned ones fit pixel rows and have their own tests (test_finetune.py).
BLUEPRINTS = [n for n in list_blueprints() if get_blueprint(n).inputs == "embeddings"]
# Small, fast variants for the blueprint suite: the defaults are sized for real leaderboards.
FAST_PARAMS = {"lightgbm": {"n_estimators": 60}, "xgboost": {"n_estimators": 60},
               "catboost": {"n_estimators": 60}}


@pytest.fixture(scope="module")
def easy_problem():
    """Separable 4-class problem shaped like (small) embeddings: float32, many noise columns."""
    X, y = make_classification(n_samples=400, n_features=60, n_informative=12, n_redundant=8,
                               n_classes=4, n_clusters_per_class=1, class_sep=2.0, random_state=0)
    X = X.astype(np.float32)
    return X[:300], y[:300], X[300:], y[300:]


def _make(name, random_state=0):
    return create_blueprint(name, random_state=random_state).set_params(**FAST_PARAMS.get(name, {}))


def test_registry_lists_default_set_and_rejects_unknown_names():
    assert set(list_blueprints(default_only=True)) >= {"majority", "lr_l2", "mlp", "lightgbm",
                                                        "xgboost", "catboost"}
    spec = get_blueprint("lr_l2")
    assert spec.label == "Regularized Logistic Regression (L2)" and spec.short == "LR"
    with pytest.raises(PixelboardError, match="lr_l2"):
        get_blueprint("no_such_blueprint")


@pytest.mark.parametrize("name", BLUEPRINTS)
def test_blueprint_fits_and_predicts_valid_probabilities(name, easy_problem):
    X, y, X_test, y_test = easy_problem
    model = _make(name).fit(X, y)
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert list(model.classes_) == [0, 1, 2, 3]
    score = balanced_accuracy_score(y_test, model.predict(X_test))
    # Chance is 0.25; every real blueprint reaches ~0.9 here, a broken one would not pass 0.75.
    assert score <= 0.3 if name == "majority" else score >= 0.75


@pytest.mark.parametrize("name", BLUEPRINTS)
def test_blueprint_is_deterministic_and_survives_joblib(name, easy_problem, tmp_path):
    X, y, X_test, _ = easy_problem
    first = _make(name, random_state=3).fit(X, y)
    second = _make(name, random_state=3).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X_test), second.predict_proba(X_test))
    joblib.dump(first, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X_test), first.predict_proba(X_test))


@pytest.mark.parametrize("tiny", [1, 2])
@pytest.mark.parametrize("name", BLUEPRINTS)
def test_blueprint_accepts_string_labels_with_a_tiny_class(name, tiny, easy_problem):
    X, y, X_test, _ = easy_problem
    names = np.array(["cat", "dog", "owl", "yak"])
    labels = names[y]
    # A 1- or 2-row class: too small for 3 inner CV folds, or to be stratified at all.
    labels[:tiny] = "emu"
    model = _make(name).fit(X, labels)
    assert list(model.classes_) == ["cat", "dog", "emu", "owl", "yak"]
    assert model.predict_proba(X_test).shape == (len(X_test), 5)
    assert set(model.predict(X_test)) <= set(names) | {"emu"}


def test_inner_split_is_stratified_and_keeps_singletons_in_training():
    y = np.array([0] * 40 + [1] * 20 + [2])
    train, val = inner_split(y, 0.15, seed=0)
    assert sorted(np.concatenate([train, val])) == list(range(len(y)))
    assert 60 in train and set(y[val]) == {0, 1}
    assert inner_split(np.array([0, 0, 1, 1]), 0.15, seed=0) is None  # too small to split


def test_boosting_keeps_best_iteration_from_early_stopping(easy_problem):
    X, y, _, _ = easy_problem
    model = LightGBMClassifier(n_estimators=400, learning_rate=0.3, random_state=0).fit(X, y)
    assert model.early_stopping_used_ and model.n_rounds_ < 400


def test_mlp_batch_size_rule():
    assert [auto_batch_size(n) for n in (5, 100, 3000, 100_000)] == [5, 32, 187, 512]


@parametrize_with_checks([
    SlimResidualMLPClassifier(epochs=4, random_state=0),
    TunedLogisticRegression(random_state=0),
    LightGBMClassifier(n_estimators=20, random_state=0),
    XGBoostClassifier(n_estimators=20, random_state=0),
    CatBoostClassifier(n_estimators=20, random_state=0),
])
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)


@pytest.mark.parametrize("booster", [XGBoostClassifier, LightGBMClassifier, CatBoostClassifier])
def test_projected_booster_predicts_a_row_the_same_alone_or_batched(booster):
    # The setting of sklearn's check_methods_subset_invariance, with the PCA step on: XGBoost's
    # cut points are training values, so a projection that differs by one float32 ulp between a
    # batch of 20 and a single row changed probabilities by 0.14 on this machine's BLAS.
    X = 3 * np.random.RandomState(0).uniform(size=(20, 3))
    y = X[:, 0].astype(int)
    model = booster(n_estimators=20, n_components=1, random_state=1).fit(X, y)
    one_by_one = np.vstack([model.predict_proba(X[i:i + 1]) for i in range(len(X))])
    np.testing.assert_array_equal(model.predict_proba(X), one_by_one)


def test_projection_of_a_row_does_not_depend_on_its_batch():
    from pixelboard.models.boosting import fit_projection, project

    X = np.random.RandomState(1).normal(size=(300, 64)).astype(np.float32)
    projection = fit_projection(X, 8, seed=0)
    whole = project(projection, X)
    assert whole.dtype == np.float32
    rows = np.vstack([project(projection, X[i:i + 1]) for i in range(0, 300, 7)])
    np.testing.assert_array_equal(whole[::7], rows)


def test_lr_tries_balanced_class_weights_only_on_imbalanced_classes_and_keeps_the_better_one(monkeypatch):
    from pixelboard.models import logistic
    from pixelboard.models.logistic import TunedLogisticRegression

    rng = np.random.default_rng(0)
    balanced_y = np.repeat([0, 1, 2], 40)
    X = rng.normal(size=(120, 6)) + balanced_y[:, None] * 0.6
    calls = []
    real = logistic._inner_macro_f1
    monkeypatch.setattr(logistic, "_inner_macro_f1", lambda m, *a: calls.append(m.class_weight) or real(m, *a))
    plain = TunedLogisticRegression(class_weight=None, random_state=0).fit(X, balanced_y)
    auto = TunedLogisticRegression(random_state=0).fit(X, balanced_y)
    assert auto.class_weight_ is None and not calls  # balanced classes: one fit, the model without weights
    assert np.array_equal(auto.predict_proba(X), plain.predict_proba(X))
    y = np.r_[np.zeros(200), np.ones(200), np.full(20, 2)].astype(int)  # 10:1
    X = rng.normal(size=(y.size, 4))
    X[:, :3] += np.eye(3)[y] * 1.2
    chosen = TunedLogisticRegression(random_state=0).fit(X, y)
    assert calls == [None, "balanced"]  # both weightings scored on the same inner folds
    fixed = {w: TunedLogisticRegression(class_weight=w, random_state=0).fit(X, y) for w in (None, "balanced")}
    assert np.array_equal(chosen.predict_proba(X), fixed[chosen.class_weight_].predict_proba(X))
    for favoured in (None, "balanced"):  # the better inner macro F1 wins, whichever it is
        monkeypatch.setattr(logistic, "_inner_macro_f1", lambda m, *a, f=favoured: float(m.class_weight == f))
        model = TunedLogisticRegression(random_state=0).fit(X, y)
        assert model.class_weight_ == favoured
        assert np.array_equal(model.predict_proba(X), fixed[favoured].predict_proba(X))
    recall = lambda m: np.mean(m.predict(X[y == 2]) == 2)  # noqa: E731
    assert recall(fixed["balanced"]) > recall(fixed[None])  # the weighting does what it is for
