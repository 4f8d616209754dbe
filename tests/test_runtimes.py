"""featurize --runtime torch|onnx|openvino and --precision fp32|bf16 (pixelboard/featurizers/runtimes.py).

The torch path is always tested; onnx and openvino need the `runtimes` extra and are skipped, naming
it, when it is not installed.
"""

from __future__ import annotations

import importlib.util
import pickle
import sys

import numpy as np
import pytest
import torch
from conftest import featurize_cli, random_featurizer, uint8_batch

from pixelboard.errors import PixelboardError
from pixelboard.featurizers import runtimes


def _needs(runtime: str):
    info = runtimes.RUNTIMES[runtime]
    missing = [m for m in (info.module, "onnx") if importlib.util.find_spec(m) is None]
    return pytest.mark.skipif(bool(missing), reason=f"--runtime {runtime} needs the `runtimes` extra "
                              f"(pip install \"pixelboard[runtimes]\"): {', '.join(missing)} not installed")


EXPORTED = [pytest.param("onnx", marks=_needs("onnx")), pytest.param("openvino", marks=_needs("openvino"))]


def _relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("runtime", EXPORTED)
@pytest.mark.parametrize("levels", [None, ["low", "grid", "highest"], ["medium"]])
def test_exported_runtimes_give_torchs_embeddings(tmp_path, runtime, levels):
    plain = random_featurizer("mobilenetv3_small", levels=levels)
    exported = random_featurizer("mobilenetv3_small", levels=levels, runtime=runtime)
    exported.export_dir = tmp_path
    batch = uint8_batch(plain)
    expected = plain.embed(batch)
    got = exported.embed(batch)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert _relative_difference(got, expected) < 1e-4
    assert _relative_difference(exported.embed(batch[:1]), expected[:1]) < 1e-4  # the batch axis is free
    assert [p.name for p in tmp_path.iterdir()] == [f"{plain.fingerprint()}.onnx"]  # torch fp32's identity


@pytest.mark.parametrize("runtime", EXPORTED)
def test_the_export_is_made_once_and_reused(tmp_path, runtime, monkeypatch):
    first = random_featurizer("mobilenetv3_small", runtime=runtime)
    first.export_dir = tmp_path
    batch = uint8_batch(first)
    expected = first.embed(batch)
    exports = []
    monkeypatch.setattr(runtimes, "export_onnx", lambda *a: exports.append(a))
    second = random_featurizer("mobilenetv3_small", runtime=runtime)
    second.export_dir = tmp_path
    np.testing.assert_array_equal(second.embed(batch), expected)
    assert exports == []
    clone = pickle.loads(pickle.dumps(second))  # the session stays behind; the copy loads the file again
    np.testing.assert_array_equal(clone.embed(batch), expected)


@pytest.mark.parametrize("runtime", EXPORTED)
def test_a_damaged_export_is_named(tmp_path, runtime):
    featurizer = random_featurizer("mobilenetv3_small", runtime=runtime)
    featurizer.export_dir = tmp_path
    (tmp_path / f"{featurizer.graph_fingerprint()}.onnx").write_bytes(b"not a model")
    with pytest.raises(PixelboardError, match=f"{featurizer.graph_fingerprint()}.onnx.*delete it"):
        featurizer.embed(uint8_batch(featurizer))


def test_runtime_and_precision_are_part_of_the_identity():
    plain = random_featurizer("mobilenetv3_small")
    assert "runtime" not in plain.describe()  # torch fp32: the identity of caches made before runtimes existed
    bf16 = random_featurizer("mobilenetv3_small", precision="bf16")
    assert bf16.entry_name() == "mobilenetv3_small-random-bf16" and bf16.fingerprint() != plain.fingerprint()
    assert bf16.graph_fingerprint() == plain.graph_fingerprint() == plain.fingerprint()
    assert bf16.create_options["precision"] == "bf16"  # predict rebuilds the same featurizer


def test_torch_bf16_is_close_to_fp32_but_not_equal():
    plain = random_featurizer("mobilenetv3_small")
    bf16 = random_featurizer("mobilenetv3_small", precision="bf16")
    batch = uint8_batch(plain)
    a, b = plain.embed(batch), bf16.embed(batch)
    assert b.dtype == np.float32
    assert 0 < _relative_difference(b, a) < 0.1


@pytest.mark.parametrize("runtime", EXPORTED)
def test_exported_names_and_pruned_compose(runtime):
    featurizer = random_featurizer("mobilenetv3_small", runtime=runtime, pruned=True)
    assert featurizer.entry_name() == f"mobilenetv3_small-random-pruned-{runtime}"
    assert featurizer.describe()["runtime"]["name"] == runtime and featurizer.describe()["runtime"]["version"]


@pytest.mark.parametrize("options, message", [
    ({"runtime": "tensorrt"}, "unknown runtime 'tensorrt'; choose from torch, onnx, openvino"),
    ({"precision": "fp8"}, "unknown precision 'fp8'; choose from fp32, bf16"),
    ({"runtime": "onnx", "precision": "bf16"}, "runtime onnx has no bf16 precision; it offers fp32"),
])
def test_bad_runtime_options_are_one_line(options, message):
    with pytest.raises(PixelboardError, match=f"^{message}$"):
        random_featurizer("mobilenetv3_small", **options)


def test_a_missing_extra_is_one_line_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` raises ImportError
    monkeypatch.setattr(runtimes.metadata, "version", lambda name: (_ for _ in ()).throw(
        runtimes.metadata.PackageNotFoundError(name)))
    with pytest.raises(PixelboardError, match=r'^--runtime openvino needs openvino: pip install "pixelboard\[runtimes\]"'):
        random_featurizer("mobilenetv3_small", runtime="openvino")


def test_exported_runtimes_refuse_a_gpu():
    from pixelboard.featurizers import create_featurizer

    message = "--runtime onnx runs on the CPU" if torch.cuda.is_available() else "CUDA is not available"
    with pytest.raises(PixelboardError, match=message):
        create_featurizer("mobilenetv3_small", random_weights=True, runtime="onnx", device="cuda")


@pytest.mark.parametrize("runtime", EXPORTED)
def test_featurize_command_keeps_the_export_in_the_project(tmp_path, class_folder, runtime):
    project = tmp_path / "p"
    result = featurize_cli("--images", class_folder, "--project", project, "--backbone", "mobilenetv3_small",
                           "--random-weights", "--runtime", runtime)
    assert result.exit_code == 0, result.output
    assert [p.name for p in (project / "embeddings" / "train").glob("*.npy")] == [f"mobilenetv3_small-random-{runtime}.npy"]
    exports = list((project / "runtimes").iterdir())
    assert len(exports) == 1 and exports[0].suffix == ".onnx"
    torch_run = featurize_cli("--images", class_folder, "--project", project, "--backbone", "mobilenetv3_small",
                              "--random-weights")
    assert torch_run.exit_code == 0, torch_run.output
    a = np.load(project / "embeddings" / "train" / f"mobilenetv3_small-random-{runtime}.npy")
    b = np.load(project / "embeddings" / "train" / "mobilenetv3_small-random.npy")
    assert _relative_difference(a, b) < 1e-4 and not np.array_equal(a, b)  # two caches, not one


def test_featurize_command_refuses_an_unknown_runtime(tmp_path, class_folder):
    result = featurize_cli("--images", class_folder, "--project", tmp_path / "p", "--runtime", "tvm")
    assert result.exit_code != 0 and "'tvm' is not one of 'torch', 'onnx', 'openvino'" in result.output


@pytest.mark.parametrize("runtime", EXPORTED)
def test_image_embedder_takes_the_runtime_and_keeps_its_export_in_the_project(tmp_path, runtime):
    from conftest import SAMPLE_IMAGES

    from pixelboard.embedder import ImageEmbedder

    plain = ImageEmbedder("mobilenetv3_small", random_weights=True, device="cpu").fit()
    exported = ImageEmbedder("mobilenetv3_small", random_weights=True, device="cpu", runtime=runtime,
                             project=tmp_path / "p").fit()
    assert exported.name_ == f"mobilenetv3_small-random-{runtime}"
    assert _relative_difference(exported.transform(SAMPLE_IMAGES), plain.transform(SAMPLE_IMAGES)) < 1e-4
    assert len(list((tmp_path / "p" / "runtimes").glob("*.onnx"))) == 1
    with pytest.raises(PixelboardError, match="unknown precision 'fp16'"):
        ImageEmbedder("mobilenetv3_small", precision="fp16").fit()
