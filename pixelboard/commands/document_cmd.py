"""``pixelboard document``: one model's documentation (steps, hyper-parameters, scores, insights)."""

from __future__ import annotations

import functools

import click

from pixelboard.api import Project
from pixelboard.commands.conventions import out_option
from pixelboard.commands.common import friendly_errors, logging_options, project_option
from pixelboard.commands.leaderboard_cmd import run_option
from pixelboard.commands.report_cmd import insight_options

DOCUMENT_FORMATS = ("md", "html", "docx")  # pixelboard.insights.document.FORMATS


@click.command()
@click.argument("model", default="best")
@project_option
@functools.partial(run_option, help="Leaderboard run the model belongs to.")
@click.option("--format", "fmt", type=click.Choice(DOCUMENT_FORMATS), default="html", show_default=True,
              help="Markdown (pictures in a folder beside it), one HTML page, or Word (needs the docx extra).")
@out_option("output", aliases=("--output",), type=click.Path(dir_okay=False), default=None,
            help="File to write [default: <run>/documents/<ID>.<format>].")
@insight_options
@logging_options
@friendly_errors
def document(model, project_dir, run, fmt, output, per_class, device, quiet):
    """Document MODEL (an id such as M3, best or blend): steps, hyper-parameters, partition, scores, insights."""
    result = Project(project_dir).document(model, run=run, format=fmt, output=output, per_class=per_class,
                                           device=device, progress=not quiet)
    extra = f" (+ {len(result.files) - 1} pictures in {result.files[0].parent})" if len(result.files) > 1 else ""
    click.echo(f"documented {result.model_id}: {result.path}{extra} in {result.seconds:.1f} s")
