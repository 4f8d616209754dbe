"""Defaults that win (issue 18): quick, autopilot (the default) and comprehensive side by side, per real set.

For every set: the images are split into training images (the project's ``train`` set) and test
images kept aside (their labels are never given to pixelboard); both featurizers of the demo
(EfficientNet-Lite0 + the grayscale20 baseline) embed them once; then each mode runs as its own run
of the same project (same seed, same partition), its recommended model (``best``) is deployed
(refitted on 100% of the training images) and predicts the test images. A single L2 LR (the
TunedLogisticRegression blueprint) fitted on all training rows of the CNN embeddings is the reference.

Per set and mode: the recommended model, its CV and Holdout, the test macro F1, the leaderboard wall
time (``Project.leaderboard``, not featurizing or deploying; quick and autopilot run twice in fresh runs,
the faster counts, and the two runs' rows must be identical: same seed, same leaderboard) and, for autopilot, which screened rows
the promotion rule passed over, screened and promoted. Targets (issue 18): autopilot's test macro F1 >=
best of (quick, comprehensive, single LR) - 0.005, its wall time <= 1.2x quick's.

Sets: the bundled sample (600 training + 200 test Fashion-MNIST images), ``--fashion`` Fashion-MNIST
training images (+ ``--fashion-test`` from its test split; Debian dataset-fashion-mnist), and
scikit-learn's ``load_digits`` (8x8 images, upscaled to 32x32 PNGs; ``--digits`` training images, the
rest of the 1,797 as test images). OpenCV's digits.png is not shipped by the opencv-python wheel and
no offline copy exists here, so it is not included.

    PYTHONPATH=. python benchmarks/defaults.py [--sets sample,fashion,digits] [--fashion 2000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

MODES = ("quick", "autopilot", "comprehensive")
REPEATED = ("quick", "autopilot")  # run twice, interleaved with nothing else: wall time = the faster run
CNN = "efficientnet_lite0"


def write_split(root: Path, split: str, images: np.ndarray, labels: np.ndarray, names: list[str],
                upscale: int = 1) -> None:
    folder = root / split
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"{split}_{i:05d}.png" for i in range(len(images))]
    for image_id, image in zip(ids, images):
        picture = Image.fromarray(image)
        if upscale > 1:
            picture = picture.resize((image.shape[1] * upscale, image.shape[0] * upscale), Image.BILINEAR)
        picture.save(folder / image_id)
    frame = pd.DataFrame({"ID": ids, "target": labels.astype(int)})
    (frame if split == "train" else frame[["ID"]]).to_csv(root / f"{split}.csv", index=False)
    frame.to_csv(root / f"{split}_labels.csv", index=False)
    pd.DataFrame({"target": range(len(names)), "class_name": names}).to_csv(root / "meta.csv", index=False)


def prepare_sets(base: Path, names: list[str], n_fashion: int, n_fashion_test: int, n_digits: int,
                 seed: int) -> dict[str, dict]:
    sets = {}
    if "sample" in names:
        from pixelboard.datasets.sample import write_competition_folder

        root = write_competition_folder(base / "sample")
        sets["sample"] = {"root": root, "train": len(pd.read_csv(root / "train.csv")),
                          "test": len(pd.read_csv(root / "test_labels.csv")), "source": "bundled sample (Fashion-MNIST)"}
    if "fashion" in names and common.require_fashion_mnist():
        from pixelboard.datasets import fashion_mnist

        root = base / "fashion"
        train_x, train_y = common.balanced_fashion_mnist("train", n_fashion, seed)
        test_x, test_y = common.balanced_fashion_mnist("test", n_fashion_test, seed)
        write_split(root, "train", train_x, train_y, list(fashion_mnist.CLASS_NAMES))
        write_split(root, "test", test_x, test_y, list(fashion_mnist.CLASS_NAMES))
        sets["fashion"] = {"root": root, "train": n_fashion, "test": n_fashion_test,
                           "source": "Fashion-MNIST (Debian dataset-fashion-mnist): training split / test split"}
    if "digits" in names:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        pixels = np.round(digits.images * (255 / 16)).astype(np.uint8)
        train, test = train_test_split(np.arange(len(pixels)), train_size=n_digits, stratify=digits.target,
                                       random_state=seed)
        root = base / "digits"
        write_split(root, "train", pixels[train], digits.target[train], [str(d) for d in range(10)], upscale=4)
        write_split(root, "test", pixels[test], digits.target[test], [str(d) for d in range(10)], upscale=4)
        sets["digits"] = {"root": root, "train": int(train.size), "test": int(test.size),
                          "source": "scikit-learn load_digits (8x8, upscaled 4x to PNG), stratified split"}
    return sets


def test_f1(root: Path, submission: pd.DataFrame) -> float:
    from pixelboard.commands.demo_cmd import score_submission
    from pixelboard.leaderboard.metrics import get_metric

    path = root / "_submission.csv"
    submission.to_csv(path, index=False)
    return round(float(score_submission(path, root / "test_labels.csv", get_metric("macro_f1"))), 4)


def timed_leaderboard(project, run: str, mode: str, jobs: int, seed: int):
    shutil.rmtree(project.files.run_dir(run), ignore_errors=True)  # a fresh run: nothing reused from a past one
    load = common.load_average()
    started = time.perf_counter()
    board = project.leaderboard(run=run, mode=mode, jobs=jobs, seed=seed, progress=False)
    return board, round(time.perf_counter() - started, 1), load


def run_mode(project, root: Path, mode: str, jobs: int, seed: int) -> dict:
    board, wall, load = timed_leaderboard(project, mode, mode, jobs, seed)
    best = board.best
    score = best["scores"]["macro_f1"]
    deployed = project.deploy(run=mode, jobs=jobs)
    submission = project.predict(root / "test", root / "test.csv", run=mode, progress=False)
    record = {"recommended": best["id"], "model": best["label"] + (f" ({'+'.join(best['members'])})"
                                                                    if best["members"] else ""),
              "featurizer": best["featurizer"], "cv": round(score["cv_mean"], 4), "cv_std": round(score["cv_std"], 4),
              "holdout": round(score["holdout"], 4), "test_macro_f1": test_f1(root, submission),
              "wall_seconds": wall, "deploy_seconds": round(deployed.seconds, 1),
              "rows": {kind: sum(r["kind"] == kind for r in board.rows) for kind in ("model", "stage", "blend")},
              "rank_1": board.rows[0]["id"], "load_average_at_start": load}
    if mode in REPEATED:  # again, in a fresh run: the same rows (same seed), a second wall time on a shared machine
        again, wall_again, load_again = timed_leaderboard(project, f"{mode}_again", mode, jobs, seed)
        as_text = lambda b: json.dumps([(r["id"], r["scores"]) for r in b.rows])  # noqa: E731 (NaN never equals)
        same = as_text(again) == as_text(board)
        record.update({"wall_seconds_runs": [wall, wall_again], "wall_seconds": min(wall, wall_again),
                       "load_average_at_start_runs": [load, load_again], "same_seed_same_leaderboard": same})
    if mode == "autopilot":
        stage = [r for r in board.rows if r["kind"] == "stage"]
        full = [r for r in board.rows if r["kind"] == "model"]
        screened = {(r["blueprint"], r["featurizer"]) for r in stage}
        record["promotion"] = {
            "screened": sorted(f"{b} on {f}" for b, f in screened),
            "promoted_from_screening": sorted(f"{r['blueprint']} on {r['featurizer']}" for r in full
                                              if (r["blueprint"], r["featurizer"]) in screened),
            "learning_curve": board.learning_curve["rows"]}
    print(f"  {mode:13s} {record['model'][:60]:60s} CV {record['cv']:.4f} holdout {record['holdout']:.4f} "
          f"test {record['test_macro_f1']:.4f} {record['wall_seconds']:7.1f} s (load {load})", flush=True)
    return record


def single_lr(project, root: Path, seed: int) -> dict:
    """L2 LR (C tuned by its inner CV) on every training row of the CNN embeddings -> the test images."""
    from pixelboard.models import create_blueprint

    files = project.files
    train = files.load_embeddings("train", CNN)
    test = files.load_embeddings("test", CNN)
    labels = pd.read_csv(root / "train.csv").set_index("ID")["target"]
    started = time.perf_counter()
    model = create_blueprint("lr_l2", random_state=seed).fit(np.asarray(train.matrix),
                                                              labels.loc[train.row_ids].to_numpy())
    seconds = time.perf_counter() - started
    ids = [Path(i).name for i in test.row_ids]
    submission = pd.DataFrame({"ID": ids, "target": model.predict(np.asarray(test.matrix))})
    record = {"model": f"L2 LR on {CNN}, all {len(train.row_ids)} training images", "C": round(model.C_, 4),
              "test_macro_f1": test_f1(root, submission), "fit_seconds": round(seconds, 1)}
    print(f"  {'single LR':13s} {record['model'][:60]:60s} test {record['test_macro_f1']:.4f} "
          f"{record['fit_seconds']:7.1f} s", flush=True)
    return record


def targets(modes: dict, lr: dict) -> dict:
    best_other = max(modes["quick"]["test_macro_f1"], modes["comprehensive"]["test_macro_f1"], lr["test_macro_f1"])
    default = modes["autopilot"]
    ratio = default["wall_seconds"] / modes["quick"]["wall_seconds"]
    return {"best_of_quick_comprehensive_single_lr": best_other,
            "f1_margin": round(default["test_macro_f1"] - best_other, 4),
            "f1_met": default["test_macro_f1"] >= best_other - 0.005,
            "time_ratio_to_quick": round(ratio, 2), "time_met": ratio <= 1.2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="sample,fashion,digits")
    parser.add_argument("--fashion", type=int, default=2000, help="Fashion-MNIST training images")
    parser.add_argument("--fashion-test", type=int, default=1000, help="Fashion-MNIST test images kept aside")
    parser.add_argument("--digits", type=int, default=1000, help="load_digits training images (the rest: test)")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--merge-into", type=Path, default=None, help="also merge the sets into this JSON file")
    common.add_run_arguments(parser, "defaults.json", device="cpu")
    args = parser.parse_args()
    import pixelboard

    with tempfile.TemporaryDirectory() as tmp:
        base = args.out_dir or Path(tmp)
        sets = prepare_sets(base, args.sets.split(","), args.fashion, args.fashion_test, args.digits, args.seed)
        record = {"benchmark": "defaults", "date": common.now(), "machine": common.machine(), "jobs": args.jobs,
                  "seed": args.seed, "featurizers": [CNN, "grayscale20"], "metric": "macro_f1",
                  "wall_time": "seconds of Project.leaderboard per mode (featurizing, deploy and predict excluded); "
                               "quick and autopilot: the faster of two fresh runs",
                  "versions": common.versions(), "sets": {}}
        for name, info in sets.items():
            root = Path(info["root"])
            print(f"== {name}: {info['train']} training + {info['test']} test images", flush=True)
            project = pixelboard.Project(root / "project")
            started = time.perf_counter()
            project.featurize(root / "train", root / "train.csv", meta=root / "meta.csv",
                              backbones=[CNN, "grayscale20"], device=args.device, progress=False)
            featurize_seconds = time.perf_counter() - started
            modes = {mode: run_mode(project, root, mode, args.jobs, args.seed) for mode in args.modes.split(",")}
            lr = single_lr(project, root, args.seed)
            entry = {**{k: v for k, v in info.items() if k != "root"}, "featurize_seconds": round(featurize_seconds, 1),
                     "date": common.now(),
                     "modes": modes, "single_lr": lr}
            if set(MODES) <= set(modes):
                entry["targets"] = targets(modes, lr)
                print(f"  targets: {entry['targets']}", flush=True)
            record["sets"][name] = entry
            record["load_average_at_end"] = common.load_average()
            common.write_result(args.output, record)  # after every set: a long run keeps what it finished
    if args.merge_into:  # these sets join an earlier run's file; each set keeps the date and load it ran at
        merged = json.loads(args.merge_into.read_text()) if args.merge_into.is_file() else {**record, "sets": {}}
        for name, entry in record["sets"].items():  # modes measured again replace theirs; the others stay
            entry = {**entry, "date": record["date"], "machine": record["machine"]}
            earlier = merged["sets"].get(name, {})
            modes = {**earlier.get("modes", {}), **entry["modes"]}
            kept = sorted(set(earlier.get("modes", {})) - set(entry["modes"]))
            merged["sets"][name] = {**earlier, **entry, "modes": modes,
                                    **({"modes_kept_from_an_earlier_run": kept} if kept else {})}
            if set(MODES) <= set(modes):
                merged["sets"][name]["targets"] = targets(modes, entry["single_lr"])
        common.write_result(args.merge_into, merged)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
