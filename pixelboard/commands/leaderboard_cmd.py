"""``pixelboard leaderboard`` and ``pixelboard export``."""

from __future__ import annotations

import click

from pixelboard.api import Project
from pixelboard.commands.conventions import out_option
from pixelboard.commands.common import (backend_options, friendly_errors, logging_options, name_callback,
                                        project_option)
from pixelboard.options import DEFAULT_BLENDERS, DEFAULT_MODE, LEADERBOARD_MODES, MAX_SEED, METRIC_NAMES, TABLE_FORMATS


def show_holdout_option(command):
    return click.option("--show-holdout", default="", metavar="IDS",
                        help="Comma-separated model ids whose locked Holdout to show: screening rows show a "
                        "dash until a model is chosen, so nobody picks by the holdout.")(command)


def _ids(text: str) -> tuple[str, ...]:
    return tuple(i.strip() for i in text.split(",") if i.strip())


def run_option(command, help="Run directory inside the project (one partition per run)."):
    return click.option("--run", default="leaderboard", show_default=True, callback=name_callback, help=help)(command)


@click.command()
@project_option
@run_option
@click.option("--set", "set_name", default="train", show_default=True, callback=name_callback,
              help="Labelled image set to model.")
@click.option("--metric", default="macro_f1", show_default=True, type=click.Choice(METRIC_NAMES),
              help="Ranking metric (all are stored).")
@click.option("--holdout-fraction", default=0.2, show_default=True, type=click.FloatRange(0, 0.5),
              help="Stratified holdout share, scored once and never used for ranking.")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2), help="Cross-validation folds.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, MAX_SEED),
              help="Seed of the partition and of every model.")
@click.option("--mode", default=DEFAULT_MODE, show_default=True, type=click.Choice(LEADERBOARD_MODES),
              help=f"{' | '.join(LEADERBOARD_MODES)}: autopilot fits the blueprints that usually win with full CV, "
              "screens the others on 16% then 32% of the images (one fold) and adds those still climbing past "
              "them; quick fits only the usual winners, comprehensive every registered blueprint, with full CV.")
@click.option("--time-budget", default=None, type=float, metavar="SECONDS",
              help="Start no fit that cannot finish within this many seconds; run again to resume.")
@click.option("--max-memory", default=None, type=float, metavar="GB",
              help="Run fewer fold fits side by side when --jobs of a stage's largest would not fit in this much "
              "memory (the same rows either way) [default: no limit].")
@click.option("--jobs", default=None, type=click.IntRange(1),
              help="Fold fits run in parallel processes, one thread each [default: one per CPU core].")
@click.option("--blueprints", default=None, help="Comma-separated blueprints [default: the mode's set; "
              "see `pixelboard list blueprints`].")
@click.option("--featurizers", default=None, help="Comma-separated embeddings to use [default: all of the set].")
@click.option("--blenders", default=",".join(DEFAULT_BLENDERS), show_default=True,
              help="Blenders to fit on out-of-fold probabilities ('' for none).")
@click.option("--validate-under", default=None,
              help="Also score validation and holdout images under these views (dihedral, or e.g. "
              "rot90,rot180,rot270,hflip), one drawn per image, and rank by that score; needs `featurize --views`.")
@show_holdout_option
@backend_options("Where the fold fits run: local processes, or Ray tasks on a Ray cluster (--jobs at a time); "
                 "the same rows either way")
@logging_options
@friendly_errors
def leaderboard(project_dir, run, set_name, metric, holdout_fraction, folds, seed, mode, time_budget, max_memory, jobs, blueprints,
                featurizers, blenders, validate_under, show_holdout, backend, ray_address, quiet):
    """Fit the blueprints on every featurizer (screened first in autopilot mode), blend the best, rank and
    write the tables."""
    from pixelboard.leaderboard.autopilot import render_learning_curve

    board = Project(project_dir).leaderboard(
        run=run, set_name=set_name, metric=metric, holdout_fraction=holdout_fraction, folds=folds, seed=seed,
        jobs=jobs, blueprints=blueprints, featurizers=featurizers, blenders=blenders, validate_under=validate_under,
        mode=mode, time_budget=time_budget, max_memory=max_memory, progress=not quiet, backend=backend, ray_address=ray_address)
    click.echo(board.render("text", show_holdout=_ids(show_holdout)))
    curve = board.learning_curve
    if len({p["sample_pct"] for p in curve["rows"]}) > 1:  # screened: how each row grew with its sample
        click.echo("\n" + render_learning_curve(curve).rstrip())
    click.echo(f"{board.n_fitted} new model(s) fitted in {board.seconds:.1f} s; tables: "
               + ", ".join(str(p) for p in board.tables.values()))


@click.command()
@project_option
@run_option
@click.option("--format", "fmt", type=click.Choice(TABLE_FORMATS), default="html", show_default=True)
@out_option(type=click.Path(dir_okay=False), default=None, help="Output file [default: standard output].")
@show_holdout_option
@logging_options
@friendly_errors
def export(project_dir, run, fmt, out, show_holdout):
    """Regenerate the leaderboard table as CSV, Markdown, HTML or JSON."""
    text = Project(project_dir).export(fmt, out, run=run, show_holdout=_ids(show_holdout))
    if out:
        click.echo(f"wrote {out}")
    else:
        click.echo(text, nl=False)
