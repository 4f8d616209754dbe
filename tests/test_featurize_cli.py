"""``pixelboard featurize`` and ``list backbones`` through the CLI, and one end-to-end run on real
Fashion-MNIST images with the real bundled EfficientNet-Lite0 weights."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import IMAGES_PER_CLASS, featurize_cli, random_featurizer
from pixelboard.cli import main
from pixelboard.datasets.images import load_rgb
from pixelboard.featurizers import list_featurizers
from pixelboard.project import Project


def _cnn(**options):
    return random_featurizer("mobilenetv3_small", **options)


# --- the CLI ------------------------------------------------------------------------------------------------
def test_cli_featurizes_with_worker_processes(tmp_path, competition_folder):
    """The default path: decoding in a DataLoader worker process, CSV labels and meta.csv."""
    cf = competition_folder
    result = CliRunner().invoke(main, ["featurize", "--quiet", "--images", str(cf.images), "--labels",
                                       str(cf.train_csv), "--meta", str(cf.meta_csv), "--project", str(tmp_path / "p"),
                                       "--backbone", "mobilenetv3_small,grayscale20", "--random-weights",
                                       "--workers", "1", "--batch-size", "5"])
    assert result.exit_code == 0, result.output
    assert f"train: {len(cf.ids)} images" in result.stdout and "3 classes" in result.stdout
    project = Project(tmp_path / "p")
    assert project.featurizer_names("train") == ["grayscale20", "mobilenetv3_small-random"]
    assert project.load_image_set("train").class_names == {"0": "cat", "1": "dog", "2": "fox"}
    matrix = project.load_embeddings("train", "mobilenetv3_small-random").matrix
    in_process = _cnn().transform([load_rgb(cf.images / i) for i in cf.ids[:3]])
    np.testing.assert_allclose(matrix[:3], in_process, rtol=1e-4, atol=1e-4)


def test_cli_unlabelled_set_is_named_test(tmp_path, class_folder):
    result = featurize_cli("--images", class_folder / "cat", "--unlabelled", "--project", tmp_path / "p",
                  "--backbone", "grayscale20")
    assert result.exit_code == 0, result.output
    assert "unlabelled" in result.stdout
    assert Project(tmp_path / "p").load_embeddings("test", "grayscale20").matrix.shape == (IMAGES_PER_CLASS, 400)


def test_cli_interrupt_says_the_work_is_kept(tmp_path, class_folder, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("pixelboard.featurizers.pipeline.featurize_set", interrupted)
    result = featurize_cli("--images", class_folder, "--project", tmp_path / "p", "--backbone", "grayscale20")
    assert result.exit_code == 130 and "run the same command again to resume" in result.stderr
    assert "Traceback" not in result.output


def test_list_backbones():
    result = CliRunner().invoke(main, ["list", "backbones"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:2] == ["name", "input"]
    listed = {line.split()[0]: line for line in lines[1:]}
    assert sorted(listed) == list_featurizers()
    assert "224x224" in listed["efficientnet_lite0"] and "bundled" in listed["efficientnet_lite0"]
    assert "highest 1280" in listed["efficientnet_lite0"] and "low 40" in listed["efficientnet_lite0"]
    assert "20x20" in listed["grayscale20"] and "pixels 400" in listed["grayscale20"]
    assert "--weights" in listed["mobilenetv3"]
    assert listed["efficientnet_lite2"].split()[2] == "Apache-2.0"  # every curated entry shows its licence


# --- end to end on real images with real weights ------------------------------------------------------------
@pytest.mark.fashion_mnist
def test_real_fashion_mnist_embeddings_separate_the_classes(tmp_path):
    """10 classes x 12 real Fashion-MNIST images through the CLI with the bundled EfficientNet-Lite0.

    Thresholds separate real from random weights (measured: real 0.72-0.76 accuracy and a distance ratio of
    1.6-1.7 on this kind of subset; random weights 0.47-0.53 and 1.10-1.15). Chance is 0.10.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from pixelboard.datasets import fashion_mnist

    images, labels = fashion_mnist.load("test")
    chosen = fashion_mnist.balanced_subset(labels, per_class=12, seed=0)
    fashion_mnist.write_class_folders(tmp_path / "fashion", images[chosen], labels[chosen])
    result = CliRunner().invoke(main, ["featurize", "--quiet", "--images", str(tmp_path / "fashion"), "--project",
                                       str(tmp_path / "p"), "--backbone", "efficientnet_lite0"])
    assert result.exit_code == 0, result.output
    embeddings = Project(tmp_path / "p").load_embeddings("train", "efficientnet_lite0")
    assert embeddings.sidecar["description"]["weights"] != "random-seed0"
    X = np.asarray(embeddings.matrix)
    y = np.array([int(source.split("_")[0]) for source in embeddings.sources])
    assert X.shape == (120, 1752) and np.bincount(y).tolist() == [12] * 10

    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    distance = 1 - unit @ unit.T
    same = y[:, None] == y[None, :]
    off_diagonal = ~np.eye(len(y), dtype=bool)
    ratio = distance[~same].mean() / distance[same & off_diagonal].mean()
    assert ratio > 1.4, f"different classes are only {ratio:.2f}x farther apart than same classes"

    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    accuracy = cross_val_score(model, X, y, cv=folds).mean()
    assert accuracy > 0.6, f"3-fold accuracy {accuracy:.2f} on 10 classes"


def test_pruned_and_input_size_options_name_their_embeddings(tmp_path, class_folder):
    from conftest import featurize_cli

    result = featurize_cli("--images", class_folder, "--project", tmp_path / "p", "--backbone",
                           "efficientnet_lite0,grayscale20", "--random-weights", "--pruned", "--input-size", "64")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "p" / "embeddings" / "train").glob("*.npy")) == [
        "efficientnet_lite0-64px-random-pruned.npy", "grayscale20.npy"]
