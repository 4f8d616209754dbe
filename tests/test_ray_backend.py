"""``featurize --backend ray``: a Ray Data job on a local Ray instance (``ray.init(num_cpus=2)``) writes the
same cache rows, bit for bit, as the local backend; without Ray the option is one line naming the extra."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from conftest import CLASSES, IMAGES_PER_CLASS, featurize_cli, random_featurizer
from pixelboard.datasets import read_image_set
from pixelboard.errors import PixelboardError
from pixelboard.featurizers import create_featurizer
from pixelboard.featurizers.pipeline import FeaturizeOptions, featurize_set
from pixelboard.project import Project

N_IMAGES = len(CLASSES) * IMAGES_PER_CLASS


@pytest.fixture(scope="module")
def local_ray():
    if os.environ.get("CI") == "true":  # CI installs the test extra, which includes ray[data]: no skipping there
        import ray
        import ray.data  # noqa: F401
    else:
        ray = pytest.importorskip("ray")
        pytest.importorskip("ray.data")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.mark.parametrize("make", [lambda: create_featurizer("grayscale20"),
                                  lambda: random_featurizer("mobilenetv3_small")], ids=["grayscale20", "tiny_cnn"])
def test_ray_backend_gives_the_local_embeddings_bit_for_bit(local_ray, tmp_path, class_folder, make):
    from pixelboard.featurizers.ray_backend import RayBackend

    image_set = read_image_set(class_folder, name="train")
    options = FeaturizeOptions(workers=0, progress=False, batch_size=4)
    local = featurize_set(Project(tmp_path / "local"), image_set, make(), options)
    featurizer = make()
    remote = featurize_set(Project(tmp_path / "ray"), image_set, featurizer, options, backend=RayBackend())
    assert (remote.n_computed, remote.n_cached, remote.n_rows) == (N_IMAGES, 0, N_IMAGES)
    a = Project(tmp_path / "local").load_embeddings("train", featurizer.entry_name())
    b = Project(tmp_path / "ray").load_embeddings("train", featurizer.entry_name())
    assert a.row_ids == b.row_ids and a.sidecar["rows"]["content"] == b.sidecar["rows"]["content"]
    assert np.asarray(a.matrix).tobytes() == np.asarray(b.matrix).tobytes()
    # the same cache: a rerun (either backend) computes nothing
    again = featurize_set(Project(tmp_path / "ray"), image_set, make(), options, backend=RayBackend())
    assert (again.n_computed, again.n_cached) == (0, N_IMAGES)


def test_ray_backend_through_the_api_with_augmentation_and_a_bad_file(local_ray, tmp_path, class_folder):
    import pixelboard

    (class_folder / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    kwargs = dict(backbones="grayscale20", augment="rot90,noise", skip_bad_images=True, progress=False, workers=0)
    local = pixelboard.Project(tmp_path / "local").featurize(class_folder, **kwargs)[0]
    remote = pixelboard.Project(tmp_path / "ray").featurize(class_folder, backend="ray", **kwargs)[0]
    assert remote.n_rows == local.n_rows == 3 * N_IMAGES and [s["file"] for s in remote.skipped] == ["cat/broken.png"]
    a = Project(tmp_path / "local").load_embeddings("train", "grayscale20")
    b = Project(tmp_path / "ray").load_embeddings("train", "grayscale20")
    assert np.asarray(a.matrix).tobytes() == np.asarray(b.matrix).tobytes()


def test_without_ray_the_backend_option_is_one_line_naming_the_extra(tmp_path, class_folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    from pixelboard.featurizers.ray_backend import import_ray

    with pytest.raises(PixelboardError, match=r"pixelboard\[ray\]"):
        import_ray()
    result = featurize_cli("--images", class_folder, "--project", tmp_path / "p", "--backbone", "grayscale20",
                           "--backend", "ray")
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "pixelboard[ray]" in errors[0] and "Traceback" not in result.output
    assert not (tmp_path / "p" / "embeddings").exists()


def test_ray_leaderboard_fits_give_the_local_rows(local_ray, tmp_path):
    """``leaderboard --backend ray``: the fold fits as Ray tasks (joblib's Ray backend), the same rows."""
    import shutil

    import pixelboard
    from conftest import write_embedding_project

    root = write_embedding_project(tmp_path / "local")
    shutil.copytree(root, tmp_path / "ray")
    kwargs = dict(mode="comprehensive", blueprints=["majority", "lr_l2"], blenders=["avg"], jobs=2, progress=False)
    local = pixelboard.Project(root).leaderboard(**kwargs)
    remote = pixelboard.Project(tmp_path / "ray").leaderboard(backend="ray", **kwargs)
    assert remote.n_fitted == local.n_fitted > 0

    def numbers(board):
        return [(r["id"], r["blueprint"], r["featurizer"], r["scores"]) for r in board.rows]

    assert numbers(remote) == numbers(local)
    for row in local.rows:
        if row.get("kind") != "blend":
            for name in ("oof.npy", "holdout.npy"):
                a = np.load(local.directory / "models" / row["id"] / name)
                b = np.load(remote.directory / "models" / row["id"] / name)
                assert a.tobytes() == b.tobytes(), (row["id"], name)
