"""Featurizers: the registry contract, preprocessing from timm's config, levels and fingerprints.
Where the weights come from is tested in test_weights.py.

Unit tests use random weights (``random_weights=True``, seeded: two random featurizers are identical)
and small generated images; one test runs the real bundled ImageNet weights.
"""

from __future__ import annotations


import numpy as np
import pytest
import timm
import torch
from PIL import Image

from conftest import SAMPLE_IMAGES, normalised, random_featurizer, uint8_batch
from pixelboard.errors import PixelboardError
from pixelboard.featurizers import CNN_LEVELS, create_featurizer, get_featurizer_entry, list_featurizers
from pixelboard.featurizers.base import Preprocessor

ALL = list_featurizers()
# The timm networks: not the pixel featurizers (grayscale20 baseline, the pixels input of fine-tuning).
TIMM = [name for name in ALL if get_featurizer_entry(name).timm_name]


@pytest.fixture(scope="module")
def full_embeddings():
    """name -> (featurizer with every level, its embeddings of SAMPLE_IMAGES): computed once per module."""
    found = {}
    for name in ALL:
        featurizer = random_featurizer(name)
        found[name] = (featurizer, featurizer.transform(SAMPLE_IMAGES))
    return found


# --- the registry contract --------------------------------------------------------------------------------
def test_registry_names_the_documented_backbones():
    assert {"efficientnet_lite0", "mobilenetv3", "mobilenetv3_small", "efficientnet_b0", "grayscale20"} <= set(ALL)
    with pytest.raises(PixelboardError, match="unknown backbone 'resnet9000'.*efficientnet_lite0"):
        create_featurizer("resnet9000")


@pytest.mark.parametrize("name", ALL)
def test_featurizer_contract(full_embeddings, name):
    featurizer, embeddings = full_embeddings[name]
    assert embeddings.shape == (len(SAMPLE_IMAGES), featurizer.n_features)
    assert embeddings.dtype == np.float32
    assert np.isfinite(embeddings).all()
    assert not np.allclose(embeddings[0], embeddings[1])  # different images, different rows
    slices = featurizer.level_slices()
    assert list(slices) == list(featurizer.levels) == list(featurizer.level_widths())
    bounds = [b for lv in slices for b in slices[lv]]
    assert bounds[0] == 0 and bounds[-1] == featurizer.n_features
    assert all(end > start for start, end in slices.values())
    assert all(slices[a][1] == slices[b][0] for a, b in zip(list(slices), list(slices)[1:]))  # contiguous
    assert len(featurizer.fingerprint()) == 16 and featurizer.fingerprint() == random_featurizer(name).fingerprint()
    assert featurizer.transform([]).shape == (0, featurizer.n_features)


@pytest.mark.parametrize("name", TIMM)
def test_timm_featurizers_have_the_four_cnn_levels(full_embeddings, name):
    featurizer, _ = full_embeddings[name]
    assert featurizer.levels == CNN_LEVELS
    widths = featurizer.level_widths()
    classifier = featurizer.model.get_classifier()  # DINOv2 ships without one: its input is num_features
    assert widths["highest"] == getattr(classifier, "in_features", featurizer.model.num_features)


@pytest.mark.parametrize("name", TIMM)
@pytest.mark.parametrize("levels", [("medium",), ("highest", "low")])
def test_level_subset_equals_the_matching_columns_of_the_full_embedding(full_embeddings, name, levels):
    full_featurizer, full = full_embeddings[name]
    subset = random_featurizer(name, levels=list(levels))
    assert subset.levels == tuple(lv for lv in CNN_LEVELS if lv in levels)  # canonical order
    columns = np.concatenate([np.arange(*full_featurizer.level_slices()[lv]) for lv in subset.levels])
    np.testing.assert_allclose(subset.transform(SAMPLE_IMAGES), full[:, columns], rtol=1e-5, atol=1e-5)


def test_levels_are_pooled_stride_8_16_32_maps_and_the_pre_logits(full_embeddings):
    """Checked against timm's own ``features_only`` model and ``forward_head``, not against embed's code path."""
    featurizer, embeddings = full_embeddings["mobilenetv3_small"]
    x = normalised(featurizer, uint8_batch(featurizer))
    features = timm.create_model("mobilenetv3_small_100", features_only=True, out_indices=(2, 3, 4))
    assert features.feature_info.reduction() == [8, 16, 32]
    features.load_state_dict(featurizer.model.state_dict(), strict=False)
    with torch.no_grad():
        pooled = [fmap.mean(dim=(2, 3)) for fmap in features.eval()(x)]
        model = featurizer.model
        pooled.append(model.forward_head(model.forward_features(x), pre_logits=True))
    expected = torch.cat(pooled, dim=1).numpy()
    np.testing.assert_allclose(embeddings, expected, rtol=1e-4, atol=1e-4)


def test_unknown_level_and_resize_mode_are_one_line_errors():
    with pytest.raises(PixelboardError, match="unknown level.*ultra"):
        random_featurizer("mobilenetv3_small", levels=["low", "ultra"])
    with pytest.raises(PixelboardError, match="unknown resize mode 'zoom'"):
        random_featurizer("mobilenetv3_small", resize="zoom")
    with pytest.raises(PixelboardError, match="drop --levels"):
        random_featurizer("grayscale20", levels=["low"])


# --- preprocessing ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", TIMM)
def test_preprocessing_comes_from_timm_data_config(full_embeddings, name):
    featurizer, _ = full_embeddings[name]
    config = timm.data.resolve_model_data_config(featurizer.model)
    pre = featurizer.preprocessor
    assert (3, pre.height, pre.width) == tuple(config["input_size"])
    assert pre.interpolation == config["interpolation"]
    assert pre.crop_pct == pytest.approx(config["crop_pct"])
    description = featurizer.describe()
    assert description["mean"] == pytest.approx(list(config["mean"]))
    assert description["std"] == pytest.approx(list(config["std"]))
    assert pre.fill == tuple(round(255 * m) for m in config["mean"])  # pad with the mean: zero after normalising


def test_embed_normalises_with_the_model_mean_and_std(full_embeddings):
    featurizer, embeddings = full_embeddings["efficientnet_b0"]  # ImageNet mean/std, not 0.5
    model = featurizer.model
    with torch.no_grad():
        x = normalised(featurizer, uint8_batch(featurizer))
        expected = model.forward_head(model.forward_features(x), pre_logits=True).numpy()
    highest = slice(*featurizer.level_slices()["highest"])
    np.testing.assert_allclose(embeddings[:, highest], expected, rtol=1e-4, atol=1e-4)


def test_resize_squash_stretches_the_whole_image():
    img = Image.new("RGB", (100, 50), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 50, 50))  # left half red
    out = Preprocessor(height=20, width=30, resize="squash", interpolation="nearest")(img)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    assert tuple(out[10, 5]) == (255, 0, 0) and tuple(out[10, 25]) == (0, 0, 255)
    assert tuple(out[0, 0]) == (255, 0, 0)  # nothing cut off


def test_resize_pad_keeps_the_aspect_ratio_and_fills():
    img = Image.new("RGB", (100, 50), (0, 0, 255))
    out = Preprocessor(height=40, width=40, resize="pad", interpolation="nearest", fill=(7, 8, 9))(img)
    assert out.shape == (40, 40, 3)
    assert tuple(out[0, 20]) == (7, 8, 9) and tuple(out[39, 20]) == (7, 8, 9)  # bands above and below
    assert tuple(out[20, 0]) == (0, 0, 255) and tuple(out[20, 39]) == (0, 0, 255)  # full width
    blue_rows = np.flatnonzero((out[:, 20] == (0, 0, 255)).all(axis=1))
    assert blue_rows.min() == 10 and blue_rows.max() == 29  # 40x20, centred


def test_resize_crop_is_timms_centre_crop():
    img = Image.new("RGB", (200, 100), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 20, 100))  # a red strip at the left edge is cropped away
    pre = Preprocessor(height=28, width=28, resize="crop", interpolation="nearest", crop_pct=0.875)
    out = pre(img)
    assert out.shape == (28, 28, 3)
    assert (out == (0, 0, 255)).all()
    # shorter side scaled to 28 / 0.875 = 32 -> 64x32, then the central 28x28
    img2 = Image.fromarray(np.tile(np.arange(200, dtype=np.uint8)[None, :, None], (100, 1, 3)))
    out2 = pre(img2)
    assert abs(int(out2[14, 0, 0]) - 56) <= 4 and abs(int(out2[14, 27, 0]) - 140) <= 4  # columns 18..46 of 64


def test_resize_modes_give_the_input_size_for_any_shape(full_embeddings):
    for resize in ("squash", "pad", "crop"):
        pre = random_featurizer("mobilenetv3_small", resize=resize).preprocessor
        for img in (Image.new("RGB", (1, 500)), Image.new("RGB", (500, 1)), Image.new("RGB", (3, 3))):
            assert pre(img).shape == (pre.height, pre.width, 3)
    gray = random_featurizer("grayscale20").preprocessor
    assert gray(SAMPLE_IMAGES[0]).shape == (20, 20)


# --- fingerprints -------------------------------------------------------------------------------------------
def test_fingerprint_changes_with_everything_that_changes_the_numbers(tmp_path):
    base = random_featurizer("mobilenetv3_small")
    path = tmp_path / "w.pth"
    torch.save(base.model.state_dict(), path)
    variants = {
        "base": base,
        "levels": random_featurizer("mobilenetv3_small", levels=["low", "high"]),
        "resize": random_featurizer("mobilenetv3_small", resize="pad"),
        "backbone": random_featurizer("mobilenetv3"),
        "weights": create_featurizer("mobilenetv3_small", weights=str(path), device="cpu"),
    }
    fingerprints = {name: f.fingerprint() for name, f in variants.items()}
    assert len(set(fingerprints.values())) == len(fingerprints), fingerprints
    names = {name: f.entry_name() for name, f in variants.items()}
    assert len(set(names.values())) == len(names), names
    assert random_featurizer("grayscale20").fingerprint() != random_featurizer("grayscale20", resize="pad").fingerprint()
    # the weights identity is the file's content, not its name
    copy = tmp_path / "copy.pth"
    copy.write_bytes(path.read_bytes())
    same_bytes = create_featurizer("mobilenetv3_small", weights=str(copy), device="cpu")
    assert same_bytes.fingerprint() == fingerprints["weights"]


# --- stronger backbones: any timm model, curated entries, BatchNorm folding -------------------------------
def test_any_timm_model_by_name_with_levels_from_feature_info():
    cnn = random_featurizer("timm:test_efficientnet")
    vit = random_featurizer("timm:test_vit")  # every block has stride 16: levels by depth instead
    for featurizer in (cnn, vit):
        out = featurizer.embed(uint8_batch(featurizer))
        assert out.shape == (len(SAMPLE_IMAGES), featurizer.n_features) and np.isfinite(out).all()
        assert list(featurizer.level_widths()) == ["low", "medium", "high", "highest"]
    assert cnn.entry_name() == "timm:test_efficientnet-random"


def test_unknown_timm_model_is_one_line():
    from pixelboard.errors import PixelboardError
    from pixelboard.featurizers import get_featurizer_entry

    with pytest.raises(PixelboardError, match="timm has no model 'no_such_net'"):
        get_featurizer_entry("timm:no_such_net")


def test_curated_backbones_carry_a_licence():
    from pixelboard.featurizers import get_featurizer_entry, list_featurizers

    for name in ("efficientnet_lite1", "efficientnet_lite2", "lcnet_100", "mobilenetv4_conv_small",
                 "convnext_tiny", "vit_small_dinov2"):
        assert name in list_featurizers()
    assert all(get_featurizer_entry(n).licence for n in list_featurizers() if n != "grayscale20")


@pytest.mark.parametrize("name", ["efficientnet_lite0", "mobilenetv3_small"])
def test_pruned_folds_batchnorm_and_keeps_the_embeddings(name):
    plain = random_featurizer(name)
    pruned = random_featurizer(name, pruned=True)
    batch = uint8_batch(plain)
    np.testing.assert_allclose(pruned.embed(batch), plain.embed(batch), rtol=1e-4, atol=1e-4)
    assert pruned.entry_name().endswith("-pruned") and pruned.fingerprint() != plain.fingerprint()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in pruned.model.modules())


def test_bundled_lite1_and_lite2_weights_load_strictly():
    from pixelboard.featurizers import create_featurizer

    for name, size in (("efficientnet_lite1", 240), ("efficientnet_lite2", 260)):
        featurizer = create_featurizer(name, device="cpu")
        assert featurizer.weights.source == "bundled" and featurizer.preprocessor.height == size


def test_grid_level_keeps_the_layout_that_global_pooling_loses():
    featurizer = random_featurizer("efficientnet_lite0", levels=["medium", "grid"])
    assert featurizer.level_widths() == {"medium": 112, "grid": 448}
    assert featurizer.entry_name() == "efficientnet_lite0-medium+grid-random"
    page = np.full((224, 224, 3), 255, dtype=np.uint8)
    top, bottom = page.copy(), page.copy()
    top[20:80, 30:190], bottom[144:204, 30:190] = 0, 0  # the same block, at the top or the bottom of the page
    out = featurizer.embed(torch.from_numpy(np.stack([top, bottom])))
    medium, grid = out[:, :112], out[:, 112:]
    # the global average barely tells the two pages apart; the grid does
    assert np.abs(grid[0] - grid[1]).max() > 3 * np.abs(medium[0] - medium[1]).max()
    # the grid's mean over its 4 cells is the global average
    np.testing.assert_allclose(grid.reshape(2, 112, 4).mean(axis=2), medium, rtol=1e-4, atol=1e-5)


def test_input_size_above_the_pretrained_size():
    featurizer = random_featurizer("efficientnet_lite0", input_size=448)
    assert (featurizer.preprocessor.height, featurizer.preprocessor.width) == (448, 448)
    assert featurizer.entry_name() == "efficientnet_lite0-448px-random"
    assert featurizer.fingerprint() != random_featurizer("efficientnet_lite0").fingerprint()
    out = featurizer.embed(uint8_batch(featurizer))
    assert out.shape == (len(SAMPLE_IMAGES), featurizer.n_features)
    with pytest.raises(PixelboardError, match="at least 32"):
        random_featurizer("efficientnet_lite0", input_size=8)
