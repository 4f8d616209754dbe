"""Run the leaderboard: partition once, fit every (blueprint x featurizer) row, blend, rank.

Finished rows are reused (their key covers the blueprint, the featurizer fingerprint, the rows
and the partition), so a second run fits nothing and an interrupted or extended run fits only
what is missing. Only out-of-fold probabilities ever reach the blenders; ranking uses Cross
Validation, never Holdout.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from pixelboard import atomic
from pixelboard.errors import PixelboardError
from pixelboard.leaderboard.blenders import BLENDERS, create_blender, cross_validated_blend
from pixelboard.leaderboard.data import FeatureRows, Labels, load_feature_rows, load_labels
from pixelboard.leaderboard.evaluate import assemble, fit_fold, score_model
from pixelboard.leaderboard.export import write_tables
from pixelboard.leaderboard.metrics import get_metric
from pixelboard.leaderboard.partition import Partition, make_partition
from pixelboard.leaderboard.store import RunStore, row_key
from pixelboard.leaderboard.table import rank_rows
from pixelboard.models import get_blueprint, list_blueprints
from pixelboard.project import Project

BASELINE_FEATURIZER = "grayscale20"


@dataclass
class LeaderboardOptions:
    run: str = "leaderboard"
    set_name: str = "train"
    metric: str = "macro_f1"
    holdout_fraction: float = 0.2
    folds: int = 5
    seed: int = 0
    jobs: int = 1
    blueprints: list[str] = field(default_factory=list)  # empty: the registry's default set
    featurizers: list[str] = field(default_factory=list)  # empty: every featurizer of the set
    blenders: list[str] = field(default_factory=lambda: ["avg", "glm", "greedy"])
    blend_top: int = 3  # members of the average blender
    blend_candidates: int = 8  # models the GLM and greedy blenders choose from
    progress: bool = True


@dataclass
class LeaderboardResult:
    rows: list[dict]  # ranked, best first
    directory: Path
    n_fitted: int
    seconds: float
    tables: dict[str, Path]  # format -> leaderboard.<format> in the run directory


def run_leaderboard(project: Project, options: LeaderboardOptions) -> LeaderboardResult:
    started = time.perf_counter()
    metric = get_metric(options.metric)
    labels = load_labels(project, options.set_name)
    store = RunStore(project.root / options.run)
    partition = _partition(store, labels, options)
    features = [load_feature_rows(project, name, labels, options.set_name) for name in _featurizers(project, options)]
    plan = _plan(features, options, partition)
    atomic.write_json(store.directory / "config.json", _config(options, labels, features))

    results, todo = [], []
    for spec, rows in plan:
        key = row_key(spec)
        model_id = store.model_id(key, "M")
        done = store.load_result(model_id, key)
        (results.append(done) if done else todo.append((model_id, key, spec, rows)))
    results += _fit_rows(todo, labels, partition, store, options)
    results += _blend(results, labels, partition, store, options)
    ranked = rank_rows(results, metric.name)
    tables = write_tables(ranked, metric.name, store.directory)
    return LeaderboardResult(ranked, store.directory, len(todo), time.perf_counter() - started, tables)


def _partition(store: RunStore, labels: Labels, options: LeaderboardOptions) -> Partition:
    wanted = (options.seed, options.holdout_fraction, options.folds)
    if (store.partition_dir / "partition.json").is_file():
        partition = Partition.load(store.partition_dir)
        if (partition.seed, partition.holdout_fraction, partition.n_folds) != wanted:
            raise PixelboardError(
                f"run {store.directory} was partitioned with seed {partition.seed}, holdout "
                f"{partition.holdout_fraction}, {partition.n_folds} folds; use the same options, or --run NEW_NAME")
        partition.check_matches(labels.y)
        return partition
    partition = make_partition(labels.y, groups=labels.groups, holdout_fraction=options.holdout_fraction,
                               n_folds=options.folds, seed=options.seed)
    partition.save(store.partition_dir)
    return partition


def _featurizers(project: Project, options: LeaderboardOptions) -> list[str]:
    available = project.featurizer_names(options.set_name)
    if not available:
        raise PixelboardError(f"no embeddings for set {options.set_name!r} in {project.root}: "
                              "run `pixelboard featurize` first")
    unknown = [n for n in options.featurizers if n not in available]
    if unknown:
        raise PixelboardError(f"no embeddings named {', '.join(unknown)}; the project has {', '.join(available)}")
    return options.featurizers or available


def _plan(features: list[FeatureRows], options: LeaderboardOptions, partition: Partition):
    """Every blueprint on every featurizer; the Baseline Image Classifier whenever grayscale20 exists."""
    names = options.blueprints or list_blueprints(default_only=True)
    for name in names:
        get_blueprint(name)
    plan = []
    for rows in features:
        chosen = list(names)
        if rows.name.startswith(BASELINE_FEATURIZER) and "lr_l2" not in chosen:
            chosen.append("lr_l2")
        for name in chosen:
            spec = {"blueprint": name, "featurizer": rows.name, "fingerprint": rows.embeddings.sidecar["fingerprint"],
                    "augment": rows.embeddings.sidecar.get("augment"), "n_rows": int(rows.X.shape[0]),
                    "levels": rows.embeddings.sidecar["levels"], "partition": partition.labels_fingerprint,
                    "seed": options.seed, "folds": partition.n_folds, "holdout": partition.holdout_fraction}
            plan.append((spec, rows))
    return plan


def _fit_rows(todo, labels: Labels, partition: Partition, store: RunStore, options: LeaderboardOptions) -> list[dict]:
    if not todo:
        return []
    # Parallel processes with one thread each: boosters' OpenMP threads spin on busy cores, and
    # measured on 2 cores, two threads per fit were slower than one for every blueprint.
    threads = 1 if options.jobs > 1 else max(1, os.cpu_count() or 1)
    tasks = [(model_id, key, spec, rows, fold) for model_id, key, spec, rows in todo for fold in range(partition.n_folds)]
    jobs = (delayed(fit_fold)(spec["blueprint"], rows, np.arange(rows.X.shape[1]), labels.y, labels.n_classes,
                              partition, fold, options.seed, threads) for _, _, spec, rows, fold in tasks)
    finished, results = {}, []
    bar = tqdm(total=len(tasks), desc=f"fitting {len(todo)} models x {partition.n_folds} folds", unit="fit",
               disable=not options.progress)
    with bar, Parallel(n_jobs=options.jobs, return_as="generator") as parallel:
        for (model_id, key, spec, rows, _), fold_result in zip(tasks, parallel(jobs)):
            bar.update(1)
            bar.set_postfix_str(f"done: {spec['blueprint']} on {spec['featurizer']}")
            finished.setdefault(model_id, []).append(fold_result)
            if len(finished[model_id]) == partition.n_folds:  # a row is saved as soon as its folds are done
                results.append(_save_model(model_id, key, spec, finished.pop(model_id), labels, partition, store))
    return results


def _save_model(model_id, key, spec, folds, labels: Labels, partition: Partition, store: RunStore) -> dict:
    oof, holdout = assemble(folds, partition, labels.n_classes)
    blueprint = get_blueprint(spec["blueprint"])
    baseline = blueprint.name == "lr_l2" and spec["featurizer"].startswith(BASELINE_FEATURIZER)
    result = {
        "id": model_id, "key": key, "kind": "model", "blueprint": blueprint.name,
        "label": "Baseline Image Classifier (grayscale 20x20 + L2 LR)" if baseline else blueprint.label,
        "featurizer": spec["featurizer"], "levels": spec["levels"], "members": [],
        "sample_pct": round(100 * (1 - partition.holdout_fraction) * (partition.n_folds - 1) / partition.n_folds, 1),
        "scores": score_model(oof, holdout, labels.y, partition, labels.n_classes),
        "fit_seconds": round(sum(f.fit_seconds for f in folds), 3),
        "predict_seconds": round(sum(f.predict_seconds for f in folds), 3),
        "spec": spec,
    }
    store.save(model_id, result, oof, holdout, {f"fold_{f.fold}": f.model for f in folds})
    return result


def _blend(results: list[dict], labels: Labels, partition: Partition, store: RunStore,
           options: LeaderboardOptions) -> list[dict]:
    metric = get_metric(options.metric)
    candidates = [r for r in rank_rows(results, metric.name) if r["blueprint"] != "majority"]
    candidates = candidates[:options.blend_candidates]
    if len(candidates) < 2 or not options.blenders:
        return []
    arrays = {r["id"]: store.load_arrays(r["id"]) for r in candidates}
    oof = {m: a[0] for m, a in arrays.items()}
    holdout = {m: a[1] for m, a in arrays.items()}
    cv_rows = np.flatnonzero(partition.fold_of() >= 0)
    blends = []
    for name in options.blenders:
        params = _blender_params(name, options)
        members = [r["id"] for r in candidates[:options.blend_top]] if name == "avg" else list(oof)
        spec = {"blender": name, "params": params, "members": sorted(r["key"] for r in candidates if r["id"] in members)}
        key = row_key(spec)
        blend_id = store.model_id(key, "B")
        done = store.load_result(blend_id, key)
        if done:
            blends.append(done)
            continue
        started = time.perf_counter()
        chosen = {m: oof[m] for m in members}
        blended_oof = cross_validated_blend(lambda: create_blender(name, **params), chosen, labels.y, partition.fold_of())
        blender = create_blender(name, **params).fit({m: p[cv_rows] for m, p in chosen.items()}, labels.y[cv_rows])
        fit_seconds = time.perf_counter() - started
        blended_holdout = blender.predict_proba({m: holdout[m] for m in members}) if len(partition.holdout) else \
            np.zeros((0, labels.n_classes))
        used = [m for m in members if m in blender.members_]
        result = {
            "id": blend_id, "key": key, "kind": "blend", "blueprint": name, "label": BLENDERS[name].label,
            "featurizer": "+".join(dict.fromkeys(r["featurizer"] for r in candidates if r["id"] in used)),
            "levels": [], "members": used, "weights": {m: round(float(w), 4) for m, w in blender.weights_.items()},
            "sample_pct": candidates[0]["sample_pct"],
            "scores": score_model(blended_oof, blended_holdout, labels.y, partition, labels.n_classes),
            "fit_seconds": round(fit_seconds, 3), "predict_seconds": 0.0, "spec": spec,
        }
        store.save(blend_id, result, blended_oof, blended_holdout, {"blender": blender})
        blends.append(result)
    return blends


def _blender_params(name: str, options: LeaderboardOptions) -> dict:
    return {"avg": {"k": options.blend_top, "metric": options.metric}, "glm": {"random_state": options.seed},
            "greedy": {"metric": options.metric, "rounds": 25}}[name]


def _config(options: LeaderboardOptions, labels: Labels, features: list[FeatureRows]) -> dict:
    versions = {}
    for name in ("pixelboard", "scikit-learn", "lightgbm", "xgboost", "catboost", "torch", "numpy", "pandas"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"options": asdict(options), "n_images": len(labels.ids), "classes": labels.classes,
            "featurizers": {f.name: f.embeddings.sidecar["fingerprint"] for f in features},
            "versions": {"python": platform.python_version(), **versions},
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
