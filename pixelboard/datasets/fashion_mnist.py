"""Fashion-MNIST (MIT licence) from Debian's ``dataset-fashion-mnist`` package, as real test images.

Used by the end-to-end tests and benchmarks, and to build the bundled sample; nothing is downloaded.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
from PIL import Image

from pixelboard.errors import PixelboardError

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")


def fashion_mnist_dir() -> Path:
    return Path(os.environ.get("PIXELBOARD_FASHION_MNIST", DEBIAN_DIR))


def available() -> bool:
    return (fashion_mnist_dir() / "t10k-images-idx3-ubyte.gz").is_file()


def load(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images uint8 (n, 28, 28), labels int (n,))`` for ``split`` 'train' or 'test'."""
    prefix = {"train": "train", "test": "t10k"}[split]
    folder = fashion_mnist_dir()
    if not (folder / f"{prefix}-images-idx3-ubyte.gz").is_file():
        raise PixelboardError(f"Fashion-MNIST not found in {folder}: apt-get install dataset-fashion-mnist "
                              "(or set PIXELBOARD_FASHION_MNIST)")
    with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz") as handle:
        images = np.frombuffer(handle.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz") as handle:
        labels = np.frombuffer(handle.read(), dtype=np.uint8, offset=8).astype(np.int64)
    return images, labels


def balanced_subset(labels: np.ndarray, per_class: int, seed: int = 0, offset: int = 0) -> np.ndarray:
    """Indices of ``per_class`` images of every class (skipping the first ``offset`` of each), seeded."""
    rng = np.random.default_rng(seed)
    chosen = []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        chosen.append(members[offset:offset + per_class])
    return np.sort(np.concatenate(chosen))


def write_class_folders(root: str | os.PathLike, images: np.ndarray, labels: np.ndarray) -> Path:
    """Write images as PNGs into ``root/<class index>_<name>/<n>.png`` (the folder-per-class layout)."""
    root = Path(root)
    for n, (image, label) in enumerate(zip(images, labels)):
        folder = root / f"{label}_{CLASS_NAMES[label].split('/')[0].replace(' ', '_').lower()}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{n:05d}.png")
    return root
