"""Run the leaderboard: partition once, fit every (blueprint x featurizer) row, blend, rank.

Finished rows are reused (their key covers the blueprint and its parameters, the embeddings'
contents, the groups, the partition and the library versions), so a second run fits nothing and an interrupted or extended run fits only
what is missing. Only out-of-fold probabilities ever reach the blenders; ranking uses Cross
Validation, never Holdout.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from pixelboard import atomic
from pixelboard.errors import PixelboardError
from pixelboard.fitted import FeaturizerSpec, FittedModel
from pixelboard.leaderboard.blenders import BLENDERS, create_blender, cross_validated_blend, get_blender_spec
from pixelboard.leaderboard.data import (FeatureRows, Labels, array_digest, image_content_keys, load_feature_rows,
                                         load_labels)
from pixelboard.leaderboard.evaluate import assemble, fit_fold, score_model
from pixelboard.leaderboard.export import write_tables
from pixelboard.leaderboard.metrics import get_metric
from pixelboard.leaderboard.identity import groups_fingerprint, identity_groups, n_merged
from pixelboard.leaderboard.partition import Partition, make_partition
from pixelboard.leaderboard.shift import shifted_rows
from pixelboard.leaderboard.store import RunStore, row_key
from pixelboard.leaderboard.table import rank_rows
from pixelboard.models import blueprint_params, get_blueprint, list_blueprints
from pixelboard.project import Project
from pixelboard.versions import library_versions

BASELINE_FEATURIZER = "grayscale20"
FIT_THREADS = 1  # threads per fit: fixed, so results do not depend on --jobs or the machine


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
    validate_under: list[str] = field(default_factory=list)  # views to score validation/holdout under (shift.py)
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
    for name in options.blenders:  # unknown names fail before any model is fitted
        get_blender_spec(name)
    blueprints = options.blueprints or list_blueprints(default_only=True)
    for name in blueprints:
        get_blueprint(name)
    labels = load_labels(project, options.set_name)
    features = [load_feature_rows(project, name, labels, options.set_name) for name in _featurizers(project, options)]
    groups = identity_groups(image_content_keys(features), labels.groups)
    if options.validate_under:
        features = [replace(rows, shifted=shifted_rows(project, rows, labels, options.validate_under, options.seed,
                                                       options.set_name)) for rows in features]
    store = RunStore(project.run_dir(options.run))
    partition = _partition(store, labels, groups, options)
    plan = _plan(features, blueprints, options, partition, groups)
    atomic.write_json(store.directory / "config.json", _config(options, labels, features, groups))

    results, todo = [], []
    for spec, rows in plan:
        key = row_key(spec)
        model_id = store.model_id(key, "M")
        done = store.load_result(model_id, key)
        (results.append(done) if done else todo.append((model_id, key, spec, rows)))
    results += _fit_rows(todo, labels, groups, partition, store, options)
    results += _blend(results, labels, partition, store, options)
    ranked = rank_rows(results, metric.name, shifted=bool(options.validate_under))
    store.save_ranking([r["id"] for r in ranked], metric.name)
    tables = write_tables(ranked, metric.name, store.directory)
    return LeaderboardResult(ranked, store.directory, len(todo), time.perf_counter() - started, tables)


def _partition(store: RunStore, labels: Labels, groups: np.ndarray, options: LeaderboardOptions) -> Partition:
    wanted = (options.seed, options.holdout_fraction, options.folds)
    targets = labels.targets()  # the user's labels, so errors name them (not internal indices)
    if (store.partition_dir / "partition.json").is_file():
        partition = Partition.load(store.partition_dir)
        if (partition.seed, partition.holdout_fraction, partition.n_folds) != wanted:
            raise PixelboardError(
                f"run {store.directory} was partitioned with seed {partition.seed}, holdout "
                f"{partition.holdout_fraction}, {partition.n_folds} folds; use the same options, or --run NEW_NAME")
        partition.check_matches(targets, groups)
        return partition
    partition = make_partition(targets, groups=groups, holdout_fraction=options.holdout_fraction,
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


def _plan(features: list[FeatureRows], blueprints: list[str], options: LeaderboardOptions, partition: Partition,
          groups: np.ndarray):
    """Every blueprint on every featurizer; the Baseline Image Classifier whenever grayscale20 exists.

    A row's key covers everything that changes its numbers: the embeddings' contents, the groups,
    the partition, the estimator's parameters, the seed and the library versions. A finished row is
    reused only when all of them match.
    """
    shared = {"groups": groups_fingerprint(groups), "partition": partition.fingerprint(), "seed": options.seed,
              "versions": library_versions()}
    plan = []
    for rows in features:
        # Scored under views: the views and the drawn view rows are part of the row's identity too.
        shift = {} if rows.shifted is None else {"validate_under": options.validate_under,
                                                 "shifted_rows": array_digest(rows.shifted)}
        chosen = list(blueprints)
        if rows.name.startswith(BASELINE_FEATURIZER) and "lr_l2" not in chosen:
            chosen.append("lr_l2")
        for name in chosen:
            spec = {"blueprint": name, "params": blueprint_params(name), "featurizer": rows.name,
                    "fingerprint": rows.embeddings.sidecar["fingerprint"], "rows": rows.digest(),
                    "augment": rows.embeddings.sidecar.get("augment"), "n_rows": int(rows.X.shape[0]),
                    "levels": rows.embeddings.sidecar["levels"], "folds": partition.n_folds,
                    "holdout": partition.holdout_fraction, **shared, **shift}
            plan.append((spec, rows))
    return plan


def _fit_rows(todo, labels: Labels, groups: np.ndarray, partition: Partition, store: RunStore,
              options: LeaderboardOptions) -> list[dict]:
    if not todo:
        return []
    # Parallel processes with ONE thread each, whatever --jobs and the core count: a fit's numbers
    # depend on its thread count (measured on real embeddings, 1 vs 2 threads: MLP probabilities
    # moved by up to 6e-3, XGBoost 4e-8, LR 1e-11), so the same seed gives the same leaderboard on
    # any machine. Measured on 2 cores, two threads per fit were slower than one anyway.
    threads = FIT_THREADS
    tasks = [(model_id, key, spec, rows, fold) for model_id, key, spec, rows in todo for fold in range(partition.n_folds)]
    jobs = (delayed(fit_fold)(spec["blueprint"], rows, np.arange(rows.X.shape[1]), labels.y, groups,
                              labels.n_classes, partition, fold, options.seed, threads)
            for _, _, spec, rows, fold in tasks)
    finished, results = {}, []
    bar = tqdm(total=len(tasks), desc=f"fitting {len(todo)} models x {partition.n_folds} folds", unit="fit",
               disable=not options.progress)
    with bar, Parallel(n_jobs=options.jobs, return_as="generator") as parallel:
        for (model_id, key, spec, rows, _), fold_result in zip(tasks, parallel(jobs)):
            bar.update(1)
            bar.set_postfix_str(f"done: {spec['blueprint']} on {spec['featurizer']}")
            finished.setdefault(model_id, []).append(fold_result)
            if len(finished[model_id]) == partition.n_folds:  # a row is saved as soon as its folds are done
                results.append(_save_model(model_id, key, spec, rows, finished.pop(model_id), labels, partition, store))
    return results


def _save_model(model_id, key, spec, rows: FeatureRows, folds, labels: Labels, partition: Partition,
                store: RunStore) -> dict:
    oof, holdout = assemble(folds, partition, labels.n_classes)
    blueprint = get_blueprint(spec["blueprint"])
    baseline = blueprint.name == "lr_l2" and spec["featurizer"].startswith(BASELINE_FEATURIZER)
    label = "Baseline Image Classifier (grayscale 20x20 + L2 LR)" if baseline else blueprint.label
    sample_pct = round(100 * (1 - partition.holdout_fraction) * (partition.n_folds - 1) / partition.n_folds, 1)
    shifted = None
    if folds[0].shifted_valid_proba is not None:
        shifted = assemble(folds, partition, labels.n_classes, shifted=True)
        result_extra = {"scores_shifted": score_model(*shifted, labels.y, partition, labels.n_classes)}
    else:
        result_extra = {}
    fitted = FittedModel(model_id, label, labels.classes, labels.class_names,
                         trained_on=f"{partition.n_folds} fold models, each on {sample_pct}% of the labelled images",
                         featurizer=FeaturizerSpec.from_sidecar(rows.embeddings.sidecar),
                         estimators=[f.model for f in folds])
    result = {
        "id": model_id, "key": key, "kind": "model", "blueprint": blueprint.name, "label": label,
        "featurizer": spec["featurizer"], "levels": spec["levels"], "members": [],
        "sample_pct": sample_pct,
        "scores": score_model(oof, holdout, labels.y, partition, labels.n_classes), **result_extra,
        "fit_seconds": round(sum(f.fit_seconds for f in folds), 3),
        "predict_seconds": round(sum(f.predict_seconds for f in folds), 3),
        "spec": spec,
    }
    store.save(model_id, result, oof, holdout, fitted, shifted)
    return result


def _blend(results: list[dict], labels: Labels, partition: Partition, store: RunStore,
           options: LeaderboardOptions) -> list[dict]:
    """Blenders on out-of-fold probabilities. Under ``--validate-under`` they learn from the shifted ones
    (the test conditions) and are scored both ways, like every model."""
    metric = get_metric(options.metric)
    shifted = bool(options.validate_under)
    candidates = [r for r in rank_rows(results, metric.name, shifted) if r["blueprint"] != "majority"]
    candidates = candidates[:options.blend_candidates]
    if len(candidates) < 2 or not options.blenders:
        return []
    clean = {r["id"]: store.load_arrays(r["id"]) for r in candidates}  # model id -> (oof, holdout)
    views = {r["id"]: store.load_arrays(r["id"], shifted=True) for r in candidates} if shifted else clean
    cv_rows = np.flatnonzero(partition.fold_of() >= 0)
    blends = []
    for name in options.blenders:
        params = _blender_params(name, options)
        members = [r["id"] for r in candidates[:options.blend_top]] if name == "avg" else list(clean)
        spec = {"blender": name, "params": params, "members": sorted(r["key"] for r in candidates if r["id"] in members),
                "validate_under": options.validate_under, "versions": library_versions()}
        key = row_key(spec)
        blend_id = store.model_id(key, "B")
        done = store.load_result(blend_id, key)
        if done:
            blends.append(done)
            continue
        started = time.perf_counter()
        factory = lambda: create_blender(name, **params)  # noqa: E731
        learn = {m: views[m][0] for m in members}
        blender = factory().fit({m: p[cv_rows] for m, p in learn.items()}, labels.y[cv_rows])
        fit_seconds = time.perf_counter() - started

        def blended(arrays):  # nested-CV out-of-fold and holdout probabilities of the blend
            oof = cross_validated_blend(factory, learn, labels.y, partition.fold_of(), {m: arrays[m][0] for m in members})
            holdout = blender.predict_proba({m: arrays[m][1] for m in members}) if len(partition.holdout) \
                else np.zeros((0, labels.n_classes))
            return oof, holdout

        blended_clean = blended(clean)
        blended_views = blended(views) if shifted else None
        used = [m for m in members if m in blender.members_]
        result = {
            "id": blend_id, "key": key, "kind": "blend", "blueprint": name, "label": BLENDERS[name].label,
            "featurizer": "+".join(dict.fromkeys(r["featurizer"] for r in candidates if r["id"] in used)),
            "levels": [], "members": used, "weights": {m: round(float(w), 4) for m, w in blender.weights_.items()},
            "sample_pct": candidates[0]["sample_pct"],
            "scores": score_model(*blended_clean, labels.y, partition, labels.n_classes),
            **({"scores_shifted": score_model(*blended_views, labels.y, partition, labels.n_classes)} if shifted else {}),
            "fit_seconds": round(fit_seconds, 3), "predict_seconds": 0.0, "spec": spec,
        }
        fitted = FittedModel(blend_id, result["label"], labels.classes, labels.class_names,
                             trained_on="blender fitted on out-of-fold probabilities", blender=blender,
                             members=[store.load_fitted(m) for m in used])
        store.save(blend_id, result, *blended_clean, fitted, blended_views)
        blends.append(result)
    return blends


def _blender_params(name: str, options: LeaderboardOptions) -> dict:
    return {"avg": {"k": options.blend_top, "metric": options.metric}, "glm": {"random_state": options.seed},
            "greedy": {"metric": options.metric, "rounds": 25}}[name]


def _config(options: LeaderboardOptions, labels: Labels, features: list[FeatureRows], groups: np.ndarray) -> dict:
    return {"options": asdict(options), "n_images": len(labels.ids), "classes": labels.classes,
            "class_names": labels.class_names, "n_groups": int(np.unique(groups).size),
            "images_sharing_a_group": n_merged(groups),
            "featurizers": {f.name: f.embeddings.sidecar["fingerprint"] for f in features},
            "versions": library_versions(),
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
