"""Options and error handling shared by every command."""

from __future__ import annotations

import errno
import functools
import sys

import click

from pixelboard.atomic import WriteError
from pixelboard.errors import PixelboardError
from pixelboard.project import DEFAULT_PROJECT, check_name

DEFAULT_BACKBONES = "efficientnet_lite0,grayscale20"


def split_list(text: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: the comma-separated lists of the command-line options."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def friendly_errors(command):
    """Turn library errors into one line and an exit code instead of a traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except PixelboardError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)
        except OSError as exc:  # read-only folders, full disks, permissions: the user's to fix, not a bug
            click.echo(f"Error: {os_error_message(exc)}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("Interrupted: finished work is saved; run the same command again to resume.", err=True)
            sys.exit(130)
    return wrapper


def os_error_message(exc: OSError) -> str:
    """One line naming the file and the cause, e.g. ``cannot write /x/y: Permission denied (errno 13)``."""
    where = exc.filename if exc.filename is not None else "a file"
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return (f"the disk is full (writing {where}): free some space and run the same command again; "
                "finished work is kept")
    verb = "cannot write" if isinstance(exc, WriteError) else "cannot access"
    cause = exc.strerror or str(exc) or type(exc).__name__
    return f"{verb} {where}: {cause}" + (f" (errno {exc.errno})" if exc.errno is not None else "")


def name_callback(ctx: click.Context, param: click.Parameter, value):
    """Click callback for options that name a set or a run: one plain name (see ``project.check_name``)."""
    if value is None:
        return None
    try:
        return check_name(value, param.opts[0] if param.opts else param.name)
    except PixelboardError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def project_option(command):
    return click.option("--project", "project_dir", default=DEFAULT_PROJECT, show_default=True,
                        type=click.Path(file_okay=False), help="Project directory (manifests, cache, runs).")(command)


def _apply(command, options):
    for option in reversed(options):
        command = option(command)
    return command


def training_image_options(command):
    """How featurize finds images and labels: class folders, a competition CSV, or unlabelled images."""
    return _apply(command, [
        click.option("--images", required=True, type=click.Path(),
                     help="Image folder: one sub-folder per class, or the images named by --labels."),
        click.option("--labels", "labels_csv", type=click.Path(), default=None,
                     help="CSV with an ID column (and a target column for training images)."),
        click.option("--meta", "meta_csv", type=click.Path(), default=None,
                     help="Optional CSV with target,class_name (readable class names)."),
        click.option("--id-column", default="ID", show_default=True, help="ID column of --labels."),
        click.option("--target-column", default="target", show_default=True, help="Target column of --labels."),
        click.option("--group-column", default=None,
                     help="Column of --labels whose equal values must stay on one side of every split."),
        click.option("--unlabelled", is_flag=True, help="Treat the images as an unlabelled (test) set."),
    ])


def prediction_image_options(command):
    """How predict finds the images to predict: a folder, or a folder plus a CSV of IDs."""
    return _apply(command, [
        click.option("--images", required=True, type=click.Path(),
                     help="Folder of images to predict (searched recursively), or the images named by --labels."),
        click.option("--labels", "labels_csv", type=click.Path(), default=None,
                     help="CSV whose ID column names the images, in submission order (e.g. test.csv)."),
        click.option("--id-column", default="ID", show_default=True, help="ID column of --labels and the submission."),
        click.option("--target-column", default="target", show_default=True,
                     help="Name of the label column in the submission."),
    ])
