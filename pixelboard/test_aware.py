"""The test-aware autopilot (``pixelboard autopilot``): read the test set, train for its conditions, submit.

featurize both sets -> shift check with its probe (views and damage hypotheses) -> recipe
(``recipe.py``) -> featurize the training set again with the recipe's views and damaged copies
(cached rows are reused) -> leaderboard ranked under the diagnosed views -> deploy the best row ->
predict the test set (TTA over the views only when the deployed model is not already invariant to
them). Every step is a call of the public :class:`pixelboard.Project` methods, so the saved
``recipe.json`` lists the hand commands that do the same.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from pixelboard.logs import SAY
from pixelboard.recipe import Inputs, Recipe, hand_commands, make_recipe

log = logging.getLogger(__name__)

NOT_FOR_SHIFT = ("grayscale20", "pixels")  # baselines and raw pixels: the shift check wants CNN embeddings


@dataclass
class TestAwareResult:
    recipe: Recipe
    shift: object  # ShiftReport
    board: object  # Leaderboard
    deployed: object  # DeployResult
    submission: object  # pandas.DataFrame
    tta: list[str]
    commands: list[str]
    recipe_path: Path
    seconds: dict = field(default_factory=dict)


def run_test_aware(project, images, labels, test_images, test_labels, out, *, backbones: list[str],
                   run: str = "leaderboard", test_set: str = "test", probe: int = 200, seed: int = 0,
                   featurize_options: dict | None = None, leaderboard_options: dict | None = None,
                   predict_options: dict | None = None, progress: bool = True) -> TestAwareResult:
    """Carry out the test-aware workflow on ``project`` (a :class:`pixelboard.Project`)."""
    from pixelboard import atomic

    featurize_options = dict(featurize_options or {})
    predict_options = dict(predict_options or {})
    seconds, started = {}, time.perf_counter()

    def lap(name):
        nonlocal started
        now = time.perf_counter()
        seconds[name] = round(now - started, 1)
        started = now

    results = project.featurize(images, labels, backbones=backbones, seed=seed, progress=progress, **featurize_options)
    shift_name = next((r.name for r in results if r.name.split("-")[0] not in NOT_FOR_SHIFT), results[0].name)
    shift_backbone = backbones[[r.name for r in results].index(shift_name)]
    device_options = {k: v for k, v in featurize_options.items() if k in ("device", "batch_size", "workers")}
    cnn_options = {k: v for k, v in featurize_options.items() if k in ("input_size", "pruned", "resize", "levels",
                                                                       "weights", "random_weights", "amp")}
    project.featurize(test_images, test_labels, unlabelled=True, set_name=test_set, backbones=[shift_backbone],
                      id_column=featurize_options.get("id_column", "ID"), progress=progress, seed=seed,
                      skip_bad_images=featurize_options.get("skip_bad_images", False),
                      **device_options, **cnn_options)
    lap("featurize")
    report = project.shift(test=test_set, featurizer=shift_name, probe=probe, seed=seed,
                           workers=featurize_options.get("workers"))
    recipe = make_recipe(report)
    # From here on this process has run scikit-learn's OpenMP code (the shift check's fits): a decode worker
    # forked now aborts ("fork() called from a process already using GNU OpenMP") as soon as it runs OpenMP
    # code itself (Augraphy's effects do), so the images are decoded in this process.
    featurize_options["workers"], predict_options["workers"] = 0, 0
    # One record per line: messages escape control characters (a newline would print as "\n").
    log.info("shift: train-vs-test AUC %.3f; recipe:", report.auc, extra=SAY)
    for line in recipe.describe().splitlines():
        log.info("%s", line, extra=SAY)
    lap("shift")
    if not recipe.plain:
        project.featurize(images, labels, backbones=backbones, seed=seed, progress=progress, views=recipe.views or None,
                          pools=recipe.pools or ("mean",), augment=recipe.augment or None,
                          augment_copies=recipe.augment_copies, **featurize_options)
        lap("featurize_recipe")
    board = project.leaderboard(run=run, seed=seed, validate_under=recipe.validate_under or None, progress=progress,
                                **(leaderboard_options or {}))
    lap("leaderboard")
    deployed = project.deploy(run=run, jobs=(leaderboard_options or {}).get("jobs"), progress=progress)
    tta = [] if invariant_to(deployed.model, recipe.tta) else list(recipe.tta)
    lap("deploy")
    submission = project.predict(test_images, test_labels, out=out, run=run, set_name=test_set, tta=tta or None,
                                 align=recipe.align, progress=progress, **predict_options)
    lap("predict")
    inputs = Inputs(str(project.path), str(images), _str(labels), str(test_images), _str(test_labels), str(out),
                    list(backbones), shift_backbone, run, test_set, _given(featurize_options, FEATURIZE_FLAGS),
                    _given(leaderboard_options or {}, LEADERBOARD_FLAGS))
    commands = hand_commands(recipe, inputs, tta)
    recipe_path = project.files.run_dir(run) / "recipe.json"
    with project.files.lock():
        atomic.write_json(recipe_path, {**recipe.to_json(), "tta_used": tta, "deployed": deployed.model.model_id,
                                        "shift_auc": report.auc, "shift_featurizer": shift_name,
                                        "probe_images": report.probe_images, "commands": commands,
                                        "seconds": seconds})
    return TestAwareResult(recipe, report, board, deployed, submission, tta, commands, recipe_path, seconds)


def invariant_to(model, views: list[str]) -> bool:
    """Whether every leaf of ``model`` pools its embeddings over (at least) ``views``: TTA would add nothing."""
    if not views:
        return True
    return all(leaf.featurizer is not None and set(views) <= set(leaf.featurizer.views) for leaf in model.leaves())


FEATURIZE_FLAGS = {"meta": "--meta", "id_column": "--id-column", "target_column": "--target-column",
                   "group_column": "--group-column", "input_size": "--input-size"}
LEADERBOARD_FLAGS = {"metric": "--metric", "mode": "--mode", "blueprints": "--blueprints", "blenders": "--blenders",
                     "time_budget": "--time-budget"}
DEFAULTS = {"id_column": "ID", "target_column": "target", "metric": "macro_f1", "mode": "autopilot",
            "blenders": "avg,glm,greedy"}


def _given(options: dict, flags: dict) -> list[str]:
    """The options the user set (not at their defaults) as command-line flags."""
    out = []
    for key, flag in flags.items():
        value = options.get(key)
        text = ",".join(value) if isinstance(value, (list, tuple)) else value
        if value is not None and str(text) != DEFAULTS.get(key):
            out += [flag, str(text)]
    return out


def _str(value: str | os.PathLike | None) -> str | None:
    return None if value is None else str(value)
