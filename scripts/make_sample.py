"""Rebuild the bundled sample (pixelboard/datasets/sample/) from Debian's dataset-fashion-mnist.

    apt-get install dataset-fashion-mnist && python scripts/make_sample.py
"""

from pathlib import Path

import numpy as np

from pixelboard.datasets import fashion_mnist

TRAIN_PER_CLASS, TEST_PER_CLASS = 60, 20


def main() -> None:
    images, labels = fashion_mnist.load("test")
    train = fashion_mnist.balanced_subset(labels, TRAIN_PER_CLASS, seed=2024)
    rest = np.setdiff1d(np.arange(len(labels)), train)
    test = rest[fashion_mnist.balanced_subset(labels[rest], TEST_PER_CLASS, seed=2025)]
    out = Path(__file__).resolve().parents[1] / "pixelboard" / "datasets" / "sample" / "fashion_mnist_sample.npz"
    np.savez_compressed(out, train_images=images[train], train_labels=labels[train], test_images=images[test],
                        test_labels=labels[test], source_index_train=train, source_index_test=test)
    print(f"wrote {out} ({out.stat().st_size:,} bytes): {len(train)} train, {len(test)} test images")


if __name__ == "__main__":
    main()
