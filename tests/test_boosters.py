"""The boosters' optional PCA step (``n_components``) and their small-sample inner split."""

from __future__ import annotations

import numpy as np
import pytest

from pixelboard.models import create_blueprint
from pixelboard.models.boosting import inner_split


@pytest.mark.parametrize("name", ["lightgbm", "xgboost", "catboost"])
def test_a_pca_step_projects_the_columns_before_the_booster(name):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    X = (rng.normal(size=(120, 30)) + 3 * np.eye(3)[y] @ rng.normal(size=(3, 30))).astype(np.float32)
    model = create_blueprint(name, random_state=0).set_params(n_components=5).fit(X, y)
    assert model.projection_[-1].n_components_ == 5 and model.n_features_in_ == 30
    assert model.predict_proba(X).shape == (120, 3) and (model.predict(X) == y).mean() > 0.9
    plain = create_blueprint(name, random_state=0).fit(X, y)
    assert plain.projection_ is None  # the default: the booster sees every column
    wide = create_blueprint(name, random_state=0).set_params(n_components=50).fit(X, y)
    assert wide.projection_ is None  # no smaller than the columns: no projection


def test_the_early_stopping_split_of_a_small_grouped_sample_uses_fewer_folds():
    y = np.repeat([0, 1, 2], 5)  # a screening sample: 5 rows per class, fewer than 1 / 0.12 folds
    train, val = inner_split(y, 0.12, seed=0, groups=np.arange(15))
    assert np.unique(y[val]).size == 3 and np.intersect1d(train, val).size == 0
