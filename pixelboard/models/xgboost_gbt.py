"""XGBoost blueprint: depth-wise histogram boosting with 30% column sampling."""

from __future__ import annotations

import xgboost

from pixelboard.models.boosting import EarlyStoppingBoostingClassifier
from pixelboard.models.registry import register_blueprint


class XGBoostClassifier(EarlyStoppingBoostingClassifier):
    """``xgboost.XGBClassifier`` (``tree_method='hist'``) with early stopping on an inner split.

    ``max_bin=16`` for the same reason as LightGBM: fewer histogram bins, faster fits on wide
    embeddings. Measured on 2,000 Fashion-MNIST images x 1,752 EfficientNet-Lite0 columns, 5 folds
    (benchmarks/boosters.py): 0.59x the CPU time of the former 64 bins, CV macro F1 0.853 vs 0.850,
    holdout 0.891 vs 0.886. 10% column sampling on top cost 0.0006 of holdout F1 and a PCA step lost
    0.4-0.9 points of CV F1: neither was kept. After early stopping XGBoost predicts with the best
    iteration.
    """

    def __init__(self, n_estimators=500, learning_rate=0.1, max_depth=6, min_child_weight=1.0,
                 colsample_bytree=0.3, subsample=0.8, reg_lambda=1.0, max_bin=16, n_components=None,
                 early_stopping_rounds=30, validation_fraction=0.12, n_jobs=1, random_state=None):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.colsample_bytree = colsample_bytree
        self.subsample = subsample
        self.reg_lambda = reg_lambda
        self.max_bin = max_bin
        self.n_components = n_components
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _make_booster(self, seed, n_classes, threads, early_stopping):
        return xgboost.XGBClassifier(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            max_depth=self.max_depth, min_child_weight=self.min_child_weight,
            colsample_bytree=self.colsample_bytree, subsample=self.subsample,
            reg_lambda=self.reg_lambda, max_bin=self.max_bin, tree_method="hist",
            eval_metric="logloss" if n_classes == 2 else "mlogloss",
            early_stopping_rounds=self.early_stopping_rounds if early_stopping else None,
            n_jobs=threads, random_state=seed, verbosity=0,
        )

    def _fit_booster(self, booster, X, y, eval_set):
        if eval_set is None:
            booster.fit(X, y, verbose=False)
        else:
            booster.fit(X, y, eval_set=[eval_set], verbose=False)

    def _n_rounds(self, booster):
        if hasattr(booster, "best_iteration"):  # only set after early stopping
            return booster.best_iteration + 1
        return booster.get_booster().num_boosted_rounds()


@register_blueprint("xgboost", "eXtreme Gradient Boosted Trees", short="XGB", default=True)
def xgboost_gbt(random_state: int = 0, n_jobs: int = 1) -> XGBoostClassifier:
    return XGBoostClassifier(random_state=random_state, n_jobs=n_jobs)
