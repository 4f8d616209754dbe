"""Run the leaderboard: partition once, fit the mode's (blueprint x featurizer) rows stage by stage, blend, rank.

Finished rows are reused (their key covers the blueprint and its parameters, the embeddings'
contents, the groups, the partition, the stage and its sample, and the library versions), so a
second run fits nothing and an interrupted, budget-stopped or extended run fits only what is missing.
Which rows, at which stage, is autopilot.py's; what a fit may cost under ``--time-budget`` is
budget.py's. Only out-of-fold probabilities of full-CV rows ever reach the blenders; ranking uses
Cross Validation, never Holdout.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from pixelboard import atomic
from pixelboard.errors import PixelboardError
from pixelboard.fitted import FeaturizerSpec, FittedModel
from pixelboard.leaderboard.autopilot import (BASELINE_LABEL, Candidate, Stage, featurizer_inputs, full_sample_pct, get_mode,
                                              learning_curve, plan_candidates, render_learning_curve,
                                              screening_stages, stage_score)
from pixelboard.leaderboard.blend_rows import blend_rows
from pixelboard.leaderboard.blenders import get_blender_spec
from pixelboard.leaderboard.budget import FitEstimator, TimeBudget, blend_seconds, prior_cost
from pixelboard.leaderboard.data import (FeatureRows, Labels, array_digest, image_content_keys, load_feature_rows,
                                         load_labels)
from pixelboard.leaderboard.evaluate import FoldResult, assemble, fit_fold, score_model, score_one_fold
from pixelboard.leaderboard.export import write_tables
from pixelboard.leaderboard.metrics import get_metric
from pixelboard.leaderboard.identity import groups_fingerprint, identity_groups, n_merged
from pixelboard.leaderboard.memory import GB, fit_bytes, parallel_fits
from pixelboard.leaderboard.partition import Partition, make_partition
from pixelboard.leaderboard.promotion import (promote_screened, promotion_bar, split_sure,
                                              within_allowance)
from pixelboard.leaderboard.shift import shifted_rows
from pixelboard.leaderboard.store import RunStore, row_key
from pixelboard.leaderboard.table import rank_rows
from pixelboard.models import blueprint_params, get_blueprint
from pixelboard.project import Project
from pixelboard.versions import library_versions

log = logging.getLogger(__name__)

FIT_THREADS = 1  # threads per fit: fixed, so results do not depend on --jobs or the machine
CLOSING_SECONDS = 0.5  # budget kept for ranking and writing the tables


@dataclass
class LeaderboardOptions:
    run: str = "leaderboard"
    set_name: str = "train"
    metric: str = "macro_f1"
    holdout_fraction: float = 0.2
    folds: int = 5
    seed: int = 0
    jobs: int = 1
    mode: str = "autopilot"  # quick | autopilot | comprehensive (autopilot.MODES)
    time_budget: float | None = None  # seconds for the whole run; None: no limit
    max_memory_gb: float | None = None  # fewer fits side by side to stay within it (memory.py); None: --jobs
    blueprints: list[str] = field(default_factory=list)  # empty: the mode's set
    featurizers: list[str] = field(default_factory=list)  # empty: every featurizer of the set
    blenders: list[str] = field(default_factory=lambda: ["avg", "glm", "greedy"])
    blend_top: int = 3  # members of the average blender
    blend_candidates: int = 8  # models the GLM and greedy blenders choose from
    validate_under: list[str] = field(default_factory=list)  # views to score validation/holdout under (shift.py)
    progress: bool = True


@dataclass
class LeaderboardResult:
    rows: list[dict]  # ranked, best first: full-CV rows and blends, then screening rows
    directory: Path
    n_fitted: int
    seconds: float
    tables: dict[str, Path]  # format -> leaderboard.<format> in the run directory
    learning_curve: dict = field(default_factory=dict)  # <run>/learning_curve.json
    skipped: str = ""  # one line: what the time budget left out and how to resume; "" when nothing


@dataclass(frozen=True)
class RowJob:
    """One leaderboard row to fit: a candidate at a stage (``stage=None``: full CV), its key and id."""

    candidate: Candidate
    stage: Stage | None
    rows: FeatureRows
    spec: dict
    key: str
    model_id: str
    train_rows: int  # matrix rows one of its fits trains on (copies included): what its cost scales with
    sample_pct: float  # % of the labelled images one of its fits trains on

    @property
    def folds(self) -> list[int]:
        return [0] if self.stage else list(range(self.spec["folds"]))

    @property
    def where(self) -> str:
        return f"{self.candidate.blueprint} on {self.candidate.featurizer} at {self.sample_pct:g}%"


@dataclass
class RunContext:
    """What every stage of one run shares."""

    options: LeaderboardOptions
    labels: Labels
    groups: np.ndarray
    partition: Partition
    store: RunStore
    features: dict[str, FeatureRows]
    shared: dict  # key parts common to every row
    budget: TimeBudget
    estimator: FitEstimator = field(default_factory=FitEstimator)
    skipped: list[RowJob] = field(default_factory=list)  # rows the time budget did not start
    skipped_blends: list[str] = field(default_factory=list)
    n_fitted: int = 0

    def fold_seconds(self, job: RowJob) -> float:
        return self.estimator.seconds(job.candidate.blueprint, job.candidate.featurizer, job.train_rows,
                                      job.rows.X.shape[1])


def run_leaderboard(project: Project, options: LeaderboardOptions) -> LeaderboardResult:
    started = time.perf_counter()
    if options.time_budget is not None and not options.time_budget > 0:
        raise PixelboardError(f"the time budget must be more than 0 seconds, got {options.time_budget}")
    if options.max_memory_gb is not None and not options.max_memory_gb > 0:
        raise PixelboardError(f"the memory limit must be more than 0 GB, got {options.max_memory_gb}")
    budget = TimeBudget(options.time_budget, options.jobs, started)
    metric = get_metric(options.metric)
    mode = get_mode(options.mode)
    for name in options.blenders:  # unknown names fail before any model is fitted
        get_blender_spec(name)
    labels = load_labels(project, options.set_name)
    features = [load_feature_rows(project, name, labels, options.set_name) for name in _featurizers(project, options)]
    candidates = plan_candidates(mode, options.blueprints, features)
    groups = identity_groups(image_content_keys(features), labels.groups)
    if options.validate_under:
        features = [replace(rows, shifted=shifted_rows(project, rows, labels, options.validate_under, options.seed,
                                                       options.set_name)) for rows in features]
    store = RunStore(project.run_dir(options.run))
    partition = _partition(store, labels, groups, options)
    atomic.write_json(store.directory / "config.json", _config(options, labels, features, groups))
    shared = {"groups": groups_fingerprint(groups), "partition": partition.fingerprint(), "seed": options.seed,
              "versions": library_versions()}
    ctx = RunContext(options, labels, groups, partition, store, {f.name: f for f in features}, shared, budget)
    budget.reserve = CLOSING_SECONDS + sum(
        blend_seconds(b, len(partition.cv_rows()), min(options.blend_candidates, len(candidates)), labels.n_classes)
        for b in options.blenders)

    shifted = bool(options.validate_under)
    results = _fit_autopilot(ctx, mode, candidates, metric, shifted) if mode.screening else \
        _fit_stage(ctx, candidates, None)
    full = [r for r in results if r["kind"] == "model"]
    if not results:
        raise PixelboardError(_skipped_line(ctx, options).replace("finished rows are saved", "no row finished"))
    results += [] if ctx.skipped else blend_rows(full, ctx)  # blends of a cut run would not be those of the whole
    ranked = rank_rows(results, metric.name, shifted=shifted)
    store.save_ranking([r["id"] for r in ranked], metric.name)
    tables = write_tables(ranked, metric.name, store.directory)
    curve = learning_curve(ranked, metric.name, shifted)
    atomic.write_json(store.directory / "learning_curve.json", curve)
    atomic.write_text(store.directory / "learning_curve.md", render_learning_curve(curve))
    skipped = _skipped_line(ctx, options) if budget.stopped else ""
    return LeaderboardResult(ranked, store.directory, ctx.n_fitted, time.perf_counter() - started, tables, curve,
                             skipped)


def _fit_autopilot(ctx: RunContext, mode, candidates: list[Candidate], metric, shifted: bool) -> list[dict]:
    """The sure rows with full CV first, then the screened rows within the allowance on fold 1 at each
    screening stage, then full CV for the screened rows whose learning curve beats the sure rows'
    best (promotion.py). A plan of a handful of rows skips screening: every row gets full CV."""
    options, partition = ctx.options, ctx.partition
    static_cost = lambda c: prior_cost(c.blueprint, *ctx.features[c.featurizer].X.shape)  # noqa: E731 (no clock)
    stages = screening_stages(mode, candidates, partition, ctx.labels.y, ctx.groups, options.seed)
    if not stages:
        return _fit_stage(ctx, candidates, None)
    sure, screened = split_sure(candidates, lambda name: featurizer_inputs(ctx.features[name]))
    full_pct = full_sample_pct(partition)
    share = sum(stage.sample_pct for stage in stages) / full_pct  # screening cost in full-size folds
    screened, _ = within_allowance(screened, sure, static_cost, share, partition.n_folds)
    sure_rows = _fit_stage(ctx, sure, None)
    results = list(sure_rows)
    curves: dict[Candidate, list[tuple[float, float]]] = {c: [] for c in screened}
    for stage in stages:
        if ctx.skipped or not screened:  # promotion needs complete scores: resume to get there
            break
        for row in _fit_stage(ctx, screened, stage):
            results.append(row)
            curves[Candidate(row["blueprint"], row["featurizer"])].append(
                (stage.sample_pct, stage_score(row, metric.name, shifted)))
    if ctx.skipped:
        return results
    bar = promotion_bar(sure_rows, metric, shifted) if sure else None
    promoted = promote_screened(curves, full_pct, bar)
    log.info("autopilot: promoted to full CV: %s", ", ".join(f"{c.blueprint} on {c.featurizer}" for c in promoted)
             or "none (no screened row's learning curve reaches the cheap rows' best)")
    return results + _fit_stage(ctx, promoted, None)


def _skipped_line(ctx: RunContext, options: LeaderboardOptions) -> str:
    """One line: what the budget left out, and that a rerun resumes."""
    what = []
    if ctx.skipped:
        rows = ", ".join(job.where for job in ctx.skipped[:3]) + (", …" if len(ctx.skipped) > 3 else "")
        what.append(f"{len(ctx.skipped)} row(s) ({rows}), the stages after them and the blends")
    if ctx.skipped_blends:
        what.append(f"the {', '.join(ctx.skipped_blends)} blend(s)")
    return (f"time budget of {options.time_budget:g} s: skipped {'; '.join(what)}; finished rows are saved — "
            "run again (with a larger --time-budget) to resume")


def _partition(store: RunStore, labels: Labels, groups: np.ndarray, options: LeaderboardOptions) -> Partition:
    wanted = (options.seed, options.holdout_fraction, options.folds)
    targets = labels.targets()  # the user's labels, so errors name them (not internal indices)
    saved = [store.partition_dir / name for name in ("partition.json", "group_fold.npy", "scored.npy")]
    if all(path.is_file() for path in saved):  # else (none yet, or one deleted as an error advised): rebuild
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


def _row_job(ctx: RunContext, candidate: Candidate, stage: Stage | None) -> RowJob:
    """The row of ``candidate`` at ``stage``. Its key covers everything that changes its numbers: the
    embeddings' contents, the groups, the partition, the estimator's parameters, the seed, the library
    versions and, for a screening row, the stage and its sample. A finished row is reused only when all
    of them match."""
    rows, options, partition = ctx.features[candidate.featurizer], ctx.options, ctx.partition
    # Scored under views: the views and the drawn view rows are part of the row's identity too.
    shift = {} if rows.shifted is None else {"validate_under": options.validate_under,
                                             "shifted_rows": array_digest(rows.shifted)}
    screening = {} if stage is None else {"stage": stage.name, "sample": array_digest(stage.sample)}
    spec = {"blueprint": candidate.blueprint, "params": blueprint_params(candidate.blueprint),
            "featurizer": rows.name, "fingerprint": rows.embeddings.sidecar["fingerprint"], "rows": rows.digest(),
            "augment": rows.embeddings.sidecar.get("augment"), "n_rows": int(rows.X.shape[0]),
            "levels": rows.embeddings.sidecar["levels"], "folds": partition.n_folds,
            "holdout": partition.holdout_fraction, **ctx.shared, **shift, **screening}
    key = row_key(spec)
    train = stage.sample if stage else partition.folds[0][0]
    return RowJob(candidate, stage, rows, spec, key, ctx.store.model_id(key, "M"), int(rows.train_rows(train).size),
                  stage.sample_pct if stage else full_sample_pct(partition))


def _fit_stage(ctx: RunContext, candidates: list[Candidate], stage: Stage | None) -> list[dict]:
    """The rows of ``candidates`` at ``stage``, reused when finished, else fitted; in candidate order."""
    jobs = [_row_job(ctx, c, stage) for c in candidates]
    done = {job.model_id: ctx.store.load_result(job.model_id, job.key) for job in jobs}
    for result in filter(None, done.values()):
        if result.get("train_rows"):  # reused rows tell the budget what their blueprints cost
            ctx.estimator.observe(result["blueprint"], result["featurizer"], result["train_rows"],
                                  result["n_columns"], result["fold_seconds"])
    fitted = _fit_rows(ctx, [job for job in jobs if not done[job.model_id]])
    ctx.n_fitted += len(fitted)
    done.update(fitted)
    return [done[job.model_id] for job in jobs if done.get(job.model_id)]


def _fit_rows(ctx: RunContext, todo: list[RowJob]) -> dict[str, dict]:
    """Fit every fold of every row in ``todo`` that the time budget admits; a row is saved as soon as
    its folds are done. Under a budget the cheapest rows go first, so as many as possible finish."""
    if not todo:
        return {}
    order = sorted(todo, key=ctx.fold_seconds) if ctx.budget.limited else todo

    def admitted() -> Iterator[tuple[RowJob, int]]:  # pulled as workers free up: admission sees the clock then
        for job in order:
            if ctx.budget.admit([ctx.fold_seconds(job)] * len(job.folds)):
                yield from ((job, fold) for fold in job.folds)
            else:
                ctx.skipped.append(job)

    jobs = _parallel_fits(ctx, todo)
    ctx.budget.use_workers(jobs)  # admission plans on the workers this stage really runs
    finished, results = {}, {}
    n_tasks = sum(len(job.folds) for job in todo)
    stage = todo[0].stage.name if todo[0].stage else f"{todo[0].spec['folds']} folds"
    bar = tqdm(total=n_tasks, desc=f"fitting {len(todo)} models x {stage}", unit="fit",
               disable=not ctx.options.progress)
    with bar:
        for job, fold_result in execute_fits(admitted(), ctx, jobs):
            bar.update(1)
            bar.set_postfix_str(f"done: {job.where}")
            ctx.estimator.observe(job.candidate.blueprint, job.candidate.featurizer, job.train_rows,
                                  job.rows.X.shape[1], fold_result.fit_seconds + fold_result.predict_seconds)
            finished.setdefault(job.model_id, []).append(fold_result)
            if len(finished[job.model_id]) == len(job.folds):
                results[job.model_id] = _save_model(job, finished.pop(job.model_id), ctx)
    return results


def _parallel_fits(ctx: RunContext, todo: list[RowJob]) -> int:
    """``--jobs``, or fewer when that many of this stage's largest fit would pass ``--max-memory``."""
    largest = max(fit_bytes(j.candidate.blueprint, j.train_rows, j.rows.X.shape[1]) for j in todo)
    shared = sum(rows.X.nbytes for rows in {id(j.rows): j.rows for j in todo}.values())
    fits = sum(len(job.folds) for job in todo)  # more workers than fits would only wait (and hold semaphores)
    jobs = parallel_fits(min(ctx.options.jobs, fits), ctx.options.max_memory_gb, largest, shared)
    if jobs < min(ctx.options.jobs, fits):
        log.info(f"--max-memory {ctx.options.max_memory_gb:g} GB: {jobs} fit(s) at a time for this stage "
                 f"(its largest fit needs about {largest / GB:.1f} GB)")
    return jobs


def execute_fits(tasks: Iterator[tuple[RowJob, int]], ctx: RunContext,
                 jobs: int) -> Iterator[tuple[RowJob, FoldResult]]:
    """The one place fold fits run: ``(row, fold)`` tasks in, ``(row, result)`` out as each finishes,
    ``jobs`` at a time.

    A backend (Ray, another joblib backend) replaces this function. Parallel processes with ONE
    thread each, whatever --jobs and the core count: a fit's numbers depend on its thread count
    (measured on real embeddings, 1 vs 2 threads: MLP probabilities moved by up to 6e-3, XGBoost 4e-8,
    LR 1e-11), so the same seed gives the same leaderboard on any machine; on 2 cores two threads
    per fit were slower than one anyway. Tasks are pulled one at a time as workers free up
    (``pre_dispatch``), so the time budget admits each row when it can actually start.
    """
    pulled: dict[int, RowJob] = {}

    def calls():
        for n, (job, fold) in enumerate(tasks):
            pulled[n] = job
            yield delayed(_fit_task)(n, job.candidate.blueprint, job.rows, np.arange(job.rows.X.shape[1]),
                                     ctx.labels.y, ctx.groups, ctx.labels.n_classes, ctx.partition, fold,
                                     ctx.options.seed, FIT_THREADS, None if job.stage is None else job.stage.sample)

    with Parallel(n_jobs=jobs, return_as="generator_unordered", pre_dispatch="n_jobs",
                  batch_size=1) as parallel:
        for n, result in parallel(calls()):
            yield pulled.pop(n), result


def _fit_task(n: int, *args, **kwargs) -> tuple[int, FoldResult]:
    return n, fit_fold(*args, **kwargs)


def _save_model(job: RowJob, folds: list[FoldResult], ctx: RunContext) -> dict:
    labels, partition = ctx.labels, ctx.partition
    folds = sorted(folds, key=lambda f: f.fold)  # completion order varies with --jobs; the numbers must not
    oof, holdout = assemble(folds, partition, labels.n_classes)
    blueprint = get_blueprint(job.candidate.blueprint)
    label = f"{BASELINE_LABEL} (grayscale 20x20 + L2 LR)" if job.candidate.is_baseline else blueprint.label
    shifted = assemble(folds, partition, labels.n_classes, shifted=True) \
        if folds[0].shifted_valid_proba is not None else None

    def scores(arrays, under_views=False):  # a screening row has one fold: Validation and Holdout, no CV
        if job.stage:
            return score_one_fold(folds, labels.y, partition, labels.n_classes, shifted=under_views)
        return score_model(*arrays, labels.y, partition, labels.n_classes)

    extra = {} if shifted is None else {"scores_shifted": scores(shifted, under_views=True)}
    trained_on = (f"1 screening model on {job.sample_pct:g}% of the labelled images" if job.stage else
                  f"{partition.n_folds} fold models, each on {job.sample_pct:g}% of the labelled images")
    fitted = FittedModel(job.model_id, label, labels.classes, labels.class_names, trained_on=trained_on,
                         featurizer=FeaturizerSpec.from_sidecar(job.rows.embeddings.sidecar),
                         estimators=[f.model for f in folds])
    seconds = sum(f.fit_seconds + f.predict_seconds for f in folds)
    result = {
        "id": job.model_id, "key": job.key, "kind": "model" if job.stage is None else "stage",
        "blueprint": blueprint.name, "label": label, "featurizer": job.candidate.featurizer,
        "levels": job.spec["levels"], "members": [], "sample_pct": job.sample_pct,
        "scores": scores((oof, holdout)), **extra,
        "fit_seconds": round(sum(f.fit_seconds for f in folds), 3),
        "predict_seconds": round(sum(f.predict_seconds for f in folds), 3),
        "train_rows": job.train_rows, "n_columns": int(job.rows.X.shape[1]),
        "fold_seconds": round(seconds / len(folds), 4),
        "spec": job.spec,
    }
    ctx.store.save(job.model_id, result, oof, holdout, fitted, shifted)
    return result


def _config(options: LeaderboardOptions, labels: Labels, features: list[FeatureRows], groups: np.ndarray) -> dict:
    return {"options": asdict(options), "n_images": len(labels.ids), "classes": labels.classes,
            "class_names": labels.class_names, "n_groups": int(np.unique(groups).size),
            "images_sharing_a_group": n_merged(groups),
            "featurizers": {f.name: f.embeddings.sidecar["fingerprint"] for f in features},
            "versions": library_versions(),
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
