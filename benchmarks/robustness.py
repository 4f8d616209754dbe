"""Robustness to rotations and flips: train on upright images, test on turned and mirrored ones.

    python benchmarks/robustness.py [--train 800] [--test 400] [--augment dihedral]
                                    [--tta rot90,rot180,rot270,hflip] [--blueprints lr_l2] [--out-dir DIR]

Protocol (like the seed competition's): N balanced upright Fashion-MNIST training images (train split) in
the competition format (``train/`` + ``train.csv``); M other images (test split, balanced), each rotated
by a seeded random multiple of 90 degrees and then mirrored left-right with probability 0.5, written as
``test/`` + ``test.csv`` (IDs only) with the true labels kept aside. Four configurations, each with its
own leaderboard run (stratified 20% holdout + 5 folds, seed 0) and its own test set name, in one
project whose embedding cache (keyed by image content + transform) they share:

(a) neither:       featurize train, leaderboard, predict test;
(b) augmentation:  featurize train with ``--augment`` (set ``train_aug``), leaderboard, predict test;
(c) TTA:           the model of (a), predict with ``--tta``;
(d) both:          the model of (b), predict with ``--tta``.

It calls the library behind ``pixelboard featurize|leaderboard|predict`` (``featurize_set``,
``run_leaderboard``, ``predict``). Each submission is scored with sklearn's macro F1 against the kept-aside
labels. Because the cache is shared, each configuration's seconds count only what it computed anew.
Results go to ``benchmarks/results/robustness.json`` (and are printed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import RESULTS_DIR, balanced_fashion_mnist, load_average, machine, now, require_fashion_mnist, versions, \
    write_competition_folder, write_result
from sklearn.metrics import f1_score

from pixelboard.commands.common import split_list
from pixelboard.datasets import read_image_set
from pixelboard.errors import PixelboardError
from pixelboard.featurizers import create_featurizer
from pixelboard.featurizers.augment import parse_transforms
from pixelboard.featurizers.pipeline import FeaturizeOptions, featurize_set
from pixelboard.leaderboard.runner import LeaderboardOptions, run_leaderboard
from pixelboard.leaderboard.store import RunStore
from pixelboard.predict import load_run_model, predict
from pixelboard.project import Project

CONFIGS = {  # name: (training set, use TTA, description)
    "neither": ("train", False, "upright training images, no TTA"),
    "augmentation": ("train_aug", False, "train-time augmentation"),
    "tta": ("train", True, "model of 'neither' + test-time augmentation"),
    "both": ("train_aug", True, "model of 'augmentation' + test-time augmentation"),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=800, help="upright training images, balanced (default 800)")
    parser.add_argument("--test", type=int, default=400, help="turned/mirrored test images (default 400)")
    parser.add_argument("--augment", default="dihedral", help="train-time transforms (dihedral: all 7 rotations/flips)")
    parser.add_argument("--tta", default="rot90,rot180,rot270,hflip", help="test-time transforms")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--blueprints", default="lr_l2", help="comma-separated (default lr_l2: fast, strong)")
    parser.add_argument("--blenders", default="", help="comma-separated blenders (default none)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel fold fits")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0, help="seed of the image choice, the turns/flips and the models")
    parser.add_argument("--out-dir", type=Path, default=None, help="images + project [default: a temp dir]")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "robustness.json")
    return parser.parse_args(argv)


def turn_and_flip(images: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each image rotated counter-clockwise by k*90 degrees (k uniform in 0..3), then mirrored with p=0.5."""
    rng = np.random.default_rng([seed, 90])
    turns = rng.integers(0, 4, size=len(images))
    flips = rng.random(len(images)) < 0.5
    out = np.stack([np.fliplr(np.rot90(im, k)) if f else np.rot90(im, k) for im, k, f in zip(images, turns, flips)])
    return np.ascontiguousarray(out), turns, flips


def prepare(root: Path, args) -> dict:
    train_images, train_labels = balanced_fashion_mnist("train", args.train, seed=args.seed)
    test_images, test_labels = balanced_fashion_mnist("test", args.test, seed=args.seed)
    test_images, turns, flips = turn_and_flip(test_images, args.seed)
    train_dir, train_csv = write_competition_folder(root, "train", train_images, train_labels)
    test_dir, test_csv = write_competition_folder(root, "test", test_images, test_labels, with_targets=False)
    return {"train_dir": train_dir, "train_csv": train_csv, "test_dir": test_dir, "test_csv": test_csv,
            "truth": pd.read_csv(root / "test_labels.csv").assign(
                orientation=[f"rot{90 * k}" + ("+hflip" if f else "") for k, f in zip(turns, flips)]),
            "turns": np.bincount(turns, minlength=4).tolist(), "flipped": int(flips.sum())}


def run(args, root: Path) -> tuple[dict, dict]:
    data = prepare(root, args)
    project = Project(root / "project")
    featurizer = create_featurizer(args.backbone, device=args.device)
    results, trained = {}, {}
    for config, (train_set, use_tta, description) in CONFIGS.items():
        times = {}
        if train_set not in trained:  # (a) and (b) featurize and fit; (c) and (d) reuse their models
            image_set = read_image_set(data["train_dir"], name=train_set, labels_csv=data["train_csv"],
                                       meta_csv=root / "meta.csv")
            project.save_image_set(image_set)
            augment = parse_transforms(args.augment) if train_set == "train_aug" else []
            started = time.perf_counter()
            result = featurize_set(project, image_set, featurizer,
                                   FeaturizeOptions(augment=augment, seed=args.seed, progress=not args.quiet))
            times["featurize_train"] = round(time.perf_counter() - started, 2)
            print(result.summary, flush=True)
            options = LeaderboardOptions(run=f"run_{train_set}", set_name=train_set, seed=args.seed, jobs=args.jobs,
                                         blueprints=split_list(args.blueprints), blenders=split_list(args.blenders),
                                         progress=not args.quiet)
            board = run_leaderboard(project, options)
            times["leaderboard"] = round(board.seconds, 2)
            trained[train_set] = {"run": options.run, "training_rows": result.n_rows, "best": board.rows[0]}
        model = trained[train_set]
        test_set = read_image_set(data["test_dir"], name=f"test_{config}", labels_csv=data["test_csv"], unlabelled=True)
        project.save_image_set(test_set)
        tta = parse_transforms(args.tta) if use_tta else []
        started = time.perf_counter()
        fitted = load_run_model(RunStore(project.run_dir(model["run"])), "best")
        prediction = predict(project, test_set, fitted, tta=tta, device=args.device,
                             options=FeaturizeOptions(progress=not args.quiet))
        times["predict"] = round(time.perf_counter() - started, 2)
        scored = prediction.to_frame().merge(data["truth"], on="ID", suffixes=("_pred", "_true"))
        assert len(scored) == args.test, "every test image must be predicted exactly once"
        best = model["best"]["scores"]["macro_f1"]
        results[config] = {
            "description": description, "train_set": train_set, "run": model["run"], "model": model["best"]["id"],
            "model_label": model["best"]["label"], "training_rows": model["training_rows"],
            "augment": args.augment if train_set == "train_aug" else None, "tta": args.tta if use_tta else None,
            "test_macro_f1": round(float(f1_score(scored["target_true"], scored["target_pred"], average="macro")), 4),
            "test_accuracy": round(float((scored["target_true"] == scored["target_pred"]).mean()), 4),
            # rot90+hflip and rot270+hflip are the diagonal reflections, which no product transform produces
            "test_accuracy_by_orientation": {o: round(float((g["target_true"] == g["target_pred"]).mean()), 4)
                                             for o, g in scored.groupby("orientation")},
            "cv_macro_f1_upright": round(best["cv_mean"], 4), "holdout_macro_f1_upright": round(best["holdout"], 4),
            "seconds": times,
        }
        print(f"{config}: test macro F1 {results[config]['test_macro_f1']:.4f} {times}", flush=True)
    return results, {"turns_0_90_180_270": data["turns"], "flipped": data["flipped"]}


def main(argv=None) -> int:
    args = parse_args(argv)
    if not require_fashion_mnist():
        return 2
    load_at_start, started = load_average(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pixelboard-bench-robust-") as tmp:
        try:
            results, test_transforms = run(args, args.out_dir or Path(tmp))
        except PixelboardError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 2
    total = time.perf_counter() - started
    record = {
        "benchmark": "robustness",
        "date": now(),
        "protocol": {
            "train": f"{args.train} upright Fashion-MNIST train-split images, balanced, competition format",
            "test": f"{args.test} other images (test split, balanced), each rotated by a seeded random k*90 degrees "
                    "(counter-clockwise) and then mirrored left-right with probability 0.5",
            "test_transforms": test_transforms,
            "partition": "stratified 20% holdout + 5 folds on the training images (seed as below)",
            "score": "sklearn f1_score(average='macro') of each submission against the kept-aside test labels",
            "cache": "one project; the embedding cache is shared, so later configurations reuse earlier embeddings",
        },
        "train_images": args.train, "test_images": args.test, "seed": args.seed,
        "backbone": args.backbone, "blueprints": split_list(args.blueprints), "blenders": split_list(args.blenders),
        "jobs": args.jobs, "augment": args.augment, "tta": args.tta,
        "results": results,
        "total_seconds": round(total, 2),
        "load_average_at_start": load_at_start,
        "machine": machine(),  # its load average is taken at the end
        "versions": versions(),
    }
    write_result(args.output, record)
    print(f"{'configuration':<14} {'test macro F1':>13} {'test acc':>9} {'CV upright':>11} {'train rows':>10}  seconds")
    for config, r in results.items():
        print(f"{config:<14} {r['test_macro_f1']:>13.4f} {r['test_accuracy']:>9.4f} {r['cv_macro_f1_upright']:>11.4f} "
              f"{r['training_rows']:>10}  " + ", ".join(f"{k} {v:.0f}" for k, v in r["seconds"].items()))
    seen = next(iter(results.values()))["test_accuracy_by_orientation"]
    orientations = [o for o in (f"rot{90 * k}{f}" for k in range(4) for f in ("", "+hflip")) if o in seen]
    print("test accuracy by orientation:\n" + " " * 14 + "".join(f"{o:>13}" for o in orientations))
    for config, r in results.items():
        print(f"{config:<14}" + "".join(f"{r['test_accuracy_by_orientation'][o]:>13.3f}" for o in orientations))
    print(f"{args.backbone} + {','.join(split_list(args.blueprints))}; augment {args.augment}; TTA {args.tta}; "
          f"{args.train} train / {args.test} test images; total {total:.0f} s -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
