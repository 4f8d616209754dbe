"""The fine-tuned image blueprint and its input, the pixels featurizer (tiny timm models on generated images)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pixelboard.errors import PixelboardError
from pixelboard.featurizers import create_featurizer
from pixelboard.featurizers.pixels import PixelFeaturizer, pixels_to_images
from pixelboard.fitted import FittedModel
from pixelboard.models._finetune_loop import augment_batch
from pixelboard.models.finetune import FineTunedCNNClassifier
from pixelboard.models.registry import register_blueprint

TINY = dict(backbone="timm:test_efficientnet", random_weights=True, max_lr=3e-3)


def _corner_images(n: int = 48, side: int = 32, seed: int = 0):
    """Class 0: a dark square in the top-left quarter; class 1: in the bottom-right one."""
    rng = np.random.default_rng(seed)
    images = np.full((n, side, side, 3), 0.9, np.float32)
    y = np.arange(n) % 2
    for i in range(n):
        r, c = rng.integers(2, side // 2 - 8, 2) + (side // 2 if y[i] else 0)
        images[i, r:r + 6, c:c + 6] = 0.0
    return images.reshape(n, -1), y


def test_pixels_featurizer_rows_round_trip_to_images():
    featurizer = create_featurizer("pixels", input_size=32)
    assert featurizer.entry_name() == "pixels32" and featurizer.level_widths() == {"pixels": 3 * 32 * 32}
    assert featurizer.describe()["kind"] == "pixels"
    array = np.zeros((20, 10, 3), np.uint8)
    array[:, :5] = 255  # left half white
    rows = featurizer.transform([Image.fromarray(array)])
    images = pixels_to_images(rows)
    assert images.shape == (1, 3, 32, 32) and rows.dtype == np.float32
    assert images[0, :, :, :12].min() > 0.95 and images[0, :, :, 20:].max() < 0.05
    assert create_featurizer("pixels", input_size=48, resize="pad").entry_name() == "pixels48-pad"


def test_pixels_featurizer_refuses_weights_and_small_sizes():
    with pytest.raises(PixelboardError, match="no weights"):
        create_featurizer("pixels", weights="model.pth")
    with pytest.raises(PixelboardError, match="at least 32"):
        PixelFeaturizer(size=8)


def test_finetuning_learns_a_spatial_task_deterministically():
    X, y = _corner_images()
    model = FineTunedCNNClassifier(epochs=8, random_state=0, **TINY).fit(X, y)
    assert (model.predict(X) == y).mean() >= 0.9
    assert model.epochs_ == 8 and model.input_size_ == 32 and len(model.loss_curve_) == 8
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    again = FineTunedCNNClassifier(epochs=8, random_state=0, **TINY).fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X), again.predict_proba(X))
    other = FineTunedCNNClassifier(epochs=8, random_state=1, **TINY).fit(X, y)
    assert np.abs(other.predict_proba(X) - model.predict_proba(X)).max() > 1e-4


def test_a_saved_fine_tuned_model_predicts_the_same(tmp_path):
    X, y = _corner_images(n=16)
    model = FineTunedCNNClassifier(epochs=1, random_state=0, **TINY).fit(X, np.array(["a", "b"])[y])
    FittedModel("M1", "fine-tuned", ["a", "b"], estimators=[model]).save(tmp_path / "m")
    loaded = FittedModel.load(tmp_path / "m").estimators[0]  # through the trusted-type list
    assert loaded is not model
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-6)
    assert list(loaded.predict(X[:2])) == list(model.predict(X[:2]))


def test_auto_sizing_on_cpu_trains_small_and_briefly():
    X, y = _corner_images(n=8, side=160)
    model = FineTunedCNNClassifier(backbone="timm:test_efficientnet", random_weights=True, epochs="auto",
                                   batch_size=4, random_state=0)
    model.fit(X, y)
    # CPU: at most 112 px; 4 epochs, but at least 60 steps: 2 steps per epoch here -> 30 epochs
    assert (model.input_size_, model.epochs_) == (112, 30)
    assert model.predict_proba(X).shape == (8, 2)


@pytest.mark.parametrize("bad, message", [
    (dict(augment="mixup"), "unknown augment"),
    (dict(backbone="grayscale20"), "not a timm network"),
])
def test_bad_settings_are_one_line_errors(bad, message):
    X, y = _corner_images(n=8)
    with pytest.raises(PixelboardError, match=message):
        FineTunedCNNClassifier(**{**TINY, "epochs": 1, **bad}).fit(X, y)


def test_embedding_rows_are_refused_with_the_fix():
    with pytest.raises(PixelboardError, match="featurize --backbone pixels"):
        FineTunedCNNClassifier(**TINY).fit(np.random.rand(10, 1280).astype(np.float32), np.arange(10) % 2)


def test_dihedral_augmentation_draws_all_eight_views_from_the_seed():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(64, 3, 1, 1)
    out = augment_batch(x, "dihedral", torch.Generator().manual_seed(0))
    again = augment_batch(x, "dihedral", torch.Generator().manual_seed(0))
    assert torch.equal(out, again) and out.shape == x.shape
    assert len({tuple(img[0].flatten().tolist()) for img in out}) > 8  # 8 views x shifts
    plain = augment_batch(x, "none", torch.Generator().manual_seed(0))
    assert (plain[:, :, 1:3, 1:3] != x[:, :, 1:3, 1:3]).any()  # shifted, not turned


# --- the blueprint in a leaderboard: pixels rows, the same partition, blends, deploy, predict, bundles ----------
@register_blueprint("finetune_tiny_test", label="Fine-Tuned tiny test network", short="FT-T", default=False,
                    inputs="pixels")
def _tiny_finetune(random_state: int = 0, n_jobs: int = 1) -> FineTunedCNNClassifier:
    """The registered blueprints fine-tune EfficientNet-Lite0 (real weights: minutes per leaderboard on a shared
    CPU, measured in benchmarks/robustness.py); the leaderboard plumbing is the same for this tiny network."""
    return FineTunedCNNClassifier(epochs=12, random_state=random_state, n_jobs=n_jobs, **TINY)


@pytest.fixture(scope="module")
def finetuned_board(tmp_path_factory):
    """40 generated images (corner squares), featurized as grayscale20 and as 32-px pixels; a comprehensive
    leaderboard of L2 LR and a fine-tuned network, blended."""
    import pandas as pd

    from pixelboard import Project

    root = tmp_path_factory.mktemp("finetune")
    X, y = _corner_images(n=40, side=48, seed=3)
    rows = []
    for i, (row, label) in enumerate(zip(X, y)):
        Image.fromarray((row.reshape(48, 48, 3) * 255).astype(np.uint8)).save(root / f"img{i:02d}.png")
        rows.append({"ID": f"img{i:02d}", "target": ["left", "right"][label]})
    pd.DataFrame(rows).to_csv(root / "train.csv", index=False)
    project = Project(root / "project")
    project.featurize(root, root / "train.csv", backbones=["grayscale20", "pixels"], input_size=32, workers=0,
                      progress=False)
    # mlp: the L2 LR on grayscale20 is the baseline, which joins no average blend (issue 18's rule)
    board = project.leaderboard(blueprints=["lr_l2", "mlp", "finetune_tiny_test"], mode="comprehensive", blenders=["avg"],
                                jobs=1, progress=False)
    return root, project, board


def test_the_fine_tuned_row_is_scored_like_every_row_and_joins_blends(finetuned_board):
    _, project, board = finetuned_board
    fitted = {(r["blueprint"], r["featurizer"]) for r in board.rows if r["kind"] == "model"}
    # Each blueprint only on the rows it fits: the network on pixels, the LR on embeddings.
    assert ("finetune_tiny_test", "pixels32") in fitted and ("lr_l2", "grayscale20") in fitted
    assert ("lr_l2", "pixels32") not in fitted and ("finetune_tiny_test", "grayscale20") not in fitted
    row = next(r for r in board.rows if r["blueprint"] == "finetune_tiny_test")
    scores = row["scores"]["macro_f1"]
    assert scores["cv_mean"] > 0.8 and scores["holdout"] > 0.7  # left vs right corner: learnable from scratch
    blend = next(r for r in board.rows if r["kind"] == "blend")
    assert row["id"] in blend["members"]


def test_a_fine_tuned_model_deploys_predicts_and_travels_as_a_bundle(finetuned_board, tmp_path):
    root, project, board = finetuned_board
    model_id = next(r["id"] for r in board.rows if r["blueprint"] == "finetune_tiny_test")
    project.deploy(model=model_id, jobs=1)
    frame = project.predict(root, root / "train.csv", probabilities=True, progress=False, workers=0)
    assert list(frame.columns) == ["ID", "left", "right"] and len(frame) == 40
    bundle = project.export_model(tmp_path / "ft.pbz", model=model_id)
    from pixelboard import Project

    elsewhere = Project(tmp_path / "empty").predict(root, root / "train.csv", probabilities=True, bundle=bundle,
                                                    progress=False, workers=0)
    np.testing.assert_array_equal(elsewhere[["left", "right"]].to_numpy(), frame[["left", "right"]].to_numpy())
