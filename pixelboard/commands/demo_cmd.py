"""``pixelboard demo``: the whole competition workflow on the bundled sample, offline, in minutes."""

from __future__ import annotations

from pathlib import Path

import click

from pixelboard.commands.conventions import out_option
from pixelboard.commands.common import friendly_errors, logging_options
from pixelboard.commands.deploy_cmd import deploy
from pixelboard.commands.featurize_cmd import featurize
from pixelboard.commands.leaderboard_cmd import leaderboard
from pixelboard.commands.predict_cmd import predict


@click.command()
@out_option(default="pixelboard-demo", show_default=True, type=click.Path(file_okay=False),
            help="Folder for the sample images, the project and the submission.")
@click.option("--jobs", default=None, type=click.IntRange(1), help="Parallel fold fits [default: one per core].")
@click.option("--blueprints", default=None, help="Comma-separated blueprints [default: the default set].")
@click.pass_context
@logging_options
@friendly_errors
def demo(ctx, out, jobs, blueprints, verbose, quiet):
    """Write the bundled 800-image sample as a competition folder, then featurize -> leaderboard -> deploy -> predict
    -> report."""
    from pixelboard.datasets.sample import write_competition_folder
    from pixelboard.leaderboard.metrics import get_metric

    root = write_competition_folder(out)
    project = str(root / "project")
    click.echo(f"== sample written to {root} (train/, test/, train.csv, test.csv, meta.csv)")
    click.echo("== 1/5 featurize (bundled EfficientNet-Lite0 weights + grayscale20 baseline)")
    ctx.invoke(featurize, images=str(root / "train"), labels_csv=str(root / "train.csv"),
               meta_csv=str(root / "meta.csv"), project_dir=project, verbose=verbose, quiet=quiet)
    click.echo("== 2/5 leaderboard")
    ctx.invoke(leaderboard, project_dir=project, jobs=jobs, blueprints=blueprints, verbose=verbose, quiet=quiet)
    click.echo("== 3/5 deploy: refit the recommended model on 100% of the training images")
    ctx.invoke(deploy, project_dir=project, jobs=jobs, verbose=verbose, quiet=quiet)
    click.echo("== 4/5 predict the test images")
    submission = root / "submission.csv"
    ctx.invoke(predict, images=str(root / "test"), labels_csv=str(root / "test.csv"), project_dir=project,
               out=str(submission), verbose=verbose, quiet=quiet)
    score = score_submission(submission, root / "test_labels.csv", get_metric("macro_f1"))
    click.echo(f"test-set Macro F1 of the submission (labels kept aside in test_labels.csv): {score:.4f}")
    click.echo("== 5/5 report: confusion matrices, activation maps, embeddings map, likely label errors")
    report = _report(project, quiet)
    from pixelboard.project import Project as ProjectFiles

    click.echo(f"leaderboard table: {ProjectFiles(project).run_dir('leaderboard') / 'leaderboard.html'}")
    click.echo(f"submission:        {submission}")
    if report is not None:
        click.echo(f"insights report:   {report}")
    click.echo(OWN_DATA)


# What the demo ran, for a folder of your own (the README's first screen says the same).
OWN_DATA = """the same on your own data (images + train.csv with ID,target; a test folder + test.csv with ID):
  pixelboard autopilot --images data/train --labels data/train.csv --test-images data/test --test-labels data/test.csv -o submission.csv
or step by step:
  pixelboard featurize --images data/train --labels data/train.csv
  pixelboard leaderboard && pixelboard deploy
  pixelboard predict --images data/test --labels data/test.csv -o submission.csv"""


def _report(project: str, quiet: bool) -> Path | None:
    """The insights report of the demo run; without the ``report`` extra the demo still ends well."""
    from pixelboard.api import Project
    from pixelboard.errors import PixelboardError

    try:
        return Project(project).report(progress=not quiet).path
    except PixelboardError as exc:
        click.echo(f"report skipped: {exc}", err=True)
        return None


def score_submission(submission: Path, truth: Path, metric) -> float:
    import numpy as np
    import pandas as pd

    merged = pd.read_csv(truth).merge(pd.read_csv(submission), on="ID", suffixes=("_true", "_pred"))
    classes = sorted(set(merged["target_true"]) | set(merged["target_pred"]))
    index = {c: i for i, c in enumerate(classes)}
    y_true = merged["target_true"].map(index).to_numpy()
    onehot = np.eye(len(classes))[merged["target_pred"].map(index).to_numpy()]
    return metric(y_true, onehot)
