"""The scans' HNSW index (insights/neighbours.py) against exact search, on sets made large by lowering the size."""

from __future__ import annotations

import importlib.util
import logging

import numpy as np
import pytest

from pixelboard.insights import data_quality, neighbours

pytestmark = pytest.mark.skipif(importlib.util.find_spec("hnswlib") is None,
                                reason="the HNSW index needs hnswlib (the report extra): not installed")


def _clustered(n=600, d=24, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(12, d))
    return (centres[rng.integers(0, 12, n)] + 0.6 * rng.normal(size=(n, d))).astype(np.float32)


def _exact_and_indexed(monkeypatch, scan):
    exact = scan()
    monkeypatch.setattr(neighbours, "EXACT_UP_TO", 100)
    return exact, scan()


def test_near_duplicates_from_the_index_are_those_of_exact_search(monkeypatch):
    X = _clustered()
    X[[5, 77, 300]] = X[[4, 76, 299]] + 1e-4  # planted pairs
    X[400] = X[401] = X[402] = X[10]  # a group of four identical images
    ids = [f"img{i}" for i in range(len(X))]
    exact, indexed = _exact_and_indexed(monkeypatch, lambda: data_quality.near_duplicates(X, ids, threshold=0.99))
    assert len(exact) >= 3 + 6
    # The same pairs at the same similarities (their order among near-ties may differ in the last float bit).
    assert {(d.a, d.b): round(d.similarity, 4) for d in indexed} == {(d.a, d.b): round(d.similarity, 4) for d in exact}


def test_cross_set_duplicates_from_the_index(monkeypatch):
    X, other = _clustered(seed=1), _clustered(seed=2)
    other[[3, 9]] = X[[30, 90]]
    ids, ids_other = [f"a{i}" for i in range(len(X))], [f"b{i}" for i in range(len(other))]
    scan = lambda: data_quality.near_duplicates(X, ids, X_other=other, ids_other=ids_other, threshold=0.99)  # noqa: E731
    exact, indexed = _exact_and_indexed(monkeypatch, scan)
    assert sorted((d.a, d.b, d.within) for d in indexed) == sorted((d.a, d.b, d.within) for d in exact) == [
        ("a30", "b3", "train-test"), ("a90", "b9", "train-test")]


def test_outliers_from_the_index_are_those_of_exact_search(monkeypatch):
    X = _clustered()
    rng = np.random.default_rng(5)
    X[[7, 70, 170]] = 6 * rng.normal(size=(3, X.shape[1]))  # far from every cluster
    ids = [f"img{i}" for i in range(len(X))]
    exact, indexed = _exact_and_indexed(monkeypatch, lambda: data_quality.outliers(X, ids, top=10))
    assert {o.image_id for o in exact[:3]} == {"img7", "img70", "img170"}
    assert [o.image_id for o in indexed] == [o.image_id for o in exact]
    # Approximate: a missed neighbour moves a score a little (here at most 2e-4), never the ranking's head.
    np.testing.assert_allclose([o.score for o in indexed], [o.score for o in exact], atol=1e-3)


def test_the_index_is_reproducible_and_leaves_each_row_out():
    A = _clustered(n=300)
    A /= np.linalg.norm(A, axis=1, keepdims=True)
    first = neighbours.nearest(A, A, 5, same=True)
    second = neighbours.nearest(A, A, 5, same=True)
    np.testing.assert_array_equal(first[1], second[1])
    assert not (first[1] == np.arange(len(A))[:, None]).any()
    assert first[1].shape == (300, 5) and (np.diff(first[0], axis=1) <= 1e-6).all()  # most similar first


def test_without_hnswlib_large_sets_are_searched_exactly_and_it_says_so(monkeypatch, caplog):
    monkeypatch.setattr(neighbours, "EXACT_UP_TO", 100)
    monkeypatch.setattr(neighbours, "_hnswlib", lambda: None)
    X = _clustered()
    with caplog.at_level(logging.INFO, logger=neighbours.__name__):
        found = data_quality.outliers(X, [str(i) for i in range(len(X))], top=3)
    assert len(found) == 3 and "600 rows searched exactly: pip install hnswlib" in caplog.text
