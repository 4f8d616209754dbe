"""Leaderboard on real embeddings: wall time and best Cross Validation / Holdout macro F1.

    python benchmarks/leaderboard.py [--images 2000] [--backbones efficientnet_lite0,grayscale20] [--jobs 2]
                                     [--blueprints NAMES] [--blenders avg,glm,greedy] [--out-dir DIR]

N balanced Fashion-MNIST training images are written in the competition format (PNG folder +
``train.csv``) and featurized once per backbone with ``featurize_set`` (timed per backbone; with an
existing ``--out-dir`` the embedding cache may answer, which the record says). Then
``run_leaderboard`` is timed on a fresh run (stratified 20% holdout + 5 folds, seed 0) with the
registry's default blueprints and blenders. Recorded per row: CV macro F1 mean ± std over the folds,
Holdout macro F1, fit seconds (summed over folds); plus the best row, the best single model, the best
blend, the baseline (grayscale20 + L2 LR), fit seconds per blueprint and the total wall time.

Then the recommended model (rank 1) and the best single model each predict ``--test-images``
Fashion-MNIST test images twice, side by side: as the leaderboard left them (the average of 5 fold
models, each trained on 64% of the labelled images) and after ``deploy`` refitted them on 100% of
them; the test macro F1 of both, and the deploy time, are recorded (``refit``).
Results go to ``benchmarks/results/leaderboard.json`` (and are printed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import add_run_arguments, balanced_fashion_mnist, load_average, machine, now, require_fashion_mnist, \
    versions, featurize_training_folder, write_competition_folder, write_result

import numpy as np

from pixelboard.options import split_list
from pixelboard.deploy import deploy
from pixelboard.datasets import read_image_set
from pixelboard.errors import PixelboardError
from pixelboard.featurizers.pipeline import FeaturizeOptions
from pixelboard.leaderboard.metrics import get_metric
from pixelboard.leaderboard.runner import LeaderboardOptions, run_leaderboard
from pixelboard.leaderboard.store import RunStore
from pixelboard.models import list_blueprints
from pixelboard.predict import load_run_model, predict
from pixelboard.project import Project

METRIC = "macro_f1"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000, help="Fashion-MNIST train images, balanced (default 2000)")
    parser.add_argument("--backbones", default="efficientnet_lite0,grayscale20", help="comma-separated featurizers")
    parser.add_argument("--test-images", type=int, default=2000,
                        help="Fashion-MNIST test images for the fold-average vs 100%%-refit comparison (0: skip)")
    parser.add_argument("--blueprints", default=None, help="comma-separated [default: the default set]")
    parser.add_argument("--blenders", default="avg,glm,greedy", help="comma-separated blenders ('' for none)")
    add_run_arguments(parser, "leaderboard.json")
    return parser.parse_args(argv)


def featurize(project: Project, root: Path, args) -> dict:
    images, labels = balanced_fashion_mnist("train", args.images, seed=args.seed)
    return featurize_training_folder(project, root, images, labels, split_list(args.backbones), args.device,
                                     FeaturizeOptions(progress=not args.quiet))[1]


def compact(row: dict) -> dict:
    score = row["scores"][METRIC]
    return {"id": row["id"], "kind": row["kind"], "blueprint": row["blueprint"], "label": row["label"],
            "featurizer": row["featurizer"], "members": row["members"],
            "validation": round(score["validation"], 4), "cv_mean": round(score["cv_mean"], 4),
            "cv_std": round(score["cv_std"], 4), "holdout": round(score["holdout"], 4),
            "fit_seconds": row["fit_seconds"], "predict_seconds": row["predict_seconds"]}


def print_table(rows: list[dict]) -> None:
    print(f"{'rank':<4} {'id':<4} {'blueprint':<10} {'featurizer':<30} {'CV macro F1':<17} {'holdout':<7} {'fit s':>8}")
    for rank, r in enumerate(rows, start=1):
        name = r["blueprint"] + ("*" if r["blueprint"] == "lr_l2" and r["featurizer"] == "grayscale20" else "")
        print(f"{rank:<4} {r['id']:<4} {name:<10} {r['featurizer'][:30]:<30} "
              f"{r['cv_mean']:.4f} ± {r['cv_std']:.4f}  {r['holdout']:.4f} {r['fit_seconds']:8.1f}")
    print("(* = baseline: grayscale 20x20 + L2 LR; fit s = summed over the folds)")


def main(argv=None) -> int:
    args = parse_args(argv)
    if not require_fashion_mnist():
        return 2
    blueprints = split_list(args.blueprints) or list_blueprints(default_only=True)
    load_at_start, started = load_average(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pixelboard-bench-lb-") as tmp:
        root = args.out_dir or Path(tmp)
        project = Project(root / "project")
        try:
            featurize_timings = featurize(project, root, args)
            featurized = time.perf_counter()
            run = f"bench-{time.strftime('%Y%m%d-%H%M%S')}"  # a fresh run: every row is fitted
            # comprehensive: every blueprint with full CV (benchmarks/scale.py compares the autopilot with it)
            options = LeaderboardOptions(run=run, metric=METRIC, seed=args.seed, jobs=args.jobs, blueprints=blueprints,
                                         mode="comprehensive",
                                         blenders=split_list(args.blenders), progress=not args.quiet)
            result = run_leaderboard(project, options)
            refit = compare_refit(project, root, run, args) if args.test_images else None
        except PixelboardError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 2
        finished = time.perf_counter()
    rows = [compact(r) for r in result.rows]
    models = [r for r in rows if r["kind"] == "model"]
    blends = [r for r in rows if r["kind"] == "blend"]
    is_baseline = lambda r: r["blueprint"] == "lr_l2" and r["featurizer"].startswith("grayscale20")  # noqa: E731
    baseline = next((r for r in models if is_baseline(r)), None)
    per_blueprint = {}
    for r in models:
        per_blueprint.setdefault(r["blueprint"], {})[r["featurizer"]] = r["fit_seconds"]
    record = {
        "benchmark": "leaderboard",
        "date": now(),
        "images": args.images,
        "image_source": "Fashion-MNIST train split, balanced over 10 classes, 28x28 PNG, competition format",
        "backbones": split_list(args.backbones),
        "blueprints": blueprints,
        "blenders": split_list(args.blenders),
        "jobs": args.jobs,
        "seed": args.seed,
        "partition": {"holdout_fraction": options.holdout_fraction, "folds": options.folds},
        "metric": METRIC,
        "featurize": featurize_timings,
        "featurize_seconds": round(featurized - started, 2),
        "leaderboard_seconds": round(result.seconds, 2),
        "models_fitted": result.n_fitted,
        "total_seconds": round(finished - started, 2),
        "best": rows[0],
        "best_model": models[0] if models else None,
        "best_blend": blends[0] if blends else None,
        "baseline": baseline,
        "fit_seconds_per_blueprint": per_blueprint,
        "rows": rows,
        "refit": refit,
        "load_average_at_start": load_at_start,
        "machine": machine(),  # its load average is taken at the end
        "versions": versions(),
    }
    write_result(args.output, record)
    print_table(rows)
    print(f"{args.images} images; featurize {record['featurize_seconds']:.1f} s "
          + ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in featurize_timings.items())
          + f"; leaderboard {result.seconds:.1f} s ({result.n_fitted} models, jobs {args.jobs}); "
          f"total {record['total_seconds']:.1f} s")
    print(f"best: {rows[0]['id']} {rows[0]['label']} on {rows[0]['featurizer']}: CV {rows[0]['cv_mean']:.4f}, "
          f"holdout {rows[0]['holdout']:.4f}"
          + (f"; baseline CV {baseline['cv_mean']:.4f}, holdout {baseline['holdout']:.4f}" if baseline else "")
          + f"  -> {args.output}")
    for r in refit or []:
        print(f"test macro F1 of {r['model']} ({r['label']}) on {r['test_images']} test images: fold average "
              f"{r['fold_average_test_macro_f1']:.4f}, 100% refit {r['refit_test_macro_f1']:.4f} "
              f"(deploy {r['deploy_seconds']:.1f} s)")
    return 0


def compare_refit(project: Project, root: Path, run: str, args) -> list[dict]:
    """Test macro F1 of the fold average against the 100% refit, same split: the recommended model
    and the best single model."""
    images, labels = balanced_fashion_mnist("test", args.test_images, seed=args.seed)
    image_dir, csv = write_competition_folder(root, "test", images, labels, with_targets=False)
    image_set = read_image_set(image_dir, name="test", labels_csv=csv, unlabelled=True)
    project.save_image_set(image_set)
    store = RunStore(project.run_dir(run))
    options = FeaturizeOptions(progress=not args.quiet)
    metric = get_metric(METRIC)
    y_true = labels.astype(int)

    def test_f1(model) -> float:
        prediction = predict(project, image_set, model, options=options, device=args.device)
        column = {int(c): k for k, c in enumerate(prediction.classes)}
        return float(metric(np.array([column[v] for v in y_true]), prediction.proba))

    rows, _ = store.ranked_rows()
    chosen = [rows[0]["id"]] + [r["id"] for r in rows if r["kind"] == "model"][:1]  # recommended, best single
    compared = []
    for model_id in dict.fromkeys(chosen):
        folds = load_run_model(store, model_id)
        fold_f1 = test_f1(folds)
        deployed = deploy(project, run=run, model=model_id, jobs=args.jobs)
        compared.append({"model": model_id, "label": folds.label, "test_images": args.test_images,
                         "fold_average_test_macro_f1": round(fold_f1, 4),
                         "refit_test_macro_f1": round(test_f1(deployed.model), 4),
                         "deploy_seconds": round(deployed.seconds, 2)})
    return compared


if __name__ == "__main__":
    sys.exit(main())
