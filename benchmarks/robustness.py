"""Robustness to rotations and flips: train on upright images, test on turned and mirrored ones.

    python benchmarks/robustness.py [--train 800] [--test 400] [--augment dihedral]
                                    [--tta rot90,rot180,rot270,hflip] [--blueprints lr_l2] [--out-dir DIR]
                                    [--finetune auto|yes|no] [--pixels 64] [--configs plain,finetuned,...]

Protocol (like the seed competition's): N balanced upright Fashion-MNIST training images (train split) in
the competition format (``train/`` + ``train.csv``); M other images (test split, balanced), each rotated
by a seeded random multiple of 90 degrees and then mirrored left-right with probability 0.5, written as
``test/`` + ``test.csv`` (IDs only) with the true labels kept aside. The training images are featurized
once with ``--views dihedral --pool mean,meanmax`` (set ``train``) and once with ``--augment`` (set
``train_aug``: 8x rows). Each configuration (``CONFIGS``) has its own leaderboard run (stratified 20%
holdout + 5 folds) on some of those embeddings, and predicts the turned test images with its best model:

plain, tta (+ ``--tta``), augmentation, both (augmentation + TTA), canonicalizer (the plain model with
``predict --upright``; its held-out accuracy is recorded too), invariant (``+d4mean``),
invariant_meanmax (``+d4meanmax``), shift_aware (plain and invariant embeddings together, ranked by
Cross Validation under drawn dihedral views: ``--validate-under dihedral``), and with ``--finetune`` (default:
when CUDA is available) finetuned / finetuned_tta (``finetune_lite0_d4`` on the ``pixels`` rows, 5 fold
models; on a CPU sized down to 4 epochs).

A damaged variant (``--damaged N``): the first N turned test images, each also damaged by
Albumentations (``damage``: two of blur, noise, brightness/contrast, perspective, shadow, JPEG),
predicted by some configurations (``DAMAGED_CONFIGS``).

The plain model also predicts the same test images upright: the reference of the target (best
configuration's turned-test macro F1 >= 0.97 x that) and each configuration's leaderboard seconds
against the plain leaderboard's (target <= 1.5x).

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from common import add_run_arguments, balanced_fashion_mnist, load_average, machine, macro_f1_by_condition, now, \
    require_fashion_mnist, versions, write_competition_folder, write_result
from sklearn.metrics import f1_score

from pixelboard.options import split_list
from pixelboard.datasets import read_image_set
from pixelboard.errors import PixelboardError
from pixelboard.featurizers import create_featurizer
from pixelboard.featurizers.augment import apply_tag, parse_transforms
from pixelboard.featurizers.pipeline import FeaturizeOptions, featurize_set
from pixelboard.leaderboard.runner import LeaderboardOptions, run_leaderboard
from pixelboard.leaderboard.store import RunStore
from pixelboard.adversarial import check_shift
from pixelboard.canonical import held_out_accuracy
from pixelboard.predict import load_run_model, predict, upright_canonicalizers
from pixelboard.project import Project

@dataclass(frozen=True)
class Config:
    train_set: str  # "train" (upright, views cached) or "train_aug" (+ augmented copies as rows)
    featurizers: tuple[str, ...]  # "{b}" is the backbone
    tta: bool = False
    validate_under: bool = False  # rank under the test conditions (--validate-under dihedral)
    canonicalize: bool = False  # predict --upright: each test image turned to its upright-looking view
    blueprints: tuple[str, ...] = ()  # instead of --blueprints (the fine-tuned configurations)
    description: str = ""


CONFIGS = {
    "plain": Config("train", ("{b}",), description="upright training images, no TTA"),
    "tta": Config("train", ("{b}",), tta=True, description="model of 'plain' + test-time augmentation"),
    "augmentation": Config("train_aug", ("{b}",), description="train-time augmentation: 8x rows"),
    "both": Config("train_aug", ("{b}",), tta=True, description="model of 'augmentation' + TTA"),
    "canonicalizer": Config("train", ("{b}",), canonicalize=True,
                            description="model of 'plain' + each test image turned upright (predict --upright)"),
    "invariant": Config("train", ("{b}+d4mean",), description="mean of the 8 view embeddings: 1x rows"),
    "invariant_meanmax": Config("train", ("{b}+d4meanmax",), description="mean and max of the 8 view embeddings"),
    "shift_aware": Config("train", ("{b}", "{b}+d4mean", "{b}+d4meanmax"), validate_under=True,
                          description="plain and invariant embeddings ranked by CV under drawn dihedral views"),
    # Fine-tuning: EfficientNet-Lite0 trained end to end per fold on the pixels (random 8 orientations).
    "finetuned": Config("train", ("pixels{p}",), blueprints=("finetune_lite0_d4",),
                        description="EfficientNet-Lite0 fine-tuned per fold with random dihedral views"),
    "finetuned_tta": Config("train", ("pixels{p}",), tta=True, blueprints=("finetune_lite0_d4",),
                            description="model of 'finetuned' + TTA"),
}
FINETUNED = ("finetuned", "finetuned_tta")  # run with --finetune (default: only where CUDA is available)


DAMAGED_CONFIGS = ("plain", "tta", "augmentation", "canonicalizer", "invariant", "shift_aware")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=2000, help="upright training images, balanced (default 2000)")
    parser.add_argument("--test", type=int, default=2000, help="turned/mirrored test images (default 2000)")
    parser.add_argument("--damaged", type=int, default=500,
                        help="turned test images also damaged (Albumentations 'damage'), scored by some configurations")
    parser.add_argument("--augment", default="dihedral", help="train-time transforms (dihedral: all 7 rotations/flips)")
    parser.add_argument("--tta", default="dihedral", help="test-time transforms (default dihedral: the 7 other orientations)")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--blueprints", default="lr_l2", help="comma-separated (default lr_l2: fast, strong)")
    parser.add_argument("--blenders", default="", help="comma-separated blenders (default none)")
    parser.add_argument("--finetune", default="auto", choices=("auto", "yes", "no"),
                        help="also the fine-tuned configurations (auto: only when CUDA is available)")
    parser.add_argument("--pixels", type=int, default=64, help="side of the pixels the fine-tuned model sees")
    parser.add_argument("--probe", type=int, default=200, help="training images the one command's shift probe embeds")
    parser.add_argument("--one-command-project", choices=("own", "shared"), default="own",
                        help="run the one command in a fresh project (own) or in the other configurations' (shared)")
    parser.add_argument("--configs", default="", help="comma-separated subset of the configurations [default: all]")
    add_run_arguments(parser, "robustness.json")
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
    # The same test images untouched, under the same IDs (one CSV of IDs serves both folders).
    upright_dir, _ = write_competition_folder(root / "upright", "test", test_images, test_labels, with_targets=False)
    test_images, turns, flips = turn_and_flip(test_images, args.seed)
    train_dir, train_csv = write_competition_folder(root, "train", train_images, train_labels)
    test_dir, test_csv = write_competition_folder(root, "test", test_images, test_labels, with_targets=False)
    # The damaged variant: the first turned test images, each also damaged (Albumentations, seeded per image).
    damaged = np.stack([np.asarray(apply_tag(Image.fromarray(im), "damage#0", args.seed, f"test-{i}").convert("L"))
                        for i, im in enumerate(test_images[:args.damaged])]) if args.damaged else None
    damaged_dir, damaged_csv = (write_competition_folder(root / "damaged", "test", damaged, test_labels[:args.damaged],
                                                         with_targets=False) if args.damaged else (None, None))
    return {"train_dir": train_dir, "train_csv": train_csv, "test_dir": test_dir, "test_csv": test_csv,
            "upright_dir": upright_dir, "damaged_dir": damaged_dir, "damaged_csv": damaged_csv,
            "truth": pd.read_csv(root / "test_labels.csv").assign(
                orientation=[f"rot{90 * k}" + ("+hflip" if f else "") for k, f in zip(turns, flips)]),
            "turns": np.bincount(turns, minlength=4).tolist(), "flipped": int(flips.sum())}


def run(args, root: Path) -> tuple[dict, dict]:
    data = prepare(root, args)
    project = Project(root / "project")
    featurizer = create_featurizer(args.backbone, device=args.device)
    featurized = {}  # training set -> featurize seconds
    configs = {n: c for n, c in CONFIGS.items() if (n not in FINETUNED or _finetune(args))
               and (n in split_list(args.configs) or not args.configs or n == "plain")}
    # Views only when a chosen configuration uses them (a fine-tuning-only run skips the 8x featurize).
    needs_views = any(c.canonicalize or c.validate_under or any("+" in f for f in c.featurizers) for c in configs.values())
    for train_set, options in (("train", FeaturizeOptions(views=parse_transforms("dihedral") if needs_views else [],
                                                          pools=["mean", "meanmax"] if needs_views else [],
                                                          progress=not args.quiet)),
                               ("train_aug", FeaturizeOptions(augment=parse_transforms(args.augment), seed=args.seed,
                                                              progress=not args.quiet))):
        if not any(c.train_set == train_set for c in configs.values()):
            continue
        image_set = read_image_set(data["train_dir"], name=train_set, labels_csv=data["train_csv"],
                                   meta_csv=root / "meta.csv")
        project.save_image_set(image_set)
        started = time.perf_counter()
        print(featurize_set(project, image_set, featurizer, options).summary, flush=True)
        featurized[train_set] = round(time.perf_counter() - started, 2)
    if any(n in configs for n in FINETUNED):
        started = time.perf_counter()
        pixels = create_featurizer("pixels", input_size=args.pixels)
        print(featurize_set(project, project.load_image_set("train"), pixels,
                            FeaturizeOptions(progress=not args.quiet)).summary, flush=True)
        featurized["train_pixels"] = round(time.perf_counter() - started, 2)
    results, boards = {}, {}
    for config_name, config in configs.items():
        names = [f.format(b=args.backbone, p=args.pixels) for f in config.featurizers]
        run_name = run_name_of(config.train_set, names, config.validate_under)
        if run_name not in boards:
            options = LeaderboardOptions(run=run_name, set_name=config.train_set, seed=args.seed, jobs=args.jobs,
                                         blueprints=list(config.blueprints) or split_list(args.blueprints),
                                         blenders=split_list(args.blenders),
                                         featurizers=names, progress=not args.quiet,
                                         validate_under=parse_transforms("dihedral") if config.validate_under else [])
            board = run_leaderboard(project, options)
            boards[run_name] = {"seconds": round(board.seconds, 2), "best": board.rows[0]}
        board = boards[run_name]
        results[config_name] = {
            "description": config.description, "train_set": config.train_set, "featurizers": names,
            "validate_under": "dihedral" if config.validate_under else None, "tta": args.tta if config.tta else None,
            "training_rows": int(project.load_embeddings(config.train_set, names[0]).matrix.shape[0]),
            "run": run_name, "model": board["best"]["id"], "model_label": board["best"]["label"],
            "model_featurizer": board["best"]["featurizer"],
            "leaderboard_seconds": board["seconds"],
            "featurize_train_seconds": featurized["train_pixels" if config.blueprints else config.train_set],
            **score_test(project, data, run_name, f"test_{config_name}", config.tta, args,
                         canonicalize=config.canonicalize),
            "cv_macro_f1": round(board["best"]["scores"]["macro_f1"]["cv_mean"], 4),
            "cv_macro_f1_shifted": round(board["best"]["scores_shifted"]["macro_f1"]["cv_mean"], 4)
            if "scores_shifted" in board["best"] else None,
        }
        print(f"{config_name}: test macro F1 {results[config_name]['test_macro_f1']:.4f}, leaderboard "
              f"{board['seconds']:.0f} s", flush=True)
    upright = score_test(project, data, run_name_of("train", [args.backbone], False), "upright", False, args,
                         images=(data["upright_dir"], data["test_csv"], args.test))
    for config_name in [c for c in (*DAMAGED_CONFIGS, "finetuned") if c in configs] if args.damaged else ():
        config, r = CONFIGS[config_name], results[config_name]
        damaged = score_test(project, data, r["run"], f"damaged_{config_name}", config.tta, args,
                             canonicalize=config.canonicalize,
                             images=(data["damaged_dir"], data["damaged_csv"], args.damaged))
        r["damaged_test_macro_f1"] = damaged["test_macro_f1"]
        print(f"{config_name}: damaged test macro F1 {damaged['test_macro_f1']:.4f}", flush=True)
    command = None
    if "one_command" in split_list(args.configs) or not args.configs:
        command = one_command(args, data, root)
        command["test_f1_vs_upright"] = round(command["test_macro_f1"] / upright["test_macro_f1"], 4)
        print(f"one command: test macro F1 {command['test_macro_f1']:.4f} ({command['test_f1_vs_upright']:.3f}x "
              f"upright) in {command['total_seconds']:.0f} s; recipe views {command['recipe']['views']}, "
              f"copies {command['recipe']['augment']}", flush=True)
    shift = None
    if needs_views and "plain" in configs:  # does `pixelboard shift` name the turn the test set went through?
        report = check_shift(project, "train", "test_plain", featurizer=args.backbone, seed=args.seed)
        shift = {"auc": round(report.auc, 4), "shifted": report.shifted,
                 "best_explanation": report.best.name if report.best else None,
                 "hypotheses": {h.name: round(h.auc, 4) for h in report.hypotheses}, "advice": report.advice()}
        print(f"shift: train-vs-turned-test AUC {report.auc:.3f}; best explanation: "
              f"{report.best.name if report.best else None}", flush=True)
    canonical_accuracy = None
    if "canonicalizer" in configs:
        stack, sidecar = project.load_view_embeddings("train", args.backbone)
        canonical_accuracy = round(held_out_accuracy(stack, sidecar["views"], seed=args.seed), 4)
    plain_seconds = results["plain"]["leaderboard_seconds"]
    for r in results.values():
        r["leaderboard_cost_vs_plain"] = round(r["leaderboard_seconds"] / plain_seconds, 2)
        r["test_f1_vs_upright"] = round(r["test_macro_f1"] / upright["test_macro_f1"], 4)
    return results, {"turns_0_90_180_270": data["turns"], "flipped": data["flipped"],
                     "upright_test_macro_f1_of_plain": upright["test_macro_f1"],
                     "canonicalizer_held_out_accuracy": canonical_accuracy, "shift_check": shift,
                     "one_command": command,
                     "featurize_seconds": featurized}


def _finetune(args) -> bool:
    if args.finetune == "auto":
        import torch

        return torch.cuda.is_available()
    return args.finetune == "yes"


def run_name_of(train_set: str, featurizers: list[str], validate_under: bool) -> str:
    parts = [train_set, *featurizers] + (["shift"] if validate_under else [])
    return "run_" + "_".join(parts).replace("+", "-")


def score_test(project: Project, data: dict, run_name: str, set_name: str, use_tta: bool, args,
               canonicalize: bool = False, images: tuple | None = None) -> dict:
    """Predict the turned test images (or ``images``: another folder, its CSV of IDs and their count:
    the same images upright, or damaged) with the run's best model."""
    image_dir, csv, expected = images or (data["test_dir"], data["test_csv"], args.test)
    test_set = read_image_set(image_dir, name=set_name, labels_csv=csv, unlabelled=True)
    project.save_image_set(test_set)
    started = time.perf_counter()
    fitted = load_run_model(RunStore(project.run_dir(run_name)), "best")
    canonicalizers = upright_canonicalizers(project, fitted, "train", args.seed) if canonicalize else None
    prediction = predict(project, test_set, fitted, tta=parse_transforms(args.tta) if use_tta else [],
                         device=args.device, options=FeaturizeOptions(progress=not args.quiet), upright=canonicalizers)
    seconds = round(time.perf_counter() - started, 2)
    scored = prediction.to_frame().merge(data["truth"], on="ID", suffixes=("_pred", "_true"))
    assert len(scored) == expected, "every test image must be predicted exactly once"
    return {
        "test_macro_f1": round(float(f1_score(scored["target_true"], scored["target_pred"], average="macro")), 4),
        "test_accuracy": round(float((scored["target_true"] == scored["target_pred"]).mean()), 4),
        # rot90+hflip and rot270+hflip are the diagonal reflections, which no product transform produces
        "test_accuracy_by_orientation": {o: round(float((g["target_true"] == g["target_pred"]).mean()), 4)
                                         for o, g in scored.groupby("orientation")},
        "test_macro_f1_by_condition": macro_f1_by_condition(scored["target_true"], scored["target_pred"],
                                                            orientation_conditions(scored["orientation"])),
        "predict_seconds": seconds,
    }


def orientation_conditions(orientation: pd.Series) -> dict[str, np.ndarray]:
    """Each turn (mirrored or not), and mirrored against not mirrored."""
    turn = orientation.str.replace("+hflip", "", regex=False)
    mirrored = orientation.str.endswith("+hflip").to_numpy()
    return {**{f"turned {t[3:]}": (turn == t).to_numpy() for t in ("rot0", "rot90", "rot180", "rot270")},
            "mirrored": mirrored, "not mirrored": ~mirrored}


def one_command(args, data: dict, root: Path) -> dict:
    """``Project.autopilot`` on the training folder and the turned test folder; the same backbone, blueprints
    and blenders as the other configurations. ``--one-command-project shared`` runs it in their project
    (their cached embeddings are reused: its seconds then count only what it computed anew), ``own`` in a
    fresh one."""
    import pixelboard

    started = time.perf_counter()
    out = root / "one_command.csv"
    folder = root / ("project" if args.one_command_project == "shared" else "one_command")
    result = pixelboard.Project(folder).autopilot(
        data["train_dir"], data["train_csv"], test_images=data["test_dir"], test_labels=data["test_csv"], out=out,
        backbones=[args.backbone], mode="quick", blueprints=split_list(args.blueprints),
        blenders=split_list(args.blenders), seed=args.seed, jobs=args.jobs, device=args.device, probe=args.probe,
        progress=not args.quiet)
    seconds = round(time.perf_counter() - started, 1)
    scored = pd.read_csv(out).merge(data["truth"], on="ID", suffixes=("_pred", "_true"))
    assert len(scored) == args.test, "every test image must be predicted exactly once"
    return {"description": "pixelboard autopilot --test-images: shift check + probe -> recipe -> featurize, "
                           "leaderboard, deploy, predict", "recipe": result.recipe.to_json(), "tta_used": result.tta,
            "model": result.deployed.model.model_id, "model_featurizer": result.board.best["featurizer"],
            "commands": result.commands, "step_seconds": result.seconds, "total_seconds": seconds,
            "project": args.one_command_project,
            "test_macro_f1": round(float(f1_score(scored["target_true"], scored["target_pred"], average="macro")), 4),
            "test_macro_f1_by_condition": macro_f1_by_condition(scored["target_true"], scored["target_pred"],
                                                                orientation_conditions(scored["orientation"]))}


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
        "reduced": args.train < 2000 or args.test < 2000 or bool(args.configs),  # the protocol's full run: 2000/2000, all
        "backbone": args.backbone, "blueprints": split_list(args.blueprints), "blenders": split_list(args.blenders),
        "jobs": args.jobs, "augment": args.augment, "tta": args.tta,
        "results": results,
        "total_seconds": round(total, 2),
        "load_average_at_start": load_at_start,
        "machine": machine(),  # its load average is taken at the end
        "versions": versions(),
    }
    write_result(args.output, record)
    upright = test_transforms["upright_test_macro_f1_of_plain"]
    print(f"{'configuration':<18} {'test F1':>8} {'vs upright':>10} {'damaged':>8} {'CV':>7} {'CV shifted':>10} "
          f"{'rows':>6} {'board s':>8} {'cost':>5}  best model")
    for config, r in results.items():
        shifted = f"{r['cv_macro_f1_shifted']:.4f}" if r["cv_macro_f1_shifted"] is not None else ""
        damaged = f"{r['damaged_test_macro_f1']:.4f}" if "damaged_test_macro_f1" in r else ""
        print(f"{config:<18} {r['test_macro_f1']:>8.4f} {r['test_f1_vs_upright']:>10.3f} {damaged:>8} "
              f"{r['cv_macro_f1']:>7.4f} {shifted:>10} {r['training_rows']:>6} {r['leaderboard_seconds']:>8.0f} "
              f"{r['leaderboard_cost_vs_plain']:>5.2f}  {r['model_label']} on {r['model_featurizer']}")
    print(f"upright test macro F1 of the plain model (same images, not turned): {upright:.4f}; canonicalizer "
          f"held-out accuracy (the chosen view is the upright one): {test_transforms['canonicalizer_held_out_accuracy']}")
    seen = next(iter(results.values()))["test_accuracy_by_orientation"]
    orientations = [o for o in (f"rot{90 * k}{f}" for k in range(4) for f in ("", "+hflip")) if o in seen]
    print("test accuracy by orientation:\n" + " " * 18 + "".join(f"{o:>13}" for o in orientations))
    for config, r in results.items():
        print(f"{config:<18}" + "".join(f"{r['test_accuracy_by_orientation'][o]:>13.3f}" for o in orientations))
    print(f"{args.backbone} + {','.join(split_list(args.blueprints))}; augment {args.augment}; TTA {args.tta}; "
          f"{args.train} train / {args.test} test images; total {total:.0f} s -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
