"""``pixelboard report``: the insights report of a run, one offline HTML page."""

from __future__ import annotations

import functools

import click

from pixelboard.api import Project
from pixelboard.commands.conventions import out_option
from pixelboard.commands.common import friendly_errors, logging_options, project_option
from pixelboard.commands.leaderboard_cmd import run_option


def insight_options(command):
    """Options shared by ``report`` and ``document``: activation-map sampling and the device."""
    command = click.option("--device", default="auto", show_default=True,
                           help="Device for the activation maps: auto, cpu, cuda, cuda:N or mps.")(command)
    return click.option("--per-class", default=2, show_default=True, type=click.IntRange(1),
                        help="Images per class to draw activation maps for.")(command)


@click.command()
@project_option
@functools.partial(run_option, help="Leaderboard run to report on.")
@out_option("output", aliases=("--output",), type=click.Path(dir_okay=False), default=None,
            help="HTML file to write [default: <run>/report.html]; the CSV lists go beside it.")
@click.option("--models", default=3, show_default=True, type=click.IntRange(1), help="Top rows to detail.")
@insight_options
@logging_options
@friendly_errors
def report(project_dir, run, output, models, per_class, device, quiet):
    """Write an offline HTML report: confusion matrices, ROC, activation maps, embeddings map, label issues."""
    result = Project(project_dir).report(run=run, output=output, models=models, per_class=per_class, device=device,
                                         progress=not quiet)
    counts = result.counts
    click.echo(f"report: {result.path} ({result.path.stat().st_size / 1e6:.1f} MB, {result.seconds:.1f} s; "
               f"models {', '.join(result.models)})")
    click.echo(f"data quality: {counts['label_issues']} likely label errors, {counts['near_duplicates']} "
               f"near-duplicate pairs, {counts['outliers']} outliers -> "
               + ", ".join(str(p) for p in result.csv.values()))
