"""The Python API: the command line's workflow as methods of a :class:`Project`, same defaults, same errors.

    import pixelboard

    project = pixelboard.Project("pixelboard-project")
    project.featurize(images="data/train", labels="data/train.csv", backbones=["efficientnet_lite0", "grayscale20"])
    board = project.leaderboard(metric="macro_f1")      # -> Leaderboard: .frame, .rows, .best, .directory
    project.deploy()                                    # refit the recommended model on 100% of the images
    submission = project.predict(images="data/test", labels="data/test.csv")   # -> pandas.DataFrame

Each method is a thin call into the library function the matching ``pixelboard`` command uses
(``featurize_set``, ``run_leaderboard``, ``deploy``, ``predict``, ``export_bundle``, ``check_shift``);
the commands in ``pixelboard/commands/`` call these methods. A bad input raises
:class:`~pixelboard.errors.PixelboardError` with the one-line message the command line prints.
Lists may be given as Python lists or as the command line's comma-separated text.

This module imports nothing heavy at import time (the command line's start-up depends on it): each
method imports the library parts it uses.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pixelboard.errors import PixelboardError
from pixelboard.leaderboard.view import Leaderboard
from pixelboard.logs import SAY, run_log
from pixelboard.options import (BACKENDS, DEFAULT_BACKBONES, DEFAULT_BLENDERS, DEFAULT_MAX_PIXELS,
                                DEFAULT_MODE, DEFAULT_PRECISION, DEFAULT_PROBE, DEFAULT_PROJECT, DEFAULT_RUNTIME,
                                LEADERBOARD_MODES, MAX_AUGMENT_COPIES, PRECISIONS, RESIZE_MODES, RUNTIMES, TABLE_FORMATS,
                                Names, at_least, check_seed, one_of, resolve_jobs, split_list)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from pixelboard.adversarial import ShiftReport
    from pixelboard.insights.document import DocumentResult
    from pixelboard.insights.report import ReportResult
    from pixelboard.deploy import DeployResult
    from pixelboard.featurizers.pipeline import FeaturizeResult
    from pixelboard.fitted import FittedModel
    from pixelboard.predict import Prediction
    from pixelboard.project import Project as ProjectFiles
    from pixelboard.test_aware import TestAwareResult

log = logging.getLogger(__name__)

class Project:
    """A pixelboard project directory and the workflow on it: featurize -> leaderboard -> deploy -> predict.

    ``files`` is the library's :class:`pixelboard.project.Project` (manifests, embeddings, runs, the
    project lock) for anything below the workflow.
    """

    def __init__(self, path: str | os.PathLike = DEFAULT_PROJECT):
        self.path = Path(path).expanduser()

    def __repr__(self) -> str:
        return f"pixelboard.Project({str(self.path)!r})"

    @property
    def files(self) -> ProjectFiles:
        from pixelboard.project import Project as ProjectFiles

        return ProjectFiles(self.path)

    # --- featurize ------------------------------------------------------------------------------------
    def featurize(self, images: str | os.PathLike, labels: str | os.PathLike | None = None, *,
                  meta: str | os.PathLike | None = None, id_column: str = "ID", target_column: str = "target",
                  group_column: str | None = None, unlabelled: bool = False, set_name: str | None = None,
                  backbones: Names = DEFAULT_BACKBONES, levels: Names = None, resize: str = "squash",
                  weights: str | os.PathLike | None = None, random_weights: bool = False, device: str = "auto",
                  batch_size: int = 32, workers: int | None = None, amp: bool = True, augment: Names = None,
                  augment_copies: int = 1, views: Names = None, pools: Names = ("mean",), seed: int = 0,
                  skip_bad_images: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS, pruned: bool = False,
                  input_size: int | None = None, runtime: str = DEFAULT_RUNTIME, precision: str = DEFAULT_PRECISION,
                  progress: bool = True, backend: str = "local",
                  ray_address: str | None = None) -> list[FeaturizeResult]:
        """Embed every image with each backbone (``pixelboard featurize``); cached, incremental, resumable.

        ``images`` is a folder with one sub-folder per class, or the images named by the ``labels``
        CSV. The set is called ``set_name`` (default ``train`` when labelled, else ``test``). Returns
        one result per backbone (rows computed and cached, timings, the matrix path). The run's log
        goes to ``embeddings/<set>/featurize.log``. ``backend="ray"`` embeds the missing images as a Ray
        Data job (``ray_address``, else ``RAY_ADDRESS``, else a local Ray instance) into the same cache.
        ``runtime`` (``torch``, ``onnx``, ``openvino``: the ``runtimes`` extra) and ``precision`` (``fp32``,
        ``bf16``) choose what runs a CNN backbone; both are part of its identity (its name gets
        ``-openvino``, ``-bf16``), so their rows never mix with torch fp32 ones.
        """
        from pixelboard.datasets import read_image_set
        from pixelboard.featurizers import create_featurizer, get_featurizer_entry, list_featurizers
        from pixelboard.featurizers.augment import parse_transforms
        from pixelboard.featurizers.pipeline import FeaturizeOptions, featurize_set
        from pixelboard.featurizers.views import check_pool
        from pixelboard.project import check_name

        names = split_list(backbones)
        if not names:
            raise PixelboardError(f"no backbone given; choose from {', '.join(list_featurizers())} (--backbone)")
        for name in names:
            get_featurizer_entry(name)  # unknown names fail before any work
        if set_name is not None:
            check_name(set_name, "--set")
        one_of(resize, RESIZE_MODES, "resize mode")
        one_of(runtime, RUNTIMES, "runtime")
        one_of(precision, PRECISIONS, "precision")
        run_batches = None  # the local backend: featurize_set's own decode workers
        if one_of(backend, BACKENDS, "backend") == "ray":
            from pixelboard.featurizers.ray_backend import RayBackend, import_ray

            import_ray()  # without the extra: one line naming it, before any work
            run_batches = RayBackend(ray_address)
        for value, minimum, name in ((batch_size, 1, "batch_size"), (workers, 0, "workers"),
                                     (augment_copies, 1, "augment_copies"), (max_pixels, 1, "max_pixels")):
            at_least(value, minimum, name)
        if augment_copies > MAX_AUGMENT_COPIES:
            raise PixelboardError(f"augment_copies must be at most {MAX_AUGMENT_COPIES} (copies per random transform, "
                                  f"each a row per image), got {augment_copies}")
        check_seed(seed)
        image_set = read_image_set(images, name=set_name or "pending", labels_csv=labels, id_column=id_column,
                                   target_column=target_column, group_column=group_column, meta_csv=meta,
                                   unlabelled=unlabelled)
        image_set.name = set_name or ("train" if image_set.labelled else "test")
        if augment and not image_set.labelled:
            raise PixelboardError("--augment applies to labelled training images; use `predict --tta` for test images")
        options = FeaturizeOptions(batch_size=batch_size, workers=workers, augment=parse_transforms(_text(augment)),
                                   augment_copies=augment_copies, views=parse_transforms(_text(views)),
                                   pools=[check_pool(p) for p in split_list(pools)], seed=seed,
                                   skip_bad_images=skip_bad_images, max_pixels=max_pixels, progress=progress)
        files = self.files
        results = []
        with files.lock():  # one writer: a second featurize would compact the cache under this one's feet
            with run_log(files.featurize_log_path(image_set.name),
                         f"featurize {image_set.name}: {', '.join(names)} on {image_set.image_dir}", root=files.root):
                log.info("options: %s", options)
                files.save_image_set(image_set)
                log.info(f"{image_set.name}: {len(image_set.ids):,} images in {image_set.image_dir}"
                         + (f", {len(set(map(str, image_set.labels)))} classes" if image_set.labelled
                            else ", unlabelled"), extra=SAY)
                for name in names:
                    # CNN-only options reach the backbones that take them: the grayscale baseline takes neither.
                    accepted = inspect.signature(get_featurizer_entry(name).factory).parameters
                    cnn_options = {k: v for k, v in (("pruned", pruned), ("input_size", input_size),
                                                     ("runtime", runtime if runtime != DEFAULT_RUNTIME else None),
                                                     ("precision", precision if precision != DEFAULT_PRECISION else None))
                                   if v and k in accepted}
                    featurizer = create_featurizer(name, levels=split_list(levels) or None, resize=resize,
                                                   device=device, weights=weights, random_weights=random_weights,
                                                   amp=amp, **cnn_options)
                    result = featurize_set(files, image_set, featurizer, options, backend=run_batches)
                    for bad in result.skipped:
                        log.warning(f"skipped {bad['file']}: {bad['reason']}", extra=SAY)
                    if result.skipped:  # later backbones and the leaderboard see the same, readable images
                        image_set = image_set.without_files({bad["file"] for bad in result.skipped})
                        files.save_image_set(image_set)
                    log.info(result.summary, extra=SAY)
                    results.append(result)
        return results

    # --- leaderboard ----------------------------------------------------------------------------------
    def leaderboard(self, *, run: str = "leaderboard", set_name: str = "train", metric: str = "macro_f1",
                    holdout_fraction: float = 0.2, folds: int = 5, seed: int = 0, jobs: int | None = None,
                    blueprints: Names = None, featurizers: Names = None, blenders: Names = DEFAULT_BLENDERS,
                    validate_under: Names = None, mode: str = DEFAULT_MODE, time_budget: float | None = None,
                    max_memory: float | None = None, progress: bool = True, backend: str = "local",
                    ray_address: str | None = None) -> Leaderboard:
        """Fit the blueprints on every featurizer, blend the best, rank (``pixelboard leaderboard``).

        ``mode``: ``autopilot`` fits the blueprints that usually win (L2 LR, MLP) with full 5-fold CV,
        screens the others on 16% then 32% of the images (one fold) and adds those whose learning curve
        still climbs past them; ``quick`` fits only the usual winners, ``comprehensive`` every registered
        blueprint, both with full CV. ``time_budget`` (seconds): fits that
        cannot finish in time are not started; calling again resumes. ``max_memory`` (GB): fewer fits
        run side by side when ``jobs`` of a stage's largest would not fit in it. Finished rows are reused, so
        calling it again fits only what is new. ``blueprints`` and ``featurizers`` default to the
        mode's set and every featurizer of ``set_name``; ``jobs`` to one process per core. The run's
        log goes to ``runs/<run>/run.log``. ``backend="ray"`` runs the same fold fits (``jobs`` at a time) as
        Ray tasks (``ray_address``, else ``RAY_ADDRESS``, else a local Ray instance): the same rows.
        """
        from pixelboard.featurizers.augment import parse_transforms
        from pixelboard.leaderboard.runner import LeaderboardOptions, run_leaderboard

        if not 0 <= holdout_fraction <= 0.5:
            raise PixelboardError(f"holdout_fraction must be between 0 and 0.5, got {holdout_fraction}")
        at_least(folds, 2, "folds")
        check_seed(seed)
        one_of(mode, LEADERBOARD_MODES, "mode")
        if time_budget is not None and not time_budget > 0:
            raise PixelboardError(f"time_budget must be more than 0 seconds, got {time_budget}")
        if max_memory is not None and not max_memory > 0:
            raise PixelboardError(f"max_memory must be more than 0 GB, got {max_memory}")
        fits = contextlib.nullcontext()  # the local backend: joblib processes on this machine
        if one_of(backend, BACKENDS, "backend") == "ray":
            from pixelboard.featurizers.ray_backend import import_ray
            from pixelboard.leaderboard.ray_fits import ray_fits

            import_ray()  # without the extra: one line naming it, before any work
            fits = ray_fits(ray_address)  # the same fold fits as Ray tasks (joblib's Ray backend)
        options = LeaderboardOptions(mode=mode, time_budget=time_budget, max_memory_gb=max_memory, run=run, set_name=set_name, metric=metric, holdout_fraction=holdout_fraction,
                                     folds=folds, seed=seed, jobs=resolve_jobs(jobs, local=backend == "local"), blueprints=split_list(blueprints),
                                     featurizers=split_list(featurizers), blenders=split_list(blenders),
                                     validate_under=parse_transforms(_text(validate_under)), progress=progress)
        files = self.files
        with files.lock():  # one writer: two leaderboards would overwrite each other's rows and ids
            with run_log(files.run_log_path(run), f"leaderboard {run} on set {set_name}", root=files.root) as run_file:
                log.info("options: %s", options)
                with fits:
                    result = run_leaderboard(files, options)
                board = Leaderboard(result.rows, metric, result.directory, result.n_fitted, result.seconds,
                                    result.tables, result.skipped)
                if result.skipped:
                    log.warning(result.skipped, extra=SAY)
                log.info("%d new model(s) fitted in %.1f s; tables in %s", result.n_fitted, result.seconds,
                         result.directory)
                run_file.note("ranking:\n" + board.render("text"), block=True)
        return board

    def load_leaderboard(self, run: str = "leaderboard") -> Leaderboard:
        """The last leaderboard of ``run`` as it was saved (nothing is fitted)."""
        from pixelboard.leaderboard.export import load_ranked

        directory = self.files.run_dir(run)
        rows, metric = load_ranked(directory)
        return Leaderboard(rows, metric, directory)

    def export(self, format: str = "html", out: str | os.PathLike | None = None, *, run: str = "leaderboard",
               show_holdout: Sequence[str] = ()) -> str:
        """The last leaderboard as ``csv``, ``md``, ``html`` or ``json`` (``pixelboard export``); also
        written to ``out`` when given. Screening rows' Holdout stays locked (a dash) unless their id is
        in ``show_holdout``."""
        from pixelboard import atomic

        text = self.load_leaderboard(run).render(one_of(format, TABLE_FORMATS, "format"), show_holdout=show_holdout)
        if out:
            atomic.write_text(out, text)
        return text

    # --- insights -------------------------------------------------------------------------------------
    def report(self, *, run: str = "leaderboard", output: str | os.PathLike | None = None, models: int = 3,
               per_class: int = 2, device: str = "auto", progress: bool = True) -> ReportResult:
        """Write the insights report of a run (``pixelboard report``): one offline HTML page (default
        ``<run>/report.html``) with the leaderboard, partition, options and timings, the top ``models``
        rows in detail (confusion matrix, per-class scores, ROC, learning curve, confused pairs,
        misclassified images), activation maps (``per_class`` images per class), an embeddings map and
        the data-quality lists, also written as CSV beside it; ``leaderboard.html`` links to it."""
        from pixelboard.insights.report import build_report

        at_least(models, 1, "models")
        at_least(per_class, 1, "per_class")
        files = self.files
        with files.lock():  # writes into the run folder (report, CSVs, leaderboard.html)
            result = build_report(files, run=run, output=output, models=models, per_class=per_class,
                                  device=_device_name(device), progress=progress)
        log.info("wrote %s in %.1f s", result.path, result.seconds)
        return result

    def document(self, model: str = "best", *, run: str = "leaderboard", format: str = "html",
                 output: str | os.PathLike | None = None, per_class: int = 2, device: str = "auto",
                 progress: bool = True) -> DocumentResult:
        """Write one model's documentation (``pixelboard document``) as ``md``, ``html`` or ``docx``
        (default ``<run>/documents/<ID>.<format>``): the blueprint's steps, every hyper-parameter with
        the value used, the partition, all scores and the insight pictures. ``model``: ``best``,
        ``blend`` or a model id."""
        from pixelboard.insights.document import FORMATS, build_document

        one_of(format, FORMATS, "format")
        at_least(per_class, 1, "per_class")
        files = self.files
        with files.lock():
            result = build_document(files, model, run=run, fmt=format, output=output, per_class=per_class,
                                    device=_device_name(device), progress=progress)
        log.info("wrote %s in %.1f s", result.path, result.seconds)
        return result

    # --- deploy, models, bundles ----------------------------------------------------------------------
    def deploy(self, *, run: str = "leaderboard", model: str = "best", jobs: int | None = None,
               progress: bool = True) -> DeployResult:
        """Refit a leaderboard model (a blend: each member) on 100% of the labelled images (``pixelboard
        deploy``); ``predict`` then uses it. ``model``: ``best``, ``blend`` or a model id."""
        from pixelboard.deploy import deploy

        files = self.files
        with files.lock():
            result = deploy(files, run=run, model=model, jobs=resolve_jobs(jobs), progress=progress)
        log.info("deployed %s (%s): refitted on %d images in %.1f s", result.model.model_id, result.model.label,
                 result.n_images, result.seconds)
        return result

    def load_model(self, *, run: str = "leaderboard", model: str | None = None) -> FittedModel:
        """The fitted model ``predict`` would use: the deployed one, else ``best``; or ``best``, ``blend``,
        a model id."""
        from pixelboard.leaderboard.store import RunStore
        from pixelboard.predict import load_run_model

        return load_run_model(RunStore(self.files.run_dir(run)), model)

    def export_model(self, out: str | os.PathLike = "model.pbz", *, run: str = "leaderboard",
                     model: str | FittedModel | None = None) -> Path:
        """Write one portable file for ``predict(bundle=...)`` anywhere (``pixelboard export-model``).

        ``model`` names a row like :meth:`load_model`, or is a model it returned.
        """
        from pixelboard.bundle import export_bundle

        fitted = model if model is not None and not isinstance(model, str) else self.load_model(run=run, model=model)
        return export_bundle(fitted, out, source={"project": str(self.path.resolve()), "run": run})

    # --- predict --------------------------------------------------------------------------------------
    def predict(self, images: str | os.PathLike, labels: str | os.PathLike | None = None, *,
                id_column: str = "ID", target_column: str = "target", probabilities: bool = False,
                out: str | os.PathLike | None = None, **options) -> pd.DataFrame:
        """Predict images: the submission as a DataFrame (``pixelboard predict``), also written to ``out``.

        ``id_column`` + ``target_column`` (the label), or one column per class with ``probabilities``.
        The other options are those of :meth:`predict_images`.
        """
        from pixelboard import atomic

        prediction = self.predict_images(images, labels, id_column=id_column, target_column=target_column,
                                         **options)
        frame = prediction.to_frame(probabilities, id_column=id_column, target_column=target_column)
        if out:
            atomic.write_text(out, frame.to_csv(index=False))
        return frame

    def predict_images(self, images: str | os.PathLike, labels: str | os.PathLike | None = None, *,
                       id_column: str = "ID", target_column: str = "target", run: str = "leaderboard",
                       bundle: str | os.PathLike | None = None, set_name: str = "test", model: str | None = None,
                       tta: Names = None, upright: bool = False, align: bool = False, skip_bad_images: bool = False,
                       device: str = "auto", batch_size: int = 32, workers: int | None = None,
                       progress: bool = True) -> Prediction:
        """Predict ``images`` (a folder, or the images the ``labels`` CSV names, in its order) with the
        deployed model, a row of ``run`` (``model``) or a ``bundle``; returns the library's
        :class:`~pixelboard.predict.Prediction` (ids, probabilities, classes, the model, skipped files)."""
        from pixelboard.bundle import load_bundle
        from pixelboard.datasets import read_image_set
        from pixelboard.featurizers.augment import parse_transforms
        from pixelboard.featurizers.pipeline import FeaturizeOptions
        from pixelboard.leaderboard.store import RunStore
        from pixelboard.predict import predict, upright_canonicalizers

        if bundle and model:
            raise PixelboardError("--model chooses a row of a run; a --bundle holds one model already")
        if bundle and align:
            raise PixelboardError("--align moves the test embeddings to the training embeddings' statistics, which a "
                                  "bundle does not hold; predict from the project instead")
        if bundle and upright:
            raise PixelboardError("--upright learns from the training images' views, which a bundle does not hold; "
                                  "predict from the project instead")
        at_least(batch_size, 1, "batch_size")
        at_least(workers, 0, "workers")
        tta_names = parse_transforms(_text(tta))
        if bundle and not self.path.exists():  # a bundle used away from any project: leave no project behind
            import tempfile

            with tempfile.TemporaryDirectory(prefix="pixelboard-predict-") as scratch:
                log.info("no project at %s: the images are embedded in a temporary folder (nothing is kept)", self.path)
                return Project(scratch).predict_images(
                    images, labels, id_column=id_column, target_column=target_column, bundle=bundle,
                    set_name=set_name, tta=tta, skip_bad_images=skip_bad_images, device=device,
                    batch_size=batch_size, workers=workers, progress=progress)
        files = self.files
        with files.lock():  # predict writes the test set's manifest, cache rows and embeddings
            _check_not_labelled(files, set_name)
            fitted = load_bundle(bundle) if bundle else self.load_model(run=run, model=model)
            # Test images are predicted, never trained on: any target column in the CSV is ignored.
            image_set = read_image_set(images, name=set_name, labels_csv=labels, id_column=id_column,
                                       target_column=target_column, unlabelled=True)
            files.save_image_set(image_set)
            options = FeaturizeOptions(batch_size=batch_size, workers=workers, skip_bad_images=skip_bad_images,
                                       progress=progress)
            canonicalizers, moments = None, None
            if upright or align:
                train_set = RunStore(files.run_dir(run)).config()["options"]["set_name"]
            if upright:
                canonicalizers = upright_canonicalizers(files, fitted, train_set)
            if align:
                from pixelboard.align import training_moments

                moments = training_moments(files, fitted, train_set)
            prediction = predict(files, image_set, fitted, tta=tta_names, options=options, device=device,
                                 upright=canonicalizers, align=moments)
        log.info("predicted %d images with %s (%s; %s)", len(prediction.ids), fitted.model_id, fitted.label,
                 fitted.trained_on)
        return prediction

    # --- the test-aware autopilot --------------------------------------------------------------------
    def autopilot(self, images: str | os.PathLike, labels: str | os.PathLike | None = None, *,
                  test_images: str | os.PathLike, test_labels: str | os.PathLike | None = None,
                  out: str | os.PathLike = "submission.csv", meta: str | os.PathLike | None = None,
                  id_column: str = "ID", target_column: str = "target", group_column: str | None = None,
                  backbones: Names = DEFAULT_BACKBONES, run: str = "leaderboard", test_set: str = "test",
                  metric: str = "macro_f1", mode: str = DEFAULT_MODE, blueprints: Names = None,
                  blenders: Names = DEFAULT_BLENDERS, seed: int = 0, jobs: int | None = None,
                  time_budget: float | None = None, probe: int = DEFAULT_PROBE, device: str = "auto",
                  batch_size: int = 32, workers: int | None = None, input_size: int | None = None,
                  random_weights: bool = False, progress: bool = True) -> TestAwareResult:
        """The test-aware autopilot (``pixelboard autopilot``): featurize the training and test images, check
        the shift (views and damage, ``probe`` training images under each hypothesis), turn the diagnosis
        into a :class:`~pixelboard.recipe.Recipe` (views, damaged copies, invariant rows, validation views,
        TTA), featurize for it, run the leaderboard ranked under the diagnosed views, deploy the best row
        and write the submission to ``out``. The recipe, its reasons and the equivalent hand commands are
        saved in ``<run>/recipe.json``. A test set like the training set gets the plain autopilot."""
        from pixelboard.test_aware import run_test_aware

        at_least(probe, 1, "probe")
        check_seed(seed)
        names = split_list(backbones)
        featurize_options = {k: v for k, v in (("meta", meta), ("id_column", id_column),
                                               ("target_column", target_column), ("group_column", group_column),
                                               ("device", device), ("batch_size", batch_size), ("workers", workers),
                                               ("input_size", input_size), ("random_weights", random_weights))
                             if v is not None}
        leaderboard_options = {"metric": metric, "mode": mode, "jobs": jobs, "time_budget": time_budget,
                               "blueprints": blueprints, "blenders": blenders}
        predict_options = {"id_column": id_column, "target_column": target_column, "device": device,
                           "batch_size": batch_size, "workers": workers}
        return run_test_aware(self, images, labels, test_images, test_labels, out, backbones=names, run=run,
                              test_set=test_set, probe=probe, seed=seed, featurize_options=featurize_options,
                              leaderboard_options=leaderboard_options, predict_options=predict_options,
                              progress=progress)

    # --- shift ----------------------------------------------------------------------------------------
    def shift(self, *, train: str = "train", test: str = "test", featurizer: str | None = None, top: int = 10,
              seed: int = 0, probe: int = DEFAULT_PROBE, workers: int | None = None,
              out: str | os.PathLike | None = None) -> ShiftReport:
        """Adversarial validation (``pixelboard shift``): how well training and test embeddings can be told
        apart (ROC AUC, 0.5 = alike) and which view or damage hypothesis explains the difference. ``probe``
        training images (0: none) are embedded under the 8 orientations and each damage family (cached);
        the report is also written to ``out`` as JSON when given."""
        from dataclasses import asdict

        from pixelboard import atomic
        from pixelboard.adversarial import check_shift

        at_least(probe, 0, "probe")
        files = self.files
        with files.lock() if probe else contextlib.nullcontext():  # the probe writes cache rows
            report = check_shift(files, train, test, featurizer, seed=check_seed(seed), top=at_least(top, 1, "top"), probe=probe,
                                 workers=workers)
        if out:
            atomic.write_json(out, {**asdict(report), "shifted": report.shifted, "advice": report.advice(),
                                    "damage_found": [h.family for h in report.damage_found]})
        return report


def _device_name(device: str) -> str:
    """``auto`` -> the device that exists (CUDA when available); others are checked (a one-line error)."""
    from pixelboard.featurizers.devices import resolve_device

    return str(resolve_device(device))


def _text(value: str | Sequence[str] | None) -> str | None:
    """Transform lists in the parsers' comma-separated form."""
    return ",".join(split_list(value)) or None


def _check_not_labelled(files: ProjectFiles, set_name: str) -> None:
    """Predicting under the name of a labelled set would overwrite the manifest its runs were fitted on."""
    if files.dataset_path(set_name).is_file() and files.load_image_set(set_name).labelled:
        raise PixelboardError(f"set {set_name!r} is a labelled training set of {files.root}; predicting under "
                              "its name would replace it — choose another --set (default: test)")
