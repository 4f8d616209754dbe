"""Shared fixtures: small generated image sets, and the Fashion-MNIST skip marker.

- ``@pytest.mark.fashion_mnist``: the test needs Debian's ``dataset-fashion-mnist``; it is skipped
  (the only allowed skip) when :func:`pixelboard.datasets.fashion_mnist.available` is false.
- ``class_folder``: folder-per-class, 3 classes x 4 images (PNG and JPEG, 32-64 px).
- ``competition_folder``: images + ``train.csv`` (``ID,target``) + ``meta.csv`` (``target,class_name``).
- ``write_image(path, seed=..., size=...)``: one distinct generated RGB image, in the format of the suffix.

Torch runs single-threaded in tests (see below); subprocesses get ``OMP_NUM_THREADS=1`` from ``os.environ``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pixelboard.datasets import fashion_mnist

# One torch thread: tests run on small batches on shared CI cores, where OpenMP threads spinning on
# oversubscribed cores make a forward pass up to 100x slower than a single thread.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")

CLASSES = ("cat", "dog", "fox")
IMAGES_PER_CLASS = 4


# --- Fashion-MNIST marker -------------------------------------------------------------------------
def pytest_configure(config):
    config.addinivalue_line("markers", "fashion_mnist: needs Debian's dataset-fashion-mnist (skipped without it)")


def pytest_collection_modifyitems(config, items):
    if fashion_mnist.available():
        return
    skip = pytest.mark.skip(reason=f"Fashion-MNIST not found in {fashion_mnist.fashion_mnist_dir()} "
                                   "(apt-get install dataset-fashion-mnist)")
    for item in items:
        if "fashion_mnist" in item.keywords:
            item.add_marker(skip)


requires_fashion_mnist = pytest.mark.fashion_mnist  # alias for `from conftest import requires_fashion_mnist`


# --- generated images -----------------------------------------------------------------------------
def generated_rgb(seed: int, size: tuple[int, int] = (48, 40)) -> Image.Image:
    """A distinct RGB image for every seed: a smooth colour gradient plus seeded noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    base = rng.integers(0, 256, size=3)
    array = (base + 3 * xx[..., None] * (seed % 5 + 1) + 2 * yy[..., None]) % 256
    array = array + rng.integers(-20, 21, size=array.shape)
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "RGB")


def write_image(path: str | Path, seed: int = 0, size: tuple[int, int] = (48, 40)) -> Path:
    """Save :func:`generated_rgb` at ``path`` (format from the suffix), creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    generated_rgb(seed, size).save(path)
    return path


@pytest.fixture
def class_folder(tmp_path) -> Path:
    """``<tmp>/classes/<cat|dog|fox>/<n>.png|.jpg``: 3 classes x 4 images of 32-64 px."""
    root = tmp_path / "classes"
    for c, name in enumerate(CLASSES):
        for n in range(IMAGES_PER_CLASS):
            seed = 10 * c + n
            suffix = ".jpg" if n % 2 else ".png"
            write_image(root / name / f"{n}{suffix}", seed=seed, size=(32 + 8 * n, 64 - 8 * c))
    return root


@dataclass(frozen=True)
class CompetitionFolder:
    """The competition layout: ``images/<ID>.jpg``, ``train.csv`` (ID,target) and ``meta.csv``."""

    root: Path
    images: Path
    train_csv: Path
    meta_csv: Path
    ids: tuple[str, ...]
    targets: tuple[int, ...]


@pytest.fixture
def competition_folder(tmp_path) -> CompetitionFolder:
    """12 JPEGs named by hex IDs; targets 0..2 (4 each); IDs in train.csv carry the extension."""
    root = tmp_path / "competition"
    ids, targets = [], []
    for n in range(len(CLASSES) * IMAGES_PER_CLASS):
        image_id = f"{0xa0 + n:x}.jpg"
        write_image(root / "images" / image_id, seed=100 + n, size=(40 + 2 * n, 36))
        ids.append(image_id)
        targets.append(n % len(CLASSES))
    train_csv = root / "train.csv"
    train_csv.write_text("ID,target\n" + "".join(f"{i},{t}\n" for i, t in zip(ids, targets)))
    meta_csv = root / "meta.csv"
    meta_csv.write_text("target,class_name\n" + "".join(f"{t},{name}\n" for t, name in enumerate(CLASSES)))
    return CompetitionFolder(root, root / "images", train_csv, meta_csv, tuple(ids), tuple(targets))


# --- synthetic embedding projects (leaderboard tests: no CNN needed) ------------------------------
def write_embedding_project(root: Path, *, n_classes: int = 3, per_class: int = 20, dims: int = 12,
                            featurizers=("fake_a", "fake_b"), seed: int = 0, separation: float = 2.5,
                            augment_copies: int = 0, content=None) -> Path:
    """A project with a labelled ``train`` manifest and Gaussian-blob embeddings per featurizer.

    Labels are ints (as a competition CSV gives them). ``augment_copies`` adds noisy copies of every
    image as augmented rows (``id#copyN``), exactly as ``featurize --augment`` lays them out.
    ``content`` gives each image's content key (default: all different); equal keys are duplicates.
    """
    from pixelboard.datasets.sources import ImageSet
    from pixelboard.project import Project

    rng = np.random.default_rng(seed)
    ids = [f"img_{i:04d}.png" for i in range(n_classes * per_class)]
    labels = [i % n_classes for i in range(len(ids))]
    project = Project(root)
    project.save_image_set(ImageSet("train", root / "images", ids, list(ids), labels))
    content_of = dict(zip(ids, content or [f"content-{i}" for i in ids]))
    for f, name in enumerate(featurizers):
        centers = rng.normal(0, separation, size=(n_classes, dims))
        originals = centers[labels] + rng.normal(0, 1, size=(len(ids), dims))
        blocks, row_ids, sources, augs = [originals], list(ids), list(ids), [""] * len(ids)
        for copy in range(augment_copies):
            blocks.append(originals + rng.normal(0, 0.3, size=originals.shape))
            row_ids += [f"{i}#copy{copy}" for i in ids]
            sources += ids
            augs += [f"copy{copy}"] * len(ids)
        matrix = np.vstack(blocks).astype(np.float32)
        sidecar = {"set": "train", "featurizer": name, "backbone": name, "fingerprint": f"fp-{name}-{seed}",
                   "levels": ["low", "high"], "level_slices": {"low": [0, dims // 2], "high": [dims // 2, dims]},
                   "n_features": dims, "augment": {"copies": augment_copies},
                   "rows": {"ids": row_ids, "sources": sources, "augmentations": augs,
                            "content": [content_of[s] for s in sources]}, "skipped": []}
        project.save_embeddings("train", name, matrix, sidecar)
    return root


@pytest.fixture
def embedding_project(tmp_path) -> Path:
    return write_embedding_project(tmp_path / "project")


# --- featurizer helpers (test_featurizers.py, test_weights.py) -------------------------------------------
SAMPLE_IMAGES = [generated_rgb(seed, size) for seed, size in ((1, (48, 40)), (2, (30, 60)), (3, (64, 64)))]


def random_featurizer(name, **options):
    """A featurizer with seeded random weights on the CPU: two of them are identical."""
    from pixelboard.featurizers import create_featurizer

    return create_featurizer(name, random_weights=True, device="cpu", **options)


def uint8_batch(featurizer, images=SAMPLE_IMAGES) -> torch.Tensor:
    return torch.from_numpy(np.stack([featurizer.preprocessor(img) for img in images]))


def normalised(featurizer, batch: torch.Tensor) -> torch.Tensor:
    """Scale and normalise independently of ``embed``: with timm's own mean/std."""
    import timm

    config = timm.data.resolve_model_data_config(featurizer.model)
    mean = torch.tensor(config["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(config["std"]).view(1, 3, 1, 1)
    return (batch.permute(0, 3, 1, 2).float() / 255 - mean) / std


def featurize_cli(*args):
    """``pixelboard featurize --quiet --workers 0 ARGS`` through click's test runner."""
    from click.testing import CliRunner

    from pixelboard.cli import main

    return CliRunner().invoke(main, ["featurize", "--quiet", "--workers", "0", *map(str, args)])


# --- featurize helpers (test_featurize_pipeline.py, test_featurize_errors.py) ------------------------------
def count_decodes(monkeypatch) -> list:
    """Record every image the extractor decodes (works with workers=0)."""
    from pixelboard.datasets.images import load_rgb

    decoded = []

    def counting_load_rgb(path, **kwargs):
        decoded.append(path)
        return load_rgb(path, **kwargs)

    monkeypatch.setattr("pixelboard.featurizers.extract.load_rgb", counting_load_rgb)
    return decoded


def no_temp_files(root) -> None:
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]
