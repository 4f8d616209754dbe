"""The bundled sample (800 Fashion-MNIST images, MIT) written out as a competition-format folder."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pixelboard import atomic
from pixelboard.datasets.fashion_mnist import CLASS_NAMES


def load_sample() -> dict[str, np.ndarray]:
    with resources.files("pixelboard.datasets").joinpath("sample/fashion_mnist_sample.npz").open("rb") as handle:
        with np.load(handle) as data:
            return {k: data[k] for k in data.files}


def write_competition_folder(root: str | Path) -> Path:
    """``root/train/*.png, root/test/*.png, train.csv (ID,target), test.csv (ID), meta.csv``.

    Existing identical files are left alone, so a second demo run hits the embedding cache.
    Returns ``root``. The test labels go to ``test_labels.csv`` (for scoring, never read by predict).
    """
    root = Path(root)
    sample = load_sample()
    for split in ("train", "test"):
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        ids = [f"{split}_{i:04d}.png" for i in range(len(sample[f"{split}_labels"]))]
        for image_id, image in zip(ids, sample[f"{split}_images"]):
            path = folder / image_id
            if not path.exists():
                Image.fromarray(image).save(path)
        labels = pd.DataFrame({"ID": ids, "target": sample[f"{split}_labels"]})
        if split == "train":
            atomic.write_text(root / "train.csv", labels.to_csv(index=False))
        else:
            atomic.write_text(root / "test.csv", labels[["ID"]].to_csv(index=False))
            atomic.write_text(root / "test_labels.csv", labels.to_csv(index=False))
    meta = pd.DataFrame({"target": range(len(CLASS_NAMES)), "class_name": CLASS_NAMES})
    atomic.write_text(root / "meta.csv", meta.to_csv(index=False))
    return root
