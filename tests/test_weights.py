"""Every way real weights arrive (--weights state_dict / safetensors, EfficientNet-PyTorch keys, the
bundled EfficientNet-Lite0, the Hugging Face hub cache) or fail to (one-line errors, fast without network).
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

from conftest import SAMPLE_IMAGES, normalised, random_featurizer, uint8_batch
from pixelboard.errors import PixelboardError
from pixelboard.featurizers import create_featurizer, get_featurizer_entry, list_featurizers
from pixelboard.featurizers.timm_backbones import TimmFeaturizer
from pixelboard.featurizers.weights import WeightsInfo

TIMM = [name for name in list_featurizers() if get_featurizer_entry(name).timm_name]  # the table's timm networks


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
    from pixelboard.featurizers.timm_backbones import _LITE
    bundled = torch.load(_LITE[0](), map_location="cpu", weights_only=True)
    assert set(lukemelas) == set(bundled)
    path = tmp_path / "efficientnet-lite0-finetuned.pth"
    torch.save(lukemelas, path)
    loaded = create_featurizer("efficientnet_lite0", weights=str(path), device="cpu")
    assert loaded.weights.source == "file"
    expected = _reference("efficientnet_lite0", model).transform(SAMPLE_IMAGES[:2])
    np.testing.assert_array_equal(loaded.transform(SAMPLE_IMAGES[:2]), expected)


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
    expected = _reference("mobilenetv3_small", model).transform(SAMPLE_IMAGES)
    np.testing.assert_array_equal(featurizer.transform(SAMPLE_IMAGES), expected)
    assert not np.allclose(random_featurizer("mobilenetv3_small").transform(SAMPLE_IMAGES), expected)


def test_weights_in_a_training_checkpoint_with_another_head(tmp_path):
    """{'state_dict': ...} with DataParallel's 'module.' prefix and a 5-class classifier still loads."""
    model = _other_random_model("mobilenetv3_small_100")
    state = model.state_dict()
    state["classifier.weight"] = torch.zeros(5, state["classifier.weight"].shape[1])
    state["classifier.bias"] = torch.zeros(5)
    path = tmp_path / "checkpoint.pt"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    featurizer = create_featurizer("mobilenetv3_small", weights=str(path), device="cpu")
    expected = _reference("mobilenetv3_small", model).transform(SAMPLE_IMAGES[:1])
    np.testing.assert_array_equal(featurizer.transform(SAMPLE_IMAGES[:1]), expected)


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
    _weights_error(tmp_path, "mobilenetv3_small", tmp_path / "junk.pth", "is not a torch state_dict")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    _weights_error(tmp_path, "mobilenetv3_small", tmp_path / "junk.safetensors", "is not a torch state_dict")
    (tmp_path / "cut.safetensors").write_bytes((1000).to_bytes(8, "little") + b'{"a": ' + b" " * 1000)
    _weights_error(tmp_path, "mobilenetv3_small", tmp_path / "cut.safetensors", "cannot read weights file")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pth")  # a whole pickled model, not its state_dict
    _weights_error(tmp_path, "mobilenetv3_small", tmp_path / "module.pth", "pickled Python objects")
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
    for n, img in enumerate(SAMPLE_IMAGES[:2]):
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
    expected = _reference("mobilenetv3_small", model).transform(SAMPLE_IMAGES[:2])
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
    batch = uint8_batch(featurizer, images)
    with torch.no_grad():
        logits = featurizer.model(normalised(featurizer, batch))
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
