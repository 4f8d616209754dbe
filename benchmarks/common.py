"""Helpers shared by the benchmarks: Fashion-MNIST competition folders, machine info, versions, results.

Not a benchmark itself. Scripts run as ``python benchmarks/<name>.py`` have ``benchmarks/`` on
``sys.path``, so they import this module as ``common``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pixelboard.datasets import fashion_mnist
from pixelboard.versions import library_versions

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PACKAGES = ("pixelboard", "torch", "timm", "numpy", "scikit-learn", "lightgbm", "xgboost", "catboost", "pillow")


def require_fashion_mnist() -> bool:
    """True when the Debian Fashion-MNIST files are there; otherwise say how to get them."""
    if fashion_mnist.available():
        return True
    print(f"Fashion-MNIST not found in {fashion_mnist.fashion_mnist_dir()}: apt-get install dataset-fashion-mnist",
          file=sys.stderr)
    return False


def balanced_fashion_mnist(split: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images of ``split`` (as equal a share of the 10 classes as ``n`` allows), seeded."""
    images, labels = fashion_mnist.load(split)
    chosen = fashion_mnist.balanced_subset(labels, per_class=-(-n // 10), seed=seed)
    if len(chosen) > n:  # n not a multiple of 10: drop a seeded random few, classes stay within one image
        chosen = np.sort(np.random.default_rng(seed).permutation(chosen)[:n])
    return images[chosen], labels[chosen]


def write_competition_folder(root: Path, split: str, images: np.ndarray, labels: np.ndarray,
                             with_targets: bool = True) -> tuple[Path, Path]:
    """``root/<split>/<split>_NNNNN.png`` + ``root/<split>.csv`` (ID,target, or ID only).

    Returns ``(image dir, csv)``. Labels always go to ``root/<split>_labels.csv`` for scoring, and
    ``root/meta.csv`` names the classes.
    """
    folder = root / split
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"{split}_{i:05d}.png" for i in range(len(images))]
    for image_id, image in zip(ids, images):
        Image.fromarray(image).save(folder / image_id)
    frame = pd.DataFrame({"ID": ids, "target": labels.astype(int)})
    csv = root / f"{split}.csv"
    (frame if with_targets else frame[["ID"]]).to_csv(csv, index=False)
    frame.to_csv(root / f"{split}_labels.csv", index=False)
    names = fashion_mnist.CLASS_NAMES
    pd.DataFrame({"target": range(len(names)), "class_name": names}).to_csv(root / "meta.csv", index=False)
    return folder, csv


def add_run_arguments(parser, output: str, device: str = "auto") -> None:
    """The options every Fashion-MNIST leaderboard benchmark takes: --jobs, --device, --seed,
    --out-dir, --quiet and --output (``RESULTS_DIR / output`` by default)."""
    parser.add_argument("--jobs", type=int, default=2, help="parallel fold fits, one thread each (default 2)")
    parser.add_argument("--device", default=device, help=f"featurizer device: auto, cpu, cuda, ... (default {device})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the image choice, the partition and the models")
    parser.add_argument("--out-dir", type=Path, default=None, help="images + project [default: a temp dir]")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / output)


def featurize_training_folder(project, root: Path, images: np.ndarray, labels: np.ndarray, backbones: list[str],
                              device: str = "auto", options=None) -> tuple[object, dict]:
    """Write ``images`` as the competition's ``train`` folder, save it as the project's ``train`` set and
    embed it with each backbone. Returns the image set and, per backbone, its featurize timings."""
    from pixelboard.datasets import read_image_set
    from pixelboard.featurizers import create_featurizer
    from pixelboard.featurizers.pipeline import FeaturizeOptions, featurize_set

    image_dir, csv = write_competition_folder(root, "train", images, labels)
    image_set = read_image_set(image_dir, name="train", labels_csv=csv, meta_csv=root / "meta.csv")
    project.save_image_set(image_set)
    timings = {}
    for name in backbones:
        featurizer = create_featurizer(name, device=device)
        result = featurize_set(project, image_set, featurizer, options or FeaturizeOptions())
        timings[name] = {"seconds": round(result.seconds, 2), "computed": result.n_computed, "cached": result.n_cached,
                         "n_features": featurizer.n_features, "device": str(getattr(featurizer, "device", "cpu"))}
        print(result.summary, flush=True)
    return image_set, timings


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def machine() -> dict:
    import torch

    return {"cpu": cpu_name(), "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "platform": platform.platform(), "load_average_1_5_15min": load_average()}


def versions() -> dict:
    return library_versions(PACKAGES)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def write_result(path: Path, record: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return path


def macro_f1_by_condition(y_true, y_pred, conditions: dict[str, np.ndarray]) -> dict[str, dict]:
    """Macro F1 (sklearn, over the labels present in each group) and image count per test condition;
    ``conditions`` maps a condition's name to a boolean mask of the test images it covers."""
    from sklearn.metrics import f1_score

    y_true, y_pred = np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)
    out = {}
    for name, mask in conditions.items():
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            out[name] = {"macro_f1": round(float(f1_score(y_true[mask], y_pred[mask], average="macro")), 4),
                         "images": int(mask.sum())}
    return out
