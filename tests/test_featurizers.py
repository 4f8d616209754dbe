"""Featurizers: the registry contract, preprocessing from timm's config, levels, fingerprints, and every
way real weights arrive (--weights state_dict / safetensors, EfficientNet-PyTorch keys, the bundled
EfficientNet-Lite0, the Hugging Face hub cache) or fail to (one-line errors, fast without network).

Unit tests use random weights (``random_weights=True``, seeded: two random featurizers are identical)
and small generated images; one test runs the real bundled ImageNet weights.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from conftest import generated_rgb
from pixelboard.errors import PixelboardError
from pixelboard.featurizers import CNN_LEVELS, create_featurizer, list_featurizers
from pixelboard.featurizers.base import Preprocessor
from pixelboard.featurizers.timm_backbones import TimmFeaturizer
from pixelboard.featurizers.weights import WeightsInfo

ALL = list_featurizers()
TIMM = [name for name in ALL if name != "grayscale20"]
IMAGES = [generated_rgb(seed, size) for seed, size in ((1, (48, 40)), (2, (30, 60)), (3, (64, 64)))]


def _create(name, **options):
    return create_featurizer(name, random_weights=True, device="cpu", **options)


@pytest.fixture(scope="module")
def full_embeddings():
    """name -> (featurizer with every level, its embeddings of IMAGES): computed once per module."""
    found = {}
    for name in ALL:
        featurizer = _create(name)
        found[name] = (featurizer, featurizer.transform(IMAGES))
    return found


def _uint8_batch(featurizer, images=IMAGES) -> torch.Tensor:
    return torch.from_numpy(np.stack([featurizer.preprocessor(img) for img in images]))


def _normalised(featurizer, batch: torch.Tensor) -> torch.Tensor:
    """Scale and normalise independently of ``embed``: with timm's own mean/std."""
    config = timm.data.resolve_model_data_config(featurizer.model)
    mean = torch.tensor(config["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(config["std"]).view(1, 3, 1, 1)
    return (batch.permute(0, 3, 1, 2).float() / 255 - mean) / std


# --- the registry contract --------------------------------------------------------------------------------
def test_registry_names_the_documented_backbones():
    assert {"efficientnet_lite0", "mobilenetv3", "mobilenetv3_small", "efficientnet_b0", "grayscale20"} <= set(ALL)
    with pytest.raises(PixelboardError, match="unknown backbone 'resnet9000'.*efficientnet_lite0"):
        create_featurizer("resnet9000")


@pytest.mark.parametrize("name", ALL)
def test_featurizer_contract(full_embeddings, name):
    featurizer, embeddings = full_embeddings[name]
    assert embeddings.shape == (len(IMAGES), featurizer.n_features)
    assert embeddings.dtype == np.float32
    assert np.isfinite(embeddings).all()
    assert not np.allclose(embeddings[0], embeddings[1])  # different images, different rows
    slices = featurizer.level_slices()
    assert list(slices) == list(featurizer.levels) == list(featurizer.level_widths())
    bounds = [b for lv in slices for b in slices[lv]]
    assert bounds[0] == 0 and bounds[-1] == featurizer.n_features
    assert all(end > start for start, end in slices.values())
    assert all(slices[a][1] == slices[b][0] for a, b in zip(list(slices), list(slices)[1:]))  # contiguous
    assert len(featurizer.fingerprint()) == 16 and featurizer.fingerprint() == _create(name).fingerprint()
    assert featurizer.transform([]).shape == (0, featurizer.n_features)


@pytest.mark.parametrize("name", TIMM)
def test_timm_featurizers_have_the_four_cnn_levels(full_embeddings, name):
    featurizer, _ = full_embeddings[name]
    assert featurizer.levels == CNN_LEVELS
    widths = featurizer.level_widths()
    assert widths["highest"] == featurizer.model.get_classifier().in_features  # the classifier's input


@pytest.mark.parametrize("name", TIMM)
@pytest.mark.parametrize("levels", [("medium",), ("highest", "low")])
def test_level_subset_equals_the_matching_columns_of_the_full_embedding(full_embeddings, name, levels):
    full_featurizer, full = full_embeddings[name]
    subset = _create(name, levels=list(levels))
    assert subset.levels == tuple(lv for lv in CNN_LEVELS if lv in levels)  # canonical order
    columns = np.concatenate([np.arange(*full_featurizer.level_slices()[lv]) for lv in subset.levels])
    np.testing.assert_allclose(subset.transform(IMAGES), full[:, columns], rtol=1e-5, atol=1e-5)


def test_levels_are_pooled_stride_8_16_32_maps_and_the_pre_logits(full_embeddings):
    """Checked against timm's own ``features_only`` model and ``forward_head``, not against embed's code path."""
    featurizer, embeddings = full_embeddings["mobilenetv3_small"]
    x = _normalised(featurizer, _uint8_batch(featurizer))
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
        _create("mobilenetv3_small", levels=["low", "ultra"])
    with pytest.raises(PixelboardError, match="unknown resize mode 'zoom'"):
        _create("mobilenetv3_small", resize="zoom")
    with pytest.raises(PixelboardError, match="drop --levels"):
        _create("grayscale20", levels=["low"])


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
        x = _normalised(featurizer, _uint8_batch(featurizer))
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
        pre = _create("mobilenetv3_small", resize=resize).preprocessor
        for img in (Image.new("RGB", (1, 500)), Image.new("RGB", (500, 1)), Image.new("RGB", (3, 3))):
            assert pre(img).shape == (pre.height, pre.width, 3)
    gray = _create("grayscale20").preprocessor
    assert gray(IMAGES[0]).shape == (20, 20)


# --- fingerprints -------------------------------------------------------------------------------------------
def test_fingerprint_changes_with_everything_that_changes_the_numbers(tmp_path):
    base = _create("mobilenetv3_small")
    path = tmp_path / "w.pth"
    torch.save(base.model.state_dict(), path)
    variants = {
        "base": base,
        "levels": _create("mobilenetv3_small", levels=["low", "high"]),
        "resize": _create("mobilenetv3_small", resize="pad"),
        "backbone": _create("mobilenetv3"),
        "weights": create_featurizer("mobilenetv3_small", weights=str(path), device="cpu"),
    }
    fingerprints = {name: f.fingerprint() for name, f in variants.items()}
    assert len(set(fingerprints.values())) == len(fingerprints), fingerprints
    names = {name: f.entry_name() for name, f in variants.items()}
    assert len(set(names.values())) == len(names), names
    assert _create("grayscale20").fingerprint() != _create("grayscale20", resize="pad").fingerprint()
    # the weights identity is the file's content, not its name
    copy = tmp_path / "copy.pth"
    copy.write_bytes(path.read_bytes())
    same_bytes = create_featurizer("mobilenetv3_small", weights=str(copy), device="cpu")
    assert same_bytes.fingerprint() == fingerprints["weights"]


# --- weights from files -------------------------------------------------------------------------------------
def _other_random_model(timm_name: str, seed: int = 123) -> torch.nn.Module:
    """A model unlike the seeded random featurizer: so equal embeddings prove the file was loaded."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = timm.create_model(timm_name, pretrained=False).eval()
        for name, buffer in model.named_buffers():  # non-trivial BN statistics too
            if name.endswith("running_mean"):
                buffer.normal_(0, 0.1)
    return model


def _reference(name: str, model: torch.nn.Module) -> TimmFeaturizer:
    return TimmFeaturizer(name, model, WeightsInfo("file", "reference", "in memory"), device="cpu")


def _to_efficientnet_pytorch(state: dict, model: torch.nn.Module) -> dict:
    """Invert the documented mapping: timm tf_efficientnet_lite names -> lukemelas EfficientNet-PyTorch names."""
    top = {"conv_stem": "_conv_stem", "bn1": "_bn0", "conv_head": "_conv_head", "bn2": "_bn1", "classifier": "_fc"}
    first = {"conv_dw": "_depthwise_conv", "bn1": "_bn1", "conv_pw": "_project_conv", "bn2": "_bn2"}
    other = {"conv_pw": "_expand_conv", "bn1": "_bn0", "conv_dw": "_depthwise_conv", "bn2": "_bn1",
             "conv_pwl": "_project_conv", "bn3": "_bn2"}
    flat = {f"{s}.{i}": n for n, (s, i) in
            enumerate((s, i) for s, stage in enumerate(model.blocks) for i in range(len(stage)))}
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "blocks":
            n = flat[f"{parts[1]}.{parts[2]}"]
            layer = (first if n == 0 else other)[parts[3]]
            out[".".join(["_blocks", str(n), layer] + parts[4:])] = value
        else:
            out[".".join([top[parts[0]]] + parts[1:])] = value
    return out


def test_efficientnet_pytorch_checkpoint_round_trip(tmp_path):
    model = _other_random_model("tf_efficientnet_lite0")
    lukemelas = _to_efficientnet_pytorch(model.state_dict(), model)
    # the inverted names are exactly those of the real EfficientNet-PyTorch file the package ships
    from pixelboard.featurizers.timm_backbones import _bundled_efficientnet_lite0
    bundled = torch.load(_bundled_efficientnet_lite0(), map_location="cpu", weights_only=True)
    assert set(lukemelas) == set(bundled)
    path = tmp_path / "efficientnet-lite0-finetuned.pth"
    torch.save(lukemelas, path)
    loaded = create_featurizer("efficientnet_lite0", weights=str(path), device="cpu")
    assert loaded.weights.source == "file"
    expected = _reference("efficientnet_lite0", model).transform(IMAGES[:2])
    np.testing.assert_array_equal(loaded.transform(IMAGES[:2]), expected)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_weights_file_gives_exactly_the_saved_models_embeddings(tmp_path, suffix):
    model = _other_random_model("mobilenetv3_small_100")
    path = tmp_path / f"mine{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    else:
        torch.save(model.state_dict(), path)
    featurizer = create_featurizer("mobilenetv3_small", weights=str(path), device="cpu")
    assert featurizer.weights.source == "file" and featurizer.weights.location == str(path)
    expected = _reference("mobilenetv3_small", model).transform(IMAGES)
    np.testing.assert_array_equal(featurizer.transform(IMAGES), expected)
    assert not np.allclose(_create("mobilenetv3_small").transform(IMAGES), expected)


def test_weights_in_a_training_checkpoint_with_another_head(tmp_path):
    """{'state_dict': ...} with DataParallel's 'module.' prefix and a 5-class classifier still loads."""
    model = _other_random_model("mobilenetv3_small_100")
    state = model.state_dict()
    state["classifier.weight"] = torch.zeros(5, state["classifier.weight"].shape[1])
    state["classifier.bias"] = torch.zeros(5)
    path = tmp_path / "checkpoint.pt"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    featurizer = create_featurizer("mobilenetv3_small", weights=str(path), device="cpu")
    expected = _reference("mobilenetv3_small", model).transform(IMAGES[:1])
    np.testing.assert_array_equal(featurizer.transform(IMAGES[:1]), expected)


def _weights_error(tmp_path, name, path, match):
    with pytest.raises(PixelboardError, match=match) as info:
        create_featurizer(name, weights=str(path), device="cpu")
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_wrong_weights_files_are_one_line_errors(tmp_path):
    small = tmp_path / "small.pth"
    torch.save(timm.create_model("mobilenetv3_small_100").state_dict(), small)
    _weights_error(tmp_path, "efficientnet_b0", small, "does not fit efficientnet_b0: missing .*unexpected")
    _weights_error(tmp_path, "mobilenetv3", small, "does not fit mobilenetv3_large_100:.*wrong shape")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all")
    _weights_error(tmp_path, "mobilenetv3_small", tmp_path / "junk.pth", "cannot read weights file")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    _weights_error(tmp_path, "mobilenetv3_small", tmp_path / "junk.safetensors", "cannot read weights file")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    _weights_error(tmp_path, "mobilenetv3_small", tmp_path / "list.pth", "does not hold a state_dict")
    _weights_error(tmp_path, "mobilenetv3_small", tmp_path / "missing.pth", "weights file not found")
    with pytest.raises(PixelboardError, match="exclude each other"):
        create_featurizer("mobilenetv3_small", weights=str(small), random_weights=True)
    with pytest.raises(PixelboardError, match="grayscale20 has no weights"):
        create_featurizer("grayscale20", weights=str(small))


# --- weights from the Hugging Face hub ----------------------------------------------------------------------
def test_hub_without_network_or_cache_fails_fast_and_names_weights(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # never download, even where there is a network
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(PixelboardError) as info:
        create_featurizer("mobilenetv3", device="cpu")
    assert time.perf_counter() - started < 10
    message = str(info.value)
    assert "\n" not in message
    assert "--weights" in message and "mobilenetv3_large_100" in message and "efficientnet_lite0" in message


def test_hub_probe_is_bounded_even_when_the_dns_lookup_hangs(monkeypatch):
    from pixelboard.featurizers import weights

    def hanging_lookup(*args, **kwargs):
        time.sleep(3)
        raise OSError("name resolution timed out")

    monkeypatch.setattr(weights.socket, "create_connection", hanging_lookup)
    started = time.perf_counter()
    assert weights._host_reachable("huggingface.co", timeout=0.2) is False
    assert time.perf_counter() - started < 2


HUB_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from PIL import Image
    from pixelboard.featurizers import create_featurizer
    featurizer = create_featurizer("mobilenetv3_small", device="cpu")
    print(featurizer.weights.source, featurizer.weights.location)
    images = [Image.open(p).convert("RGB") for p in sys.argv[2:]]
    np.save(sys.argv[1], featurizer.transform(images))
""")


def test_hub_cache_is_used_without_network(tmp_path):
    """A timm checkpoint in the standard Hugging Face cache layout is found and loaded offline."""
    from safetensors.torch import save_file

    model = _other_random_model("mobilenetv3_small_100")
    hf_home = tmp_path / "hf-home"
    repo = hf_home / "hub" / "models--timm--mobilenetv3_small_100.lamb_in1k"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "snapshots" / commit).mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(repo / "snapshots" / commit / "model.safetensors"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    files = []
    for n, img in enumerate(IMAGES[:2]):
        img.save(tmp_path / f"{n}.png")
        files.append(str(tmp_path / f"{n}.png"))
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    env.pop("HUGGINGFACE_HUB_CACHE", None)
    out = tmp_path / "hub.npy"
    done = subprocess.run([sys.executable, "-c", HUB_SCRIPT, str(out), *files], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("hub ") and str(repo) in done.stdout
    expected = _reference("mobilenetv3_small", model).transform(IMAGES[:2])
    np.testing.assert_array_equal(np.load(out), expected)


# --- the real bundled weights -------------------------------------------------------------------------------
PLAUSIBLE = {
    "china.jpg": {"palace", "monastery", "bell cote", "castle", "boathouse", "pagoda", "stupa", "lakeside", "dome",
                  "church", "triumphal arch", "cliff dwelling", "mosque"},
    "flower.jpg": {"daisy", "bee", "pot", "vase", "sea anemone", "cardoon", "hip", "mushroom", "fly", "ant"},
}


def test_bundled_efficientnet_lite0_recognises_imagenet_photos():
    from sklearn.datasets import load_sample_image
    from timm.data import ImageNetInfo

    featurizer = create_featurizer("efficientnet_lite0", device="cpu")
    assert featurizer.weights.source == "bundled"
    info = ImageNetInfo()
    images = [Image.fromarray(load_sample_image(name)) for name in PLAUSIBLE]
    batch = _uint8_batch(featurizer, images)
    with torch.no_grad():
        logits = featurizer.model(_normalised(featurizer, batch))
    # the classifier on embed's "highest" level reproduces the full model: same preprocessing path
    highest = featurizer.embed(batch)[:, slice(*featurizer.level_slices()["highest"])]
    with torch.no_grad():
        np.testing.assert_allclose(featurizer.model.get_classifier()(torch.from_numpy(highest)).numpy(),
                                   logits.numpy(), rtol=1e-3, atol=1e-3)
    for name, row in zip(PLAUSIBLE, logits):
        top5 = [info.index_to_description(int(i)).split(",")[0].lower() for i in row.topk(5).indices]
        assert set(top5) & PLAUSIBLE[name], f"{name}: implausible top-5 {top5}"
        assert top5[0] in PLAUSIBLE[name], f"{name}: implausible top-1 {top5}"


def test_list_of_timm_architectures_matches_registry():
    """Every registered timm backbone names an architecture timm knows (no silent typo)."""
    from pixelboard.featurizers import get_featurizer_entry

    for name in TIMM:
        assert timm.is_model(get_featurizer_entry(name).factory.timm_name), name


def test_weights_path_expands_user(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    model = _other_random_model("mobilenetv3_small_100", seed=5)
    torch.save(model.state_dict(), tmp_path / "w.pth")
    featurizer = create_featurizer("mobilenetv3_small", weights="~/w.pth", device="cpu")
    assert Path(featurizer.weights.location) == tmp_path / "w.pth"
