"""L2 logistic regression on standardized embeddings, with C tuned by an inner stratified CV.

Linear models on pooled CNN embeddings are the strongest cheap baseline; the only hyper-parameter
that matters is the regularization strength, so it is chosen by cross-validation on the data given
to ``fit`` only (never on the leaderboard's validation folds).
"""

from __future__ import annotations

import inspect

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import f1_score, get_scorer, make_scorer
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from pixelboard.models._validation import (ArgmaxPredictMixin, check_groups, min_units_per_class, resolve_seed,
                                          resolve_threads, validate_classification)
from pixelboard.models.registry import register_blueprint

DEFAULT_CS = tuple(np.logspace(-2, 2, 9))
# class_weight="auto" tries "balanced" too when the largest class has more than this many times the
# smallest one's rows (macro F1 counts every class alike; the seed's team found class weights helped on
# its imbalanced set); on balanced sets the two are the same model, so none is fitted twice.
IMBALANCE_RATIO = 1.5


class TunedLogisticRegression(ArgmaxPredictMixin, ClassifierMixin, BaseEstimator):
    """StandardScaler -> multinomial L2 logistic regression, C picked from ``Cs`` by inner CV.

    ``class_weight="auto"`` also fits ``"balanced"`` class weights when the classes are imbalanced
    (``IMBALANCE_RATIO``) and keeps whichever gives the better inner out-of-fold macro F1
    (``class_weight_``); None or ``"balanced"`` fix it.
    Inner folds = ``min(max_folds, smallest class count)`` so every fold sees every class; with
    fewer than 2 folds possible, ``fallback_C`` is used without tuning. With ``groups`` (an image,
    its augmented copies and its exact duplicates share one), the inner folds keep each group on
    one side, so C is not chosen on copies of training images. The loose ``tol`` is enough
    for ranking probabilities and keeps a 3,000 x 1,800 x 10-class fit to seconds.
    ``n_jobs`` caps the BLAS and OpenMP threads used during ``fit``; at these sizes one thread
    is usually fastest, so the leaderboard should parallelize across fits instead.
    """

    def __init__(self, Cs=DEFAULT_CS, max_folds=3, fallback_C=1.0, scoring="neg_log_loss",
                 max_iter=200, tol=1e-3, class_weight="auto", n_jobs=1, random_state=None):
        self.Cs = Cs
        self.class_weight = class_weight
        self.max_folds = max_folds
        self.fallback_C = fallback_C
        self.scoring = scoring
        self.max_iter = max_iter
        self.tol = tol
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y, groups=None):
        X, y_enc = validate_classification(self, X, y, dtype=[np.float64, np.float32])
        groups = check_groups(groups, X.shape[0])
        seed = resolve_seed(self.random_state)
        n_folds = min(self.max_folds, min_units_per_class(y_enc, groups))
        weights = _class_weights(self.class_weight, y_enc)
        tuned = len(self.classes_) >= 2 and n_folds >= 2
        splits = _inner_folds(n_folds, seed, X, y_enc, groups) if tuned else None
        scaler = StandardScaler()
        with threadpool_limits(limits=resolve_threads(self.n_jobs)):
            # What Pipeline.fit computes, step by step: the solver works in float64 (LogisticRegressionCV
            # converts to it), so the scaled float32 copy is converted here and freed before the inner
            # folds copy the rows again (a 44,800 x 1,752 fit peaked 0.3 GB lower, same numbers).
            scaled = np.asarray(scaler.fit_transform(X), dtype=np.float64)
            if not tuned:
                # Too few rows per class to cross-validate (or one class, which lbfgs rejects
                # with a ValueError naming the class count): no tuning.
                model = LogisticRegression(C=self.fallback_C, max_iter=self.max_iter, tol=self.tol,
                                           class_weight=weights[0]).fit(scaled, y_enc)
            else:
                keywords = _version_keywords(self.scoring, len(self.classes_))
                models = [LogisticRegressionCV(
                    Cs=list(self.Cs), cv=splits, class_weight=weight, max_iter=self.max_iter, tol=self.tol,
                    **keywords,
                ).fit(scaled, y_enc) for weight in weights]
                # More than one class weighting: keep the one whose inner out-of-fold macro F1 is best.
                scores = [_inner_macro_f1(m, scaled, y_enc, splits) for m in models] if len(models) > 1 else [0.0]
                model = models[int(np.argmax(scores))]
            self.class_weight_ = model.class_weight
            del scaled
        if isinstance(model, LogisticRegressionCV):
            model.scoring = self.scoring  # a labelled scorer object (older scikit-learn) served the fit only
        self.pipeline_ = make_pipeline(scaler, model)
        if hasattr(model, "coefs_paths_"):
            # Per-fold coefficient paths (folds x Cs x classes x features) only served to pick C;
            # dropping them keeps a saved 100-class model at ~2 MB instead of ~60 MB.
            del model.coefs_paths_
        self.C_ = float(np.ravel(model.C_)[0] if hasattr(model, "C_") else model.C)
        self.n_iter_ = model.n_iter_
        return self

    def predict_proba(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return self.pipeline_.predict_proba(X)


def _version_keywords(scoring, n_classes: int) -> dict:
    """The keywords that say the same thing to every supported scikit-learn.

    >= 1.8 says "L2 only" as ``l1_ratios=(0,)``, drops the per-class copies of ``C_`` with
    ``use_legacy_attributes=False``, and hands the scorer every class (an inner fold of grouped
    rows may miss one). Older releases know neither keyword, default to L2, and score a fold
    that misses a class with an error unless the scorer is told the labels, as here.
    """
    if "use_legacy_attributes" in inspect.signature(LogisticRegressionCV).parameters:
        return {"scoring": scoring, "l1_ratios": (0.0,), "use_legacy_attributes": False}
    scorer = get_scorer(scoring)
    if "labels" in inspect.signature(scorer._score_func).parameters:
        scorer = make_scorer(scorer._score_func, greater_is_better=scorer._sign == 1,
                             response_method=scorer._response_method, labels=np.arange(n_classes),
                             **scorer._kwargs)
    return {"scoring": scorer}


def _inner_folds(n_folds, seed, X, y, groups):
    # Materialised splits: LogisticRegressionCV then needs no groups routed through the pipeline, and
    # the class weightings it compares are scored on the same splits (the same ones it would draw).
    if groups is None:
        return list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(X, y))
    return list(StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed).split(X, y, groups))


def _class_weights(option, y) -> list:
    """The class weightings to compare: ``"auto"`` -> None, plus ``"balanced"`` on imbalanced classes."""
    if option != "auto":
        return [option]
    counts = np.bincount(y)
    counts = counts[counts > 0]
    return [None, "balanced"] if counts.max() > IMBALANCE_RATIO * counts.min() else [None]


def _inner_macro_f1(model, X, y, splits) -> float:
    """Macro F1 of the inner folds' models at the chosen C, from the coefficient paths the search kept
    (no refit): each fold's model predicts that fold's held-out rows."""
    scores, coefs = _search_paths(model)
    best = int(np.argmax(scores.mean(axis=0)))
    predicted = np.empty_like(y)
    for k, (_, valid) in enumerate(splits):
        coef = coefs[k, best].reshape(-1, X.shape[1] + 1)  # (classes, or 1 for two classes; features + intercept)
        decision = X[valid] @ coef[:, :-1].T + coef[:, -1]
        predicted[valid] = (decision[:, 0] > 0) if coef.shape[0] == 1 else np.argmax(decision, axis=1)
    held_out = np.concatenate([valid for _, valid in splits])
    return float(f1_score(y[held_out], predicted[held_out], average="macro"))


def _search_paths(model) -> tuple[np.ndarray, np.ndarray]:
    """``(scores (folds, Cs), coefficients (folds, Cs, ...))`` of a fitted LogisticRegressionCV, in either
    attribute layout: >= 1.8 without legacy attributes holds arrays with an l1-ratio axis; older releases
    a dict per class whose entries are all the same for the multinomial (and the only one for two classes)."""
    scores, coefs = model.scores_, model.coefs_paths_
    if isinstance(scores, dict):
        return next(iter(scores.values())), next(iter(coefs.values()))
    return scores[:, 0], coefs[:, 0]


@register_blueprint("lr_l2", "Regularized Logistic Regression (L2)", short="LR", default=True)
def lr_l2(random_state: int = 0, n_jobs: int = 1) -> TunedLogisticRegression:
    return TunedLogisticRegression(random_state=random_state, n_jobs=n_jobs)
