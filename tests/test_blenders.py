"""Blenders on constructed out-of-fold probability arrays."""

from __future__ import annotations

import numpy as np
import pytest

from pixelboard.errors import PixelboardError
from pixelboard.leaderboard.blenders import (BLENDERS, AverageBlender, Blender, GLMStacker, GreedyEnsemble,
                                             create_blender, cross_validated_blend)
from pixelboard.leaderboard.metrics import get_metric, log_loss, macro_f1

K = 4


def _softmax(z):
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _model(y, strength, rng):
    """Probabilities whose signal on the true class grows with ``strength``."""
    return _softmax(rng.normal(size=(y.size, K)) + strength * np.eye(K)[y])


def _zoo(seed, n=400):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    probas = {f"m{i}": _model(y, s, rng) for i, s in enumerate([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])}
    return probas, y


def test_greedy_prefers_good_over_noisy():
    rng = np.random.default_rng(0)
    y = rng.integers(0, K, 500)
    probas = {"good": _model(y, 3.0, rng), "noisy": _model(y, 0.3, rng)}
    blend = GreedyEnsemble(rounds=25).fit(probas, y)
    assert blend.weights_["good"] > blend.weights_.get("noisy", 0.0)
    assert sum(blend.weights_.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("metric", ["macro_f1", "log_loss", "accuracy"])
def test_greedy_never_worse_than_best_member(seed, metric):
    probas, y = _zoo(seed)
    m = get_metric(metric)
    best = max(m.oriented(m.fn(y, p)) for p in probas.values())
    blend = GreedyEnsemble(metric=metric).fit(probas, y)
    assert m.oriented(m.fn(y, blend.predict_proba(probas))) >= best - 1e-12
    assert blend.predict_proba(probas) == pytest.approx(
        sum(w * probas[k] for k, w in blend.weights_.items()))


@pytest.mark.parametrize("seed", range(3))
def test_other_blends_not_worse_than_best_member_on_fitted_data(seed):
    probas, y = _zoo(seed)
    best = min(log_loss(y, p) for p in probas.values())
    glm = GLMStacker().fit(probas, y)
    assert log_loss(y, glm.predict_proba(probas)) <= best


def test_average_picks_top_k():
    probas, y = _zoo(1)
    blend = AverageBlender(k=3).fit(probas, y)
    assert set(blend.members_) == {"m3", "m4", "m5"}
    assert blend.weights_ == {m: pytest.approx(1 / 3) for m in ("m3", "m4", "m5")}
    assert np.allclose(blend.predict_proba(probas), (probas["m3"] + probas["m4"] + probas["m5"]) / 3)
    assert AverageBlender(k=10).fit(probas, y).members_.__len__() == 6


def test_glm_stacker_beats_random_model():
    probas, y = _zoo(2)
    rng = np.random.default_rng(9)
    y_new = rng.integers(0, K, 300)
    new = {m: _model(y_new, float(m[1]) * 0.5, rng) for m in probas}
    glm = GLMStacker(random_state=0).fit(probas, y)
    out = glm.predict_proba(new)
    assert out.shape == (300, K) and np.allclose(out.sum(axis=1), 1)
    assert macro_f1(y_new, out) > macro_f1(y_new, new["m0"]) + 0.2
    assert set(glm.weights_) == set(glm.members_) and sum(glm.weights_.values()) == pytest.approx(1)
    assert glm.C_ in (0.03, 0.3, 3.0)
    assert GLMStacker(max_members=2).fit(probas, y).members_ == ["m5", "m4"]


def test_glm_fills_class_missing_from_fit():
    probas, y = _zoo(3)
    keep = y != 3
    glm = GLMStacker(C=1.0).fit({m: p[keep] for m, p in probas.items()}, y[keep])
    out = glm.predict_proba(probas)
    assert out.shape == (y.size, K) and np.all(out[:, 3] == 0)


class _Spy(Blender):
    """Records the rows it is fitted on (probabilities encode the row index in column 0)."""

    seen: list[set[int]] = []

    def fit(self, probas, y):
        self.seen.append(set(np.rint(probas["rowid"][:, 0] * 1e6).astype(int).tolist()))
        self.members_, self.weights_ = ["rowid"], {"rowid": 1.0}
        return self


def test_cross_validated_blend_never_fits_on_scored_fold():
    n = 60
    fold = np.repeat([0, 1, 2, -1, -2], 12)
    oof = {"rowid": np.column_stack([np.arange(n) / 1e6, 1 - np.arange(n) / 1e6])}
    _Spy.seen = []
    out = cross_validated_blend(_Spy, oof, np.zeros(n, dtype=int), fold)
    assert len(_Spy.seen) == 3
    for f, rows in enumerate(_Spy.seen):
        assert rows == set(np.flatnonzero((fold >= 0) & (fold != f)).tolist())
    assert np.isnan(out[fold < 0]).all() and np.isfinite(out[fold >= 0]).all()


def test_cross_validated_blend_detects_no_leak():
    # Model "leak" is perfect on fold 0 and anti-perfect elsewhere, "ok" is decent everywhere: a blender
    # fitted without fold 0 must choose "ok", so fold 0 is blended from "ok", not from the leak.
    rng = np.random.default_rng(0)
    y = rng.integers(0, K, 300)
    fold = np.arange(300) % 3
    wrong = np.eye(K)[(y + 1) % K] * 0.97 + 0.01
    leak = np.where((fold == 0)[:, None], np.eye(K)[y] * 0.97 + 0.01, wrong)
    oof = {"leak": leak, "ok": _model(y, 1.5, rng)}
    out = cross_validated_blend(lambda: AverageBlender(k=1), oof, y, fold)
    assert np.allclose(out[fold == 0], oof["ok"][fold == 0])


@pytest.mark.parametrize("name", sorted(BLENDERS))
def test_registry_and_determinism(name):
    probas, y = _zoo(4)
    shuffled = {m: probas[m] for m in reversed(list(probas))}  # dict order must not matter
    a = create_blender(name).fit(probas, y)
    b = create_blender(name).fit(shuffled, y)
    assert a.members_ == b.members_ and a.weights_ == pytest.approx(b.weights_)
    assert np.array_equal(a.predict_proba(probas), b.predict_proba(shuffled))
    fold = np.arange(y.size) % 5
    assert np.array_equal(cross_validated_blend(lambda: create_blender(name), probas, y, fold),
                          cross_validated_blend(lambda: create_blender(name), shuffled, y, fold))


def test_registry_labels_and_errors():
    assert {n: s.label for n, s in BLENDERS.items()} == {
        "avg": "Average Blender", "glm": "GLM Blender", "greedy": "Greedy (Caruana) Blender"}
    assert isinstance(create_blender("avg", k=2), AverageBlender)
    with pytest.raises(PixelboardError, match="unknown blender 'mean'.*avg, glm, greedy"):
        create_blender("mean")
    probas, y = _zoo(0)
    blend = create_blender("greedy").fit(probas, y)
    with pytest.raises(PixelboardError, match="model 'm5'"):
        blend.predict_proba({"m0": probas["m0"]})
