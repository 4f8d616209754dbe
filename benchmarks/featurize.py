"""Featurize throughput: runtimes and precisions side by side, and the whole pipeline against the forward pass.

    python benchmarks/featurize.py [--images 256] [--f1-images 600] [--device cpu] [--backbone efficientnet_lite0]
                                   [--batch-size 32] [--configs torch-fp32,openvino-fp32,...] [--pipeline-images 512]

On real Fashion-MNIST images written as PNG files, in one run, with the same backbone and batch size:

(a) forward only, per configuration (``CONFIGS``: a runtime x precision, plus torch's own levers:
    BatchNorm folded (``pruned``), channels-last memory, ``torch.compile``): the embedding of pre-decoded
    uint8 batches, the configurations timed in turn batch by batch (round robin) so that the machine's
    load falls on all alike; the largest relative difference of each one's embeddings from torch fp32's;
    and the macro-F1 difference it makes on a real set: a logistic regression, 5-fold cross-validated
    predictions on ``--f1-images`` balanced Fashion-MNIST training images, the same folds for every
    configuration.
(b) pipeline: ``featurize_set`` on a fresh project (hash -> decode in DataLoader workers -> preprocess ->
    embed -> cache -> embeddings file) with the configurations of ``--pipeline-configs``, against (a).

Targets: forward >= 2x torch fp32's, at a relative difference <= 1e-4 (fp32) or a macro-F1 difference
<= 0.003 (bf16); pipeline >= 0.9 of the forward pass. Results go to ``benchmarks/results/featurize.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from common import balanced_fashion_mnist, cpu_name, load_average, machine, now, require_fashion_mnist, versions, \
    write_result

from pixelboard.datasets import fashion_mnist, read_image_set
from pixelboard.errors import PixelboardError
from pixelboard.featurizers import create_featurizer
from pixelboard.featurizers.extract import default_workers
from pixelboard.featurizers.pipeline import FeaturizeOptions, featurize_set
from pixelboard.project import Project

TARGETS = {"forward_speedup": 2.0, "fp32_relative_difference": 1e-4, "macro_f1_difference": 0.003,
           "pipeline_over_forward": 0.9}
RESULTS = Path(__file__).resolve().parent / "results" / "featurize.json"
BASELINE = "torch-fp32"


@dataclass(frozen=True)
class Config:
    """One way to run the featurizer: factory options, plus a torch-only lever applied to its graph."""

    runtime: str = "torch"
    precision: str = "fp32"
    pruned: bool = False
    lever: str = ""  # "channels_last" or "compile" (torch only; measured here, not a featurize option)


CONFIGS = {
    "torch-fp32": Config(),
    "torch-fp32-pruned": Config(pruned=True),
    "torch-fp32-channels_last": Config(lever="channels_last"),
    "torch-fp32-compile": Config(lever="compile"),
    "torch-bf16": Config(precision="bf16"),
    "onnx-fp32": Config("onnx"),
    "openvino-fp32": Config("openvino"),
    "openvino-bf16": Config("openvino", "bf16"),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=256, help="images timed per configuration (default 256)")
    parser.add_argument("--f1-images", type=int, default=600, help="training images of the macro-F1 check (default 600)")
    parser.add_argument("--pipeline-images", type=int, default=512, help="images of the pipeline runs (default 512)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (default cpu)")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None, help="decoding workers [default: the pipeline's]")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated, from {', '.join(CONFIGS)}")
    parser.add_argument("--pipeline-configs", default="torch-fp32,openvino-fp32,openvino-bf16")
    parser.add_argument("--repeats", type=int, default=2, help="round-robin passes over the timed images (default 2)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def build(args, config: Config):
    """(featurizer, embed): ``embed`` maps a uint8 batch to float32 rows, as the configuration runs it."""
    featurizer = create_featurizer(args.backbone, device=args.device, runtime=config.runtime,
                                   precision=config.precision, **({"pruned": True} if config.pruned else {}))
    if not config.lever:
        return featurizer, featurizer.embed
    from pixelboard.featurizers.timm_backbones import _EmbeddingGraph

    graph = _EmbeddingGraph(featurizer).eval()
    if config.lever == "channels_last":
        # The uint8 NHWC batch, permuted, is already channels-last in memory; this makes the weights so too.
        featurizer.model.to(memory_format=torch.channels_last)
    elif config.lever == "compile":
        graph = torch.compile(graph, dynamic=False)

    @torch.inference_mode()
    def embed(batch):
        return graph(batch.to(featurizer.device)).float().cpu().numpy()
    return featurizer, embed


def forward_round_robin(embeds: dict[str, Callable], batches: list[torch.Tensor],
                        repeats: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Images/s of each configuration (every batch embedded by each in turn, after one warm-up batch each),
    and each one's rows of the last pass."""
    seconds = dict.fromkeys(embeds, 0.0)
    rows = {name: [] for name in embeds}
    for embed in embeds.values():
        embed(batches[0])
    for repeat in range(repeats):
        for batch in batches:
            for name, embed in embeds.items():
                started = time.perf_counter()
                out = embed(batch)
                seconds[name] += time.perf_counter() - started
                if repeat == repeats - 1:
                    rows[name].append(out)
    images = repeats * sum(len(b) for b in batches)
    return {name: images / s for name, s in seconds.items()}, {name: np.concatenate(r) for name, r in rows.items()}


def macro_f1_of(X: np.ndarray, y: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=3000))
    predicted = cross_val_predict(model, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=0))
    return float(f1_score(y, predicted, average="macro"))


def embed_all(embed, arrays: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate([embed(torch.from_numpy(arrays[i:i + batch_size])) for i in range(0, len(arrays), batch_size)])


def pipeline(featurizer, image_dir: Path, project_dir: Path, batch_size: int, workers: int) -> float:
    image_set = read_image_set(image_dir, name="train")
    started = time.perf_counter()
    result = featurize_set(Project(project_dir), image_set, featurizer,
                           FeaturizeOptions(batch_size=batch_size, workers=workers, progress=False))
    seconds = time.perf_counter() - started
    assert result.n_computed == len(image_set.ids), result.summary
    return len(image_set.ids) / seconds


def main(argv=None) -> int:
    args = parse_args(argv)
    if not require_fashion_mnist():
        return 2
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names + args.pipeline_configs.split(",") if n not in CONFIGS]
    if unknown:
        print(f"Error: unknown configuration(s) {', '.join(unknown)}; choose from {', '.join(CONFIGS)}", file=sys.stderr)
        return 2
    names = [BASELINE] + [n for n in names if n != BASELINE]
    load_before = load_average()
    built, skipped = {}, {}
    for name in names:
        try:
            started = time.perf_counter()
            built[name] = build(args, CONFIGS[name])
            pre = built[name][0].preprocessor
            built[name][1](torch.zeros((1, pre.height, pre.width, 3), dtype=torch.uint8))
            print(f"{name}: ready in {time.perf_counter() - started:.1f} s (export/compile + first batch)", flush=True)
        except (PixelboardError, RuntimeError, ImportError) as exc:  # e.g. the extra is missing: say so, go on
            skipped[name] = str(exc).splitlines()[0]
            print(f"{name}: skipped ({skipped[name]})", flush=True)
    featurizer = built[BASELINE][0]
    pre = featurizer.preprocessor
    test_images, _ = balanced_fashion_mnist("test", args.images, seed=0)
    timed = np.stack([pre(_rgb(img)) for img in test_images])
    batches = [torch.from_numpy(timed[i:i + args.batch_size]) for i in range(0, len(timed), args.batch_size)]
    rates, timed_rows = forward_round_robin({n: e for n, (_, e) in built.items()}, batches, args.repeats)
    reference = timed_rows[BASELINE]
    # Macro F1 for the configurations whose numbers differ beyond float tolerance (and the reference);
    # an fp32 one within 1e-4 relative cannot move a prediction that matters.
    train_images, train_labels = balanced_fashion_mnist("train", args.f1_images, seed=0)
    f1_arrays = np.stack([pre(_rgb(img)) for img in train_images])
    reference_f1 = macro_f1_of(embed_all(built[BASELINE][1], f1_arrays, args.batch_size), train_labels)
    configs = {}
    for name, (feat, embed) in built.items():
        difference = float(np.abs(timed_rows[name] - reference).max() / np.abs(reference).max())
        f1 = None
        if name == BASELINE:
            f1 = reference_f1
        elif difference > TARGETS["fp32_relative_difference"]:
            f1 = macro_f1_of(embed_all(embed, f1_arrays, args.batch_size), train_labels)
        configs[name] = {"runtime": CONFIGS[name].runtime, "precision": CONFIGS[name].precision,
                         "featurizer": feat.entry_name(), "forward_images_per_s": round(rates[name], 2),
                         "speedup_over_torch_fp32": round(rates[name] / rates[BASELINE], 3),
                         "max_relative_difference": difference,
                         "macro_f1": None if f1 is None else round(f1, 4),
                         "macro_f1_difference": None if f1 is None else round(f1 - reference_f1, 4)}
        f1_text = "" if f1 is None else f"  macro F1 {f1:.4f} ({f1 - reference_f1:+.4f})"
        print(f"{name:26s} {rates[name]:8.1f} images/s ({rates[name] / rates[BASELINE]:5.2f}x)  max rel diff "
              f"{difference:.1e}{f1_text}", flush=True)
    workers = default_workers() if args.workers is None else args.workers
    pipelines = {}
    with tempfile.TemporaryDirectory(prefix="pixelboard-bench-") as tmp:
        images, labels = balanced_fashion_mnist("test", args.pipeline_images, seed=1)
        image_dir = fashion_mnist.write_class_folders(Path(tmp) / "images", images, labels)
        for name in [n for n in args.pipeline_configs.split(",") if n in built]:
            rate = pipeline(built[name][0], image_dir, Path(tmp) / f"project-{name}", args.batch_size, workers)
            # The forward figure again right after, on the same featurizer: the load of this moment.
            forward = forward_round_robin({name: built[name][1]}, batches[:4], 1)[0][name]
            pipelines[name] = {"pipeline_images_per_s": round(rate, 2), "forward_images_per_s_just_after": round(forward, 2),
                               "pipeline_over_forward": round(rate / forward, 3)}
            print(f"pipeline {name:17s} {rate:8.1f} images/s, forward just after {forward:8.1f} "
                  f"-> {rate / forward:.2f}", flush=True)
    record = {
        "benchmark": "featurize", "date": now(), "backbone": args.backbone, "device": args.device,
        "device_name": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else cpu_name(),
        "batch_size": args.batch_size, "workers": workers, "timed_images": len(timed), "repeats": args.repeats,
        "image_source": "Fashion-MNIST (test split timed and piped as 28x28 PNG; train split for macro F1)",
        "f1_check": {"images": len(train_labels), "model": "StandardScaler + LogisticRegression(C=0.05), 5-fold "
                     "cross_val_predict, macro F1", "torch_fp32_macro_f1": round(reference_f1, 4)},
        "machine": machine(), "load_average_before": load_before, "load_average_after": load_average(),
        "versions": versions(), "targets": TARGETS, "configs": configs, "skipped": skipped, "pipeline": pipelines,
    }
    write_result(args.output, record)
    print(f"-> {args.output}")
    return 0


def _rgb(image: np.ndarray):
    from PIL import Image

    return Image.fromarray(image).convert("RGB")


if __name__ == "__main__":
    sys.exit(main())
