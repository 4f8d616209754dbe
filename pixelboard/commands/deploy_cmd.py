"""``pixelboard deploy`` (retrain at 100%) and ``pixelboard export-model`` (a portable bundle)."""

from __future__ import annotations

import click

import functools

from pixelboard.commands.common import friendly_errors, project_option
from pixelboard.commands.leaderboard_cmd import run_option


@click.command()
@project_option
@functools.partial(run_option, help="Leaderboard run to deploy from.")
@click.option("--model", default="best", show_default=True, help="best (rank 1), blend (best blend) or a model id.")
@click.option("--jobs", default=None, type=click.IntRange(1),
              help="A blend's members refit in parallel processes, one thread each [default: one per CPU core].")
@friendly_errors
def deploy(project_dir, run, model, jobs):
    """Refit a leaderboard model (and a blend's members) on 100% of the labelled images."""
    import os

    from pixelboard.deploy import deploy as run_deploy
    from pixelboard.project import Project

    project = Project(project_dir)
    with project.lock():
        result = run_deploy(project, run=run, model=model, jobs=jobs or os.cpu_count() or 1)
    fitted = result.model
    members = f" (members {', '.join(m.model_id for m in fitted.leaves())})" if fitted.kind == "blend" else ""
    click.echo(f"deployed {fitted.model_id} ({fitted.label}){members}: refitted on all {result.n_images:,} "
               f"labelled images ({result.n_rows:,} rows) in {result.seconds:.1f} s; `pixelboard predict` now uses it")


@click.command("export-model")
@project_option
@functools.partial(run_option, help="Leaderboard run to export from.")
@click.option("--model", default=None, help="best, blend or a model id [default: the deployed model, else best].")
@click.option("--out", default="model.pbz", show_default=True, type=click.Path(dir_okay=False),
              help="Bundle file to write.")
@friendly_errors
def export_model(project_dir, run, model, out):
    """Write one portable file (featurizer specs, fitted models, blender, classes) for `predict --bundle`."""
    from pixelboard.bundle import export_bundle
    from pixelboard.leaderboard.store import RunStore
    from pixelboard.predict import load_run_model
    from pixelboard.project import Project

    project = Project(project_dir)
    fitted = load_run_model(RunStore(project.run_dir(run)), model)
    path = export_bundle(fitted, out, source={"project": str(project.root.resolve()), "run": run})
    click.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): {fitted.model_id} ({fitted.label}; "
               f"{fitted.trained_on}); predict with `pixelboard predict --bundle {path} --images ...`")
