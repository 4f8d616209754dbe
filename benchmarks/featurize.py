"""Featurize throughput: the whole pipeline against the network's forward pass alone.

    python benchmarks/featurize.py [--images 512] [--device auto] [--backbone efficientnet_lite0] [--batch-size 32]

On N real Fashion-MNIST images written as PNG files, in one run, with the same featurizer and batch size:

(a) forward only: ``featurizer.embed`` on uint8 batches that are already decoded and preprocessed;
(b) pipeline: ``featurize_set`` on a fresh project (hash -> decode in DataLoader workers -> preprocess ->
    embed -> cache shards -> embeddings file), with the default worker count.

Target: (b) >= 0.8 x (a), i.e. decoding and caching hide behind the network. For timm backbones,
(c) the same forward pass with BatchNorm folded into the convolutions (``pruned=True``), timed
alternately with (a) in the same run, and the largest difference between the two embeddings. Results
go to ``benchmarks/results/featurize.json`` (and are printed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from common import cpu_name

from pixelboard.datasets import fashion_mnist, read_image_set
from pixelboard.errors import PixelboardError
from pixelboard.datasets.images import load_rgb
from pixelboard.featurizers import create_featurizer
from pixelboard.featurizers.extract import default_workers
from pixelboard.featurizers.pipeline import FeaturizeOptions, featurize_set
from pixelboard.project import Project

TARGET_RATIO = 0.8
RESULTS = Path(__file__).resolve().parent / "results" / "featurize.json"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=512, help="number of Fashion-MNIST images (default 512)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None, help="decoding workers [default: the pipeline's]")
    parser.add_argument("--weights", default=None, help="weights file for the backbone (see featurize --weights)")
    parser.add_argument("--random-weights", action="store_true", help="random weights: same speed, no file needed")
    parser.add_argument("--repeats", type=int, default=1, help="forward-only passes over the images (best is kept)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def write_images(folder: Path, n: int) -> Path:
    images, labels = fashion_mnist.load("test")
    per_class = -(-n // 10)
    chosen = fashion_mnist.balanced_subset(labels, per_class=per_class, seed=0)[:n]
    return fashion_mnist.write_class_folders(folder, images[chosen], labels[chosen])


def forward_only(featurizer, paths: list[Path], batch_size: int, repeats: int) -> float:
    """Images/s of ``embed`` alone on pre-decoded, pre-processed uint8 batches (after one warm-up batch)."""
    arrays = np.stack([featurizer.preprocessor(load_rgb(p)) for p in paths])
    batches = [torch.from_numpy(arrays[i:i + batch_size]) for i in range(0, len(arrays), batch_size)]
    featurizer.embed(batches[0])  # warm-up: allocator, cuDNN autotuning, lazy init
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for batch in batches:
            featurizer.embed(batch)  # returns numpy: the device is synchronised
        best = min(best, time.perf_counter() - started)
    return len(paths) / best


def pipeline(featurizer, image_dir: Path, project_dir: Path, batch_size: int,
             workers: int | None) -> tuple[float, dict]:
    image_set = read_image_set(image_dir, name="train")
    options = FeaturizeOptions(batch_size=batch_size, workers=workers, progress=False)
    started = time.perf_counter()
    result = featurize_set(Project(project_dir), image_set, featurizer, options)
    seconds = time.perf_counter() - started
    assert result.n_computed == len(image_set.ids), result.summary
    return len(image_set.ids) / seconds, {"seconds": round(seconds, 3), "summary": result.summary}


def compare_pruned(args, options: dict, paths: list[Path]) -> dict:
    """Forward passes of the plain and the BatchNorm-folded featurizer, alternated to share the load."""
    plain = create_featurizer(args.backbone, device=args.device, **options)
    pruned = create_featurizer(args.backbone, device=args.device, pruned=True, **options)
    batch = torch.from_numpy(np.stack([plain.preprocessor(load_rgb(p)) for p in paths[:args.batch_size]]))
    a, b = plain.embed(batch), pruned.embed(batch)
    times = {"plain": [], "pruned": []}
    for _ in range(max(3, args.repeats)):
        for name, featurizer in (("plain", plain), ("pruned", pruned)):
            started = time.perf_counter()
            featurizer.embed(batch)
            times[name].append(time.perf_counter() - started)
    rate = {k: len(batch) / float(np.median(v)) for k, v in times.items()}
    return {"plain_images_per_s": round(rate["plain"], 2), "pruned_images_per_s": round(rate["pruned"], 2),
            "speedup": round(rate["pruned"] / rate["plain"], 3),
            "max_abs_difference": float(np.abs(a - b).max()), "max_abs_value": float(np.abs(a).max())}


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()


def main(argv=None) -> int:
    args = parse_args(argv)
    if not fashion_mnist.available():
        print(f"Fashion-MNIST not found in {fashion_mnist.fashion_mnist_dir()}: apt-get install dataset-fashion-mnist",
              file=sys.stderr)
        return 2
    try:
        options = {} if args.backbone == "grayscale20" else {"weights": args.weights,
                                                              "random_weights": args.random_weights}
        featurizer = create_featurizer(args.backbone, device=args.device, **options)
    except PixelboardError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    workers = default_workers() if args.workers is None else args.workers
    with tempfile.TemporaryDirectory(prefix="pixelboard-bench-") as tmp:
        image_dir = write_images(Path(tmp) / "images", args.images)
        paths = read_image_set(image_dir, name="train").paths()
        forward = forward_only(featurizer, paths, args.batch_size, args.repeats)
        whole, detail = pipeline(featurizer, image_dir, Path(tmp) / "project", args.batch_size, workers)
        pruned = compare_pruned(args, options, paths) if args.backbone != "grayscale20" else None
    ratio = whole / forward
    record = {
        "benchmark": "featurize",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "backbone": featurizer.entry_name(),
        "weights": featurizer.weights.source if hasattr(featurizer, "weights") else None,
        "images": len(paths),
        "image_source": "Fashion-MNIST test split, 28x28 PNG",
        "batch_size": args.batch_size,
        "workers": workers,
        "device": str(featurizer.device),
        "device_name": device_name(featurizer.device),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "timm": metadata.version("timm"),
                     "pixelboard": metadata.version("pixelboard")},
        "forward_only_images_per_s": round(forward, 2),
        "pipeline_images_per_s": round(whole, 2),
        "pipeline_over_forward": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
        "pipeline": detail,
        "pruned": pruned,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")
    print(f"{record['backbone']} on {record['device_name']} ({record['device']}), batch {args.batch_size}, "
          f"{workers} worker(s), {len(paths)} images")
    print(f"forward only : {forward:8.1f} images/s")
    print(f"pipeline     : {whole:8.1f} images/s")
    print(f"ratio        : {ratio:8.2f} (target >= {TARGET_RATIO})  -> {args.output}")
    if pruned:
        print(f"pruned       : forward {pruned['plain_images_per_s']:.1f} -> {pruned['pruned_images_per_s']:.1f} images/s "
              f"({pruned['speedup']:.2f}x); max |difference| {pruned['max_abs_difference']:.1e} "
              f"(embedding values up to {pruned['max_abs_value']:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
