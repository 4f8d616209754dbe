"""Can a person work through the report's label-error list? Recall and precision on planted flips.

    python benchmarks/label_issues.py [--images 2000] [--flip 0.05] [--backbones efficientnet_lite0]
                                      [--blueprints lr_l2,mlp] [--jobs 2] [--out-dir DIR]

N balanced Fashion-MNIST training images (Debian's dataset-fashion-mnist) are written in the competition
format with a seeded ``--flip`` share of their labels changed to another class (the truth kept aside),
featurized, and a leaderboard is fitted. On the recommended row's out-of-sample probabilities (what the
report's data-quality section reads) four lists are scored side by side against the flipped images:

- ``pixelboard``: :func:`pixelboard.insights.data_quality.find_label_issues` (ranked by cleanlab's
  label quality, only images whose given label is less likely than another class, at most cleanlab's
  expected count), the list the report shows;
- ``given_label_loses``: every image whose given label is less likely than another class (no count);
- ``cleanlab_low_self_confidence`` and ``cleanlab_prune_by_noise_rate`` (cleanlab's default filter).

Results go to ``benchmarks/results/label_issues.json`` (and are printed), with the machine's load.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from common import add_run_arguments, load_average, machine, now, require_fashion_mnist, versions, write_result
from insights import noisy_training_set

from pixelboard.errors import PixelboardError
from pixelboard.insights.data_quality import find_label_issues
from pixelboard.insights.run_data import load_run
from pixelboard.leaderboard.runner import LeaderboardOptions, run_leaderboard
from pixelboard.options import split_list
from pixelboard.project import Project

METRIC = "macro_f1"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000, help="Fashion-MNIST train images, balanced (default 2000)")
    parser.add_argument("--flip", type=float, default=0.05, help="share of training labels flipped (default 0.05)")
    parser.add_argument("--backbones", default="efficientnet_lite0", help="comma-separated featurizers")
    parser.add_argument("--blueprints", default="lr_l2,mlp", help="comma-separated (default lr_l2,mlp)")
    add_run_arguments(parser, "label_issues.json", device="cpu")
    return parser.parse_args(argv)


def score(listed: list[str], flipped: set[str]) -> dict:
    hits = sum(i in flipped for i in listed)
    return {"listed": len(listed), "found": hits, "recall": round(hits / max(len(flipped), 1), 4),
            "precision": round(hits / max(len(listed), 1), 4)}


def lists(proba: np.ndarray, y: np.ndarray, ids: list[str], class_names: list[str]) -> tuple[dict, int]:
    import cleanlab.filter

    ours = find_label_issues(proba, y, ids, class_names)
    index = np.arange(len(y))
    others = proba.copy()
    others[index, y] = -1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = {"pixelboard": [i.image_id for i in ours],
                 "given_label_loses": [ids[r] for r in np.flatnonzero(proba[index, y] < others.max(axis=1))]}
        for name in ("low_self_confidence", "prune_by_noise_rate"):
            mask = cleanlab.filter.find_label_issues(y, proba, filter_by=name, n_jobs=1)
            found[f"cleanlab_{name}"] = [ids[r] for r in np.flatnonzero(mask)]
    return found, ours.expected


def main(argv=None) -> int:
    args = parse_args(argv)
    if not require_fashion_mnist():
        return 2
    load_at_start = load_average()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pixelboard-bench-label-issues-") as tmp:
        root = args.out_dir or Path(tmp)
        project = Project(root / "project")
        try:
            _, flipped, _ = noisy_training_set(project, root, args)
            run = f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
            run_leaderboard(project, LeaderboardOptions(run=run, metric=METRIC, seed=args.seed, jobs=args.jobs,
                                                        blueprints=split_list(args.blueprints),
                                                        progress=not args.quiet))
            data = load_run(project, run)
        except PixelboardError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 2
        best = data.rows[0]
        proba = data.out_of_sample(best["id"])
        found, expected = lists(proba, data.labels.y, list(data.labels.ids), data.class_names)
    scores = {name: score(listed, flipped) for name, listed in found.items()}
    record = {
        "benchmark": "label_issues", "date": now(), "images": args.images, "flipped": len(flipped),
        "flipped_share": args.flip,
        "image_source": "Fashion-MNIST train split (Debian dataset-fashion-mnist), balanced over 10 classes",
        "backbones": split_list(args.backbones), "blueprints": split_list(args.blueprints), "seed": args.seed,
        "recommended": {"id": best["id"], "label": best["label"], "featurizer": best["featurizer"],
                        "cv_macro_f1": round(best["scores"][METRIC]["cv_mean"], 4),
                        "accuracy_out_of_sample": round(float((proba.argmax(axis=1) == data.labels.y).mean()), 4)},
        "expected_by_cleanlab": expected, "lists": scores, "seconds": round(time.perf_counter() - started, 1),
        "load_average_at_start": load_at_start, "machine": machine(), "versions": versions(),
    }
    write_result(args.output, record)
    print(f"{args.images} images, {len(flipped)} labels flipped; recommended {best['id']} {best['label']} "
          f"(out-of-sample accuracy {record['recommended']['accuracy_out_of_sample']:.3f}); cleanlab expects "
          f"{expected} label errors")
    for name, s in scores.items():
        print(f"  {name:30s} listed {s['listed']:4d}  found {s['found']:3d}  recall {s['recall']:.3f}  "
              f"precision {s['precision']:.3f}")
    print(f"load average at start {load_at_start}, at the end {record['machine']['load_average_1_5_15min']} "
          f"-> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
