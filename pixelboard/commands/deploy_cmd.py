"""``pixelboard deploy`` (retrain at 100%) and ``pixelboard export-model`` (a portable bundle)."""

from __future__ import annotations

import functools

import click

from pixelboard.api import Project
from pixelboard.commands.conventions import out_option
from pixelboard.commands.common import friendly_errors, logging_options, project_option
from pixelboard.commands.leaderboard_cmd import run_option


@click.command()
@project_option
@functools.partial(run_option, help="Leaderboard run to deploy from.")
@click.option("--model", default="best", show_default=True, help="best (rank 1), blend (best blend) or a model id.")
@click.option("--jobs", default=None, type=click.IntRange(1),
              help="A blend's members refit in parallel processes, one thread each [default: one per CPU core].")
@logging_options
@friendly_errors
def deploy(project_dir, run, model, jobs, quiet=False):
    """Refit a leaderboard model (and a blend's members) on 100% of the labelled images."""
    result = Project(project_dir).deploy(run=run, model=model, jobs=jobs, progress=not quiet)
    fitted = result.model
    members = f" (members {', '.join(m.model_id for m in fitted.leaves())})" if fitted.kind == "blend" else ""
    click.echo(f"deployed {fitted.model_id} ({fitted.label}){members}: refitted on all {result.n_images:,} "
               f"labelled images ({result.n_rows:,} rows) in {result.seconds:.1f} s; `pixelboard predict` now uses it")


@click.command("export-model")
@project_option
@functools.partial(run_option, help="Leaderboard run to export from.")
@click.option("--model", default=None, help="best, blend or a model id [default: the deployed model, else best].")
@out_option(default="model.pbz", show_default=True, type=click.Path(dir_okay=False), help="Bundle file to write.")
@logging_options
@friendly_errors
def export_model(project_dir, run, model, out):
    """Write one portable file (featurizer specs, fitted models, blender, classes) for `predict --bundle`."""
    project = Project(project_dir)
    fitted = project.load_model(run=run, model=model)
    path = project.export_model(out, run=run, model=fitted)
    click.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): {fitted.model_id} ({fitted.label}; "
               f"{fitted.trained_on}); predict with `pixelboard predict --bundle {path} --images ...`")
