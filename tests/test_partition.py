"""Shared holdout + CV partition: stratification, groups, unscored copies, persistence, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pixelboard.errors import PixelboardError
from pixelboard.leaderboard.partition import (HOLDOUT, TRAIN_ONLY, UNUSED, Partition, labels_fingerprint,
                                              make_partition)


def _labels(n_per_class=(120, 80, 40, 200), seed=0):
    y = np.concatenate([np.full(n, f"class{i}") for i, n in enumerate(n_per_class)])
    return np.random.default_rng(seed).permutation(y)


def _check_disjoint_cover(part: Partition) -> None:
    for train, valid in part.folds:
        assert np.intersect1d(train, valid).size == 0
        assert np.intersect1d(train, part.holdout).size == 0
        assert np.intersect1d(valid, part.holdout).size == 0
        for idx in (train, valid, part.holdout):
            assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)
    valids = np.concatenate([v for _, v in part.folds])
    assert np.unique(valids).size == valids.size  # each row validated at most once


def test_sizes_close_to_fraction_and_every_row_placed():
    y = _labels()
    part = make_partition(y, holdout_fraction=0.2, n_folds=5, seed=3)
    n = y.size
    assert abs(part.holdout.size - 0.2 * n) <= 4
    cv = n - part.holdout.size
    for train, valid in part.folds:
        assert abs(valid.size - cv / 5) <= 4
        assert train.size + valid.size == cv
    _check_disjoint_cover(part)
    assert set(np.unique(part.fold_of())) == {HOLDOUT, 0, 1, 2, 3, 4}


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_other_fractions(fraction):
    y = _labels((300, 300, 150))
    part = make_partition(y, holdout_fraction=fraction, n_folds=3)
    assert abs(part.holdout.size - fraction * y.size) <= 3


def test_stratified_class_proportions():
    y = _labels()
    part = make_partition(y, seed=1)
    overall = {c: np.mean(y == c) for c in np.unique(y)}
    for rows in [part.holdout] + [v for _, v in part.folds] + [t for t, _ in part.folds]:
        for c, p in overall.items():
            assert abs(np.mean(y[rows] == c) - p) < 0.02


def test_no_holdout():
    y = _labels((30, 30))
    part = make_partition(y, holdout_fraction=0.0, n_folds=5)
    assert part.holdout.size == 0
    assert np.all(part.fold_of() >= 0)
    assert sorted(np.concatenate([v for _, v in part.folds]).tolist()) == list(range(y.size))


def test_groups_never_straddle():
    rng = np.random.default_rng(0)
    group_sizes = rng.integers(1, 6, size=300)
    groups = np.repeat(np.arange(300), group_sizes)
    y = np.repeat(rng.choice(["cat", "dog", "owl"], size=300), group_sizes)
    part = make_partition(y, groups=groups, seed=2)
    fold_of = part.fold_of()
    for g in range(300):
        assert np.unique(fold_of[groups == g]).size == 1  # whole group in one fold or in the holdout
    for train, valid in part.folds:
        assert np.intersect1d(groups[train], groups[valid]).size == 0
        assert np.intersect1d(groups[train], groups[part.holdout]).size == 0
    _check_disjoint_cover(part)


def _documents(n_docs=40, with_appendix=10, seed=0):
    """Pages of documents: one cover page each, 4-9 body pages, and 2 appendix pages in a few. The cover
    and the appendix are never a document's most common page type."""
    rng = np.random.default_rng(seed)
    y, groups = [], []
    for d in range(n_docs):
        pages = ["cover"] + ["body"] * int(rng.integers(4, 10)) + (["appendix"] * 2 if d < with_appendix else [])
        y += pages
        groups += [f"doc{d}"] * len(pages)
    return np.array(y), np.array(groups)


def test_groups_holding_several_classes_are_spread_by_their_rarest_class():
    y, groups = _documents()
    part = make_partition(y, groups=groups, seed=3)
    fold_of = part.fold_of()
    for g in np.unique(groups):
        assert np.unique(fold_of[groups == g]).size == 1
    for rows in [part.holdout] + [valid for _, valid in part.folds]:
        assert set(y[rows]) == {"cover", "body", "appendix"}  # every part sees every class
    appendix_docs_per_part = [np.unique(groups[rows][y[rows] == "appendix"]).size
                              for rows in [part.holdout] + [valid for _, valid in part.folds]]
    assert sorted(appendix_docs_per_part) == [1, 1, 2, 2, 2, 2]  # the 10 rare documents, spread evenly
    cover_per_fold = [int((y[valid] == "cover").sum()) for _, valid in part.folds]
    assert max(cover_per_fold) - min(cover_per_fold) <= 1
    _check_disjoint_cover(part)


def test_a_class_its_groups_cannot_spread_is_one_line():
    """'b' is held by 6 groups, enough for a holdout and 5 folds, but 5 of them also hold the rarer 'a'
    and go where 'a' needs them: when the holdout draws the one group with 'a' alone, it gets no 'b'."""
    groups = [f"ab{i}" for i in range(5) for _ in range(2)] + ["a_only", "b_only"] + [f"c{i}" for i in range(20)]
    y = ["a", "b"] * 5 + ["a", "b"] + ["c"] * 20
    outcomes = {}
    for seed in range(12):
        try:
            part = make_partition(y, groups=groups, seed=seed)
            outcomes["spread"] = all("b" in {y[r] for r in rows} for rows in [part.holdout] +
                                     [valid for _, valid in part.folds])
        except PixelboardError as exc:
            outcomes["refused"] = str(exc)
    assert outcomes["spread"] is True
    assert outcomes["refused"].startswith("class 'b' is held by 6 groups, but they could not be spread so that "
                                          "the holdout has one")


def test_unscored_copies_train_only_and_never_scored():
    n_orig, copies = 200, 3
    rng = np.random.default_rng(1)
    y_orig = rng.choice(["a", "b", "c", "d"], size=n_orig)
    y = np.repeat(y_orig, copies + 1)
    groups = np.repeat(np.arange(n_orig), copies + 1)
    scored = np.tile([True] + [False] * copies, n_orig)
    part = make_partition(y, groups=groups, scored=scored, seed=5)
    fold_of = part.fold_of()
    assert scored[part.holdout].all()
    for f, (train, valid) in enumerate(part.folds):
        assert scored[valid].all()
        # copies of this fold's training originals train here; copies of validated originals do not
        train_groups = np.unique(groups[train])
        copies_in_train = train[~scored[train]]
        assert np.isin(groups[copies_in_train], train_groups).all()
        assert not np.isin(groups[copies_in_train], groups[valid]).any()
        assert not np.isin(groups[train], groups[part.holdout]).any()
        expected = np.flatnonzero(~scored & np.isin(groups, train_groups))
        assert np.array_equal(copies_in_train, expected)
    assert set(np.unique(fold_of[~scored])) == {TRAIN_ONLY, UNUSED}
    holdout_groups = np.unique(groups[part.holdout])
    assert np.array_equal(np.flatnonzero(fold_of == UNUSED), np.flatnonzero(~scored & np.isin(groups, holdout_groups)))
    assert np.array_equal(part.cv_rows(), np.flatnonzero(~np.isin(groups, holdout_groups)))


def test_seed_determinism():
    y = _labels()
    a, b, c = (make_partition(y, seed=s) for s in (7, 7, 8))
    assert np.array_equal(a.fold_of(), b.fold_of())
    assert not np.array_equal(a.fold_of(), c.fold_of())


def test_any_hashable_labels():
    y = [3] * 10 + ["three"] * 10 + [(1, 2)] * 10
    part = make_partition(y, n_folds=3, holdout_fraction=0.2)
    assert part.holdout.size == 6


def test_save_load_round_trip(tmp_path):
    y = _labels()
    groups = np.empty(y.size, dtype=np.int64)
    groups[np.argsort(y, kind="stable")] = np.arange(y.size) // 2  # same-label pairs
    part = make_partition(y, groups=groups, scored=np.arange(y.size) % 3 > 0, seed=4)
    part.save(tmp_path)
    meta = json.loads((tmp_path / "partition.json").read_text())
    assert meta["seed"] == 4 and meta["n_folds"] == 5 and meta["labels_fingerprint"] == labels_fingerprint(y)
    loaded = Partition.load(tmp_path, y=y)
    assert np.array_equal(loaded.holdout, part.holdout)
    for (t1, v1), (t2, v2) in zip(loaded.folds, part.folds):
        assert np.array_equal(t1, t2) and np.array_equal(v1, v2)
    assert (loaded.n_rows, loaded.seed, loaded.holdout_fraction) == (part.n_rows, 4, 0.2)
    assert np.array_equal(loaded.fold_of(), part.fold_of())
    assert not list(tmp_path.glob("*.tmp"))


def test_label_fingerprint_mismatch(tmp_path):
    y = _labels()
    make_partition(y).save(tmp_path)
    changed = y.copy()
    changed[0] = "class3" if y[0] != "class3" else "class0"
    with pytest.raises(PixelboardError, match="labels changed"):
        Partition.load(tmp_path, y=changed)
    with pytest.raises(PixelboardError, match=f"made for {y.size} images but there are now {y.size - 1}"):
        Partition.load(tmp_path).check_matches(y[:-1])
    with pytest.raises(PixelboardError, match="missing"):
        Partition.load(tmp_path / "nowhere")


def test_too_small_class_names_class_and_count():
    y = ["invoice"] * 3 + ["letter"] * 40 + ["memo"] * 5
    with pytest.raises(PixelboardError) as err:
        make_partition(y, n_folds=5, holdout_fraction=0.2)
    msg = str(err.value)
    assert "'invoice' has 3 images" in msg and "at least 6" in msg and "'memo' (5)" in msg
    make_partition(["invoice"] * 6 + ["letter"] * 40)  # exactly the minimum works
    make_partition(["invoice"] * 5 + ["letter"] * 40, holdout_fraction=0)  # no holdout: n_folds suffice


def test_too_small_counts_groups_not_rows():
    y = ["a"] * 12 + ["b"] * 40
    groups = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2] + list(range(3, 43))
    with pytest.raises(PixelboardError, match="'a' has 3 groups"):
        make_partition(y, groups=groups)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"n_folds": 1}, "n_folds"),
    ({"holdout_fraction": 0.6}, "holdout fraction"),
    ({"holdout_fraction": -0.1}, "holdout fraction"),
    ({"groups": [1, 2, 3]}, "groups has 3 entries"),
    ({"scored": [True]}, "scored has 1 entries"),
])
def test_argument_errors(kwargs, pattern):
    with pytest.raises(PixelboardError, match=pattern):
        make_partition(_labels(), **kwargs)


def test_missing_label_and_single_class():
    with pytest.raises(PixelboardError, match="row 2 is missing"):
        make_partition(["a", "b", None, "a"])
    with pytest.raises(PixelboardError, match="at least 2 classes"):
        make_partition(["a"] * 20)
