"""``pixelboard autopilot``: training and test folders in, the submission that wins under the test conditions out."""

from __future__ import annotations

import click

from pixelboard.api import Project
from pixelboard.commands.common import (DEFAULT_BACKBONES, friendly_errors, logging_options, name_callback,
                                        project_option)
from pixelboard.commands.conventions import out_option
from pixelboard.commands.leaderboard_cmd import run_option
from pixelboard.options import DEFAULT_BLENDERS, DEFAULT_MODE, DEFAULT_PROBE, LEADERBOARD_MODES, MAX_SEED, METRIC_NAMES


@click.command()
@click.option("--images", required=True, type=click.Path(),
              help="Training images: one sub-folder per class, or the images named by --labels.")
@click.option("--labels", "labels_csv", type=click.Path(), default=None, help="CSV of ID,target for --images.")
@click.option("--test-images", required=True, type=click.Path(), help="Test images to predict.")
@click.option("--test-labels", type=click.Path(), default=None,
              help="CSV whose ID column names the test images, in submission order (the competition's ID list).")
@out_option(default="submission.csv", show_default=True, type=click.Path(dir_okay=False),
            help="Submission file to write.")
@click.option("--meta", "meta_csv", type=click.Path(), default=None, help="CSV of target,class_name.")
@click.option("--id-column", default="ID", show_default=True, help="ID column of both CSVs and the submission.")
@click.option("--target-column", default="target", show_default=True, help="Target column of --labels.")
@click.option("--group-column", default=None, help="Column of --labels whose equal values stay on one side of every split.")
@project_option
@run_option
@click.option("--test-set", default="test", show_default=True, callback=name_callback,
              help="Name of the test images in the project.")
@click.option("--backbones", "--backbone", "backbones", default=DEFAULT_BACKBONES, show_default=True,
              help="Comma-separated featurizers.")
@click.option("--metric", default="macro_f1", show_default=True, type=click.Choice(METRIC_NAMES), help="Ranking metric.")
@click.option("--mode", default=DEFAULT_MODE, show_default=True, type=click.Choice(LEADERBOARD_MODES),
              help="Leaderboard mode.")
@click.option("--blueprints", default=None, help="Comma-separated blueprints [default: the mode's set].")
@click.option("--blenders", default=",".join(DEFAULT_BLENDERS), show_default=True, help="Blenders ('' for none).")
@click.option("--time-budget", default=None, type=float, metavar="SECONDS", help="Leaderboard time budget.")
@click.option("--probe", default=DEFAULT_PROBE, show_default=True, type=click.IntRange(1),
              help="Training images the shift check embeds under each orientation and damage hypothesis.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, MAX_SEED),
              help="Seed of the probe, the copies, the partition, the models.")
@click.option("--jobs", default=None, type=click.IntRange(1), help="Fold fits in parallel [default: one per core].")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1))
@click.option("--workers", default=None, type=click.IntRange(0), help="Decoding workers [default: cores - 1].")
@click.option("--input-size", default=None, type=click.IntRange(32), help="Run the CNNs at this square input size.")
@click.option("--random-weights", is_flag=True, hidden=True, help="Random initialisation (tests only).")
@logging_options
@friendly_errors
def autopilot(images, labels_csv, test_images, test_labels, out, meta_csv, id_column, target_column, group_column,
              project_dir, run, test_set, backbones, metric, mode, blueprints, blenders, time_budget, probe, seed, jobs,
              device, batch_size, workers, input_size, random_weights, quiet):
    """Featurize the training and test images, diagnose how the test set differs (orientation, damage),
    train for it, deploy the best model and write the submission; the recipe and its reasons are saved."""
    result = Project(project_dir).autopilot(
        images, labels_csv, test_images=test_images, test_labels=test_labels, out=out, meta=meta_csv,
        id_column=id_column, target_column=target_column, group_column=group_column, backbones=backbones, run=run,
        test_set=test_set, metric=metric, mode=mode, blueprints=blueprints, blenders=blenders, time_budget=time_budget,
        probe=probe, seed=seed, jobs=jobs, device=device, batch_size=batch_size, workers=workers, input_size=input_size, random_weights=random_weights,
        progress=not quiet)
    report = result.shift
    click.echo(f"shift: {report.featurizer} train-vs-test ROC AUC {report.auc:.3f} "
               f"({'shifted' if report.shifted else 'alike'}; {report.probe_images} training images probed)")
    # The recipe and its reasons: the library said them as soon as they were made (before the leaderboard).
    best = result.board.best
    click.echo(f"leaderboard: best {best['id']} ({best['label']}, {best['featurizer']}); deployed "
               f"{result.deployed.model.model_id}" + (f"; TTA {','.join(result.tta)}" if result.tta else ""))
    click.echo(f"wrote {out} ({len(result.submission):,} rows) and {result.recipe_path} (the recipe and the "
               "equivalent commands):")
    for command in result.commands:
        click.echo(f"  {command}")
