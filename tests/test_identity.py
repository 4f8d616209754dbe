"""One identity for every row: groups (user groups + exact duplicates + augmented copies) in every
split, inner ones included; row keys that cannot lie; per-image augmentation seeds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import write_embedding_project
from PIL import Image

from pixelboard.errors import PixelboardError
from pixelboard.featurizers.augment import apply_tag
from pixelboard.leaderboard.identity import groups_fingerprint, identity_groups
from pixelboard.leaderboard.partition import Partition
from pixelboard.leaderboard.runner import LeaderboardOptions, run_leaderboard
from pixelboard.models import registry
from pixelboard.models.boosting import inner_split
from pixelboard.models.logistic import TunedLogisticRegression, _inner_folds
from pixelboard.project import Project

FAST = ["majority", "lr_l2"]


def run(root, **overrides):
    options = LeaderboardOptions(blueprints=overrides.pop("blueprints", FAST), progress=False, **overrides)
    return run_leaderboard(Project(root), options)


def test_identity_groups_join_duplicates_and_user_groups_transitively():
    content = ["a", "b", "a", "c", "d", "e"]
    user = ["g1", "g2", "g3", "g2", "g3", "g4"]
    groups = identity_groups(content, user)
    # 0~2 (same bytes), 2~4 (user g3), 1~3 (user g2); 5 alone
    assert groups[0] == groups[2] == groups[4]
    assert groups[1] == groups[3]
    assert len({groups[0], groups[1], groups[5]}) == 3
    assert list(identity_groups(["x", "y", "z"])) == [0, 1, 2]
    assert groups_fingerprint(np.array([5, 5, 9])) == groups_fingerprint(np.array([0, 0, 1]))


def test_exact_duplicates_never_straddle_any_split(tmp_path):
    n = 60  # 3 classes x 20 (label i % 3); image i + 3 of every 6 duplicates image i (same bytes, same class)
    content = [f"c{i - 3 if (i // 3) % 2 else i}" for i in range(n)]
    root = write_embedding_project(tmp_path / "p", content=content, augment_copies=1)
    result = run(root)
    partition = Partition.load(result.directory / "partition")
    fold_of = partition.fold_of()
    pairs = [(i - 3, i) for i in range(n) if (i // 3) % 2]
    assert all(fold_of[a] == fold_of[b] for a, b in pairs)
    config = json.loads((result.directory / "config.json").read_text())
    assert config["images_sharing_a_group"] == 2 * len(pairs)


def test_groups_reach_the_inner_splits_of_every_fold(tmp_path, monkeypatch):
    """fit_fold hands each estimator the group of every training row (copies share their source's)."""
    seen = []

    class Spy(TunedLogisticRegression):
        def fit(self, X, y, groups=None):
            seen.append(np.asarray(groups))
            return super().fit(X, y, groups=groups)

    spec = registry.BlueprintSpec("spy", "Spy", lambda random_state=0, n_jobs=1: Spy(random_state=random_state),
                                  default=False, short="SPY")
    monkeypatch.setitem(registry._REGISTRY, "spy", spec)
    content = [f"c{i - 3 if (i // 3) % 2 else i}" for i in range(60)]  # pairs of duplicates, same class
    root = write_embedding_project(tmp_path / "p", content=content, augment_copies=1, featurizers=("fake_a",))
    run(root, blueprints=["spy"], blenders=[])
    assert len(seen) == 5
    for groups in seen:
        assert groups.shape[0] % 2 == 0  # originals and their copies, pairs kept whole
        _, counts = np.unique(groups, return_counts=True)
        assert (counts == 4).all()  # 2 duplicates x (original + 1 copy) per group


def test_inner_splits_keep_groups_on_one_side():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    groups = np.repeat(np.arange(30), 4)  # four rows (an image and its copies) per group
    X = rng.normal(size=(120, 5))
    for train, valid in _inner_folds(3, 0, X, y, groups):
        assert not set(groups[train]) & set(groups[valid])
    train, valid = inner_split(y, 0.2, 0, groups)
    assert not set(groups[train]) & set(groups[valid]) and set(y[valid]) == {0, 1, 2}


def test_changed_blueprint_defaults_refit_the_row(tmp_path, monkeypatch):
    root = write_embedding_project(tmp_path / "p")
    run(root)
    assert run(root).n_fitted == 0
    original = registry._REGISTRY["lr_l2"]
    changed = registry.BlueprintSpec("lr_l2", original.label,
                                     lambda random_state=0, n_jobs=1: TunedLogisticRegression(
                                         max_folds=2, random_state=random_state, n_jobs=n_jobs),
                                     default=True, short="LR")
    monkeypatch.setitem(registry._REGISTRY, "lr_l2", changed)
    assert run(root).n_fitted == 2  # lr_l2 on both featurizers, not the majority rows


def test_replaced_embeddings_refit_the_rows_of_that_featurizer(tmp_path):
    root = write_embedding_project(tmp_path / "p")
    run(root)
    project = Project(root)
    embeddings = project.load_embeddings("train", "fake_a")
    project.save_embeddings("train", "fake_a", np.asarray(embeddings.matrix) * 1.01, embeddings.sidecar)
    assert run(root).n_fitted == 2  # majority + lr_l2 on fake_a


def test_new_user_groups_refuse_the_saved_partition(tmp_path):
    root = write_embedding_project(tmp_path / "p")
    run(root)
    manifest = root / "datasets" / "train.json"
    data = json.loads(manifest.read_text())
    data["groups"] = [str(i // 6 * 3 + i % 3) for i in range(len(data["ids"]))]  # pairs of one class
    manifest.write_text(json.dumps(data))
    with pytest.raises(PixelboardError, match="groups changed"):
        run(root)
    assert run(root, run="grouped").n_fitted > 0


def test_unknown_blender_fails_before_any_fit(tmp_path):
    root = write_embedding_project(tmp_path / "p")
    with pytest.raises(PixelboardError, match="unknown blender 'nope'"):
        run(root, blenders=["avg", "nope"])
    assert not (root / "runs" / "leaderboard" / "models").exists()


def test_class_errors_name_the_users_labels(tmp_path):
    root = write_embedding_project(tmp_path / "p")
    manifest = root / "datasets" / "train.json"
    data = json.loads(manifest.read_text())
    data["labels"][:3] = [99, 99, 99]  # class 99 has 3 images: fewer than 1 holdout + 5 folds
    manifest.write_text(json.dumps(data))
    with pytest.raises(PixelboardError, match="class 99 has 3 images"):
        run(root)


def _residual(img, tag, key):
    return np.asarray(apply_tag(img, tag, 0, key), dtype=np.int16) - np.asarray(img, dtype=np.int16)


def test_random_augmentation_is_drawn_per_image_and_reproducible():
    img = Image.new("RGB", (32, 32), (128, 128, 128))
    a, b = _residual(img, "noise#0", "key-a"), _residual(img, "noise#0", "key-b")
    assert not np.array_equal(a, b)  # same size, other image: another noise field
    np.testing.assert_array_equal(a, _residual(img, "noise#0", "key-a"))
    assert not np.array_equal(a, _residual(img, "noise#1", "key-a"))  # another copy of the same image
