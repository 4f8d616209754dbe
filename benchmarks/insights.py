"""Insights on real images: does the report find flipped labels, and what does it cost next to the leaderboard?

    python benchmarks/insights.py [--images 2000] [--flip 0.05] [--backbones efficientnet_lite0,grayscale20]
                                  [--jobs 2] [--blueprints NAMES] [--models 3] [--out-dir DIR] [--run NAME]

N balanced Fashion-MNIST training images are written in the competition format with a seeded
``--flip`` share of their labels changed to another class at random (the truth is kept aside). They
are featurized once per backbone, the default leaderboard runs on them (a fresh run, timed), then
``pixelboard report`` is built (timed, per stage). Recorded: recall and precision of the report's
label-issue list (``label_issues.csv``) against the flipped images (target: recall >= 0.8 at
precision >= 0.5), the same at a cut-off of as many images as were flipped (the list is ranked by label
quality), and the report's build time as a share of the leaderboard's (target <= 20%).
With ``--out-dir`` and ``--run`` an earlier run is reused (nothing refitted; its leaderboard time is
then not a fresh one). Results go to ``benchmarks/results/insights.json`` (and are printed).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

from common import add_run_arguments, balanced_fashion_mnist, load_average, machine, now, require_fashion_mnist, \
    versions, featurize_training_folder, write_result

import numpy as np

from pixelboard.options import split_list
from pixelboard.errors import PixelboardError
from pixelboard.featurizers.pipeline import FeaturizeOptions
from pixelboard.insights.report import build_report
from pixelboard.leaderboard.runner import LeaderboardOptions, run_leaderboard
from pixelboard.models import list_blueprints
from pixelboard.project import Project

METRIC = "macro_f1"
TARGETS = {"recall": 0.8, "precision": 0.5, "report_share_of_leaderboard": 0.2}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000, help="Fashion-MNIST train images, balanced (default 2000)")
    parser.add_argument("--flip", type=float, default=0.05, help="share of training labels flipped (default 0.05)")
    parser.add_argument("--backbones", default="efficientnet_lite0,grayscale20", help="comma-separated featurizers")
    parser.add_argument("--blueprints", default=None, help="comma-separated [default: the default set]")
    parser.add_argument("--models", type=int, default=3, help="leaderboard rows the report details (default 3)")
    parser.add_argument("--run", default=None, help="leaderboard run name [default: a fresh one]")
    parser.add_argument("--scan-sizes", default=None, help="only the data-quality scans, at these sizes "
                        "(e.g. 2000,20000,70000: see insight_scans.py)")
    parser.add_argument("--scan-input-size", type=int, default=64, help="the scans' embedding input size (default 64)")
    parser.add_argument("--exact-up-to", type=int, default=20000, help="sizes also scanned the other way (default 20000)")
    parser.add_argument("--embeddings", type=Path, default=Path(tempfile.gettempdir()) / "pixelboard-fmnist70k-64px.npy",
                        help="the scans' embeddings, kept for reruns")
    add_run_arguments(parser, "insights.json", device="cpu")
    return parser.parse_args(argv)


def noisy_training_set(project: Project, root: Path, args) -> tuple[list[str], set[str], dict]:
    """Write the images with ``--flip`` of their labels changed; returns (ids, flipped ids, featurize timings)."""
    images, labels = balanced_fashion_mnist("train", args.images, seed=args.seed)
    rng = np.random.default_rng(args.seed + 1)
    flipped = np.sort(rng.choice(len(labels), size=round(args.flip * len(labels)), replace=False))
    noisy = labels.astype(int).copy()
    noisy[flipped] = (noisy[flipped] + rng.integers(1, 10, size=len(flipped))) % 10  # always another class
    image_set, timings = featurize_training_folder(project, root, images, noisy, split_list(args.backbones),
                                                   args.device, FeaturizeOptions(progress=not args.quiet))
    return image_set.ids, {image_set.ids[i] for i in flipped}, timings


def found(label_issues: Path, flipped: set[str]) -> dict:
    """Recall and precision of the listed issues against the flipped images, overall and at |flipped|."""
    with label_issues.open(newline="") as handle:
        listed = [row["image_id"] for row in csv.DictReader(handle)]  # most suspicious first
    hits = [image_id in flipped for image_id in listed]
    top = hits[:len(flipped)]
    return {"listed": len(listed), "flipped": len(flipped), "found": int(sum(hits)),
            "recall": round(sum(hits) / max(len(flipped), 1), 4),
            "precision": round(sum(hits) / max(len(listed), 1), 4),
            "recall_at_n_flipped": round(sum(top) / max(len(flipped), 1), 4),
            "precision_at_n_flipped": round(sum(top) / max(len(top), 1), 4)}


def main(argv=None) -> int:
    args = parse_args(argv)
    if not require_fashion_mnist():
        return 2
    if args.scan_sizes:
        import insight_scans

        return insight_scans.run(args)
    blueprints = split_list(args.blueprints) or list_blueprints(default_only=True)
    load_at_start = load_average()
    with tempfile.TemporaryDirectory(prefix="pixelboard-bench-insights-") as tmp:
        root = args.out_dir or Path(tmp)
        project = Project(root / "project")
        run = args.run or f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
        try:
            ids, flipped, featurize_timings = noisy_training_set(project, root, args)
            options = LeaderboardOptions(run=run, metric=METRIC, seed=args.seed, jobs=args.jobs, blueprints=blueprints,
                                         progress=not args.quiet)
            board = run_leaderboard(project, options)
            load_before_report = load_average()
            report = build_report(project, run=run, models=args.models, device=args.device, progress=not args.quiet)
        except PixelboardError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 2
        quality = found(report.csv["label_issues"], flipped)
        size_mb = round(report.path.stat().st_size / 1e6, 2)
    best = board.rows[0]
    share = report.seconds / board.seconds if board.seconds > 0 else float("nan")
    record = {
        "benchmark": "insights",
        "date": now(),
        "images": args.images,
        "image_source": "Fashion-MNIST train split, balanced over 10 classes, 28x28 PNG, competition format",
        "flipped_share": args.flip,
        "backbones": split_list(args.backbones),
        "blueprints": blueprints,
        "jobs": args.jobs,
        "seed": args.seed,
        "featurize": featurize_timings,
        "leaderboard_seconds": round(board.seconds, 2),
        "models_fitted": board.n_fitted,
        "best": {"id": best["id"], "label": best["label"], "featurizer": best["featurizer"],
                 "cv_macro_f1": round(best["scores"][METRIC]["cv_mean"], 4),
                 "holdout_macro_f1": round(best["scores"][METRIC]["holdout"], 4)},
        "label_issues": quality,
        "report_seconds": round(report.seconds, 2),
        "report_stage_seconds": report.stage_seconds,
        "report_share_of_leaderboard": round(share, 4),
        "report_mb": size_mb,
        "report_counts": report.counts,
        "targets": TARGETS,
        "targets_met": {"recall": quality["recall"] >= TARGETS["recall"],
                        "precision": quality["precision"] >= TARGETS["precision"],
                        "report_share_of_leaderboard": share <= TARGETS["report_share_of_leaderboard"]},
        "load_average_at_start": load_at_start,
        "load_average_before_report": load_before_report,
        "machine": machine(),  # its load average is taken at the end
        "versions": versions(),
    }
    write_result(args.output, record)
    print(f"{args.images} images, {quality['flipped']} labels flipped; best {best['id']} {best['label']} on "
          f"{best['featurizer']}: CV macro F1 {record['best']['cv_macro_f1']:.4f}")
    print(f"label issues listed {quality['listed']}, flipped found {quality['found']}: recall {quality['recall']:.3f} "
          f"(target >= {TARGETS['recall']}), precision {quality['precision']:.3f} (target >= {TARGETS['precision']}); "
          f"at the top {quality['flipped']}: recall {quality['recall_at_n_flipped']:.3f}, precision "
          f"{quality['precision_at_n_flipped']:.3f}")
    print(f"leaderboard {board.seconds:.1f} s ({board.n_fitted} models fitted, jobs {args.jobs}); report "
          f"{report.seconds:.1f} s = {share:.1%} of it (target <= {TARGETS['report_share_of_leaderboard']:.0%}); "
          + ", ".join(f"{k} {v:.1f} s" for k, v in report.stage_seconds.items())
          + f"; {size_mb} MB; load average {record['machine']['load_average_1_5_15min']}  -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
