"""Options, logging and error handling shared by every command.

Start-up matters (``pixelboard --help`` should answer at once): this module and the command modules
import only click and the light ``pixelboard.api`` / ``pixelboard.logs`` at import time.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import inspect
import logging
import os
import sys
from typing import Iterator

import click

from pixelboard.options import BACKENDS
from pixelboard.options import DEFAULT_BACKBONES as _BACKBONES
from pixelboard.options import DEFAULT_PROJECT, PROJECT_ENV
from pixelboard.errors import PixelboardError
from pixelboard.logs import ROOT, printable

DEFAULT_BACKBONES = ",".join(_BACKBONES)


# Exit codes: 2 is click's own (a usage error: unknown option, value out of range); a problem with the
# data, a file or the environment is 1; an interruption (Ctrl-C) is 130, as shells report SIGINT.
EXIT_DATA_ERROR = 1
EXIT_INTERRUPTED = 130


def friendly_errors(command):
    """Turn library errors into one line and an exit code instead of a traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except PixelboardError as exc:
            click.echo(f"Error: {printable(str(exc))}", err=True)
            sys.exit(EXIT_DATA_ERROR)
        except BrokenPipeError:  # the reader stopped early (`pixelboard list backbones | head`): not an error
            _silence_stdout()
            sys.exit(1)
        except OSError as exc:  # read-only folders, full disks, permissions: the user's to fix, not a bug
            click.echo(f"Error: {printable(os_error_message(exc))}", err=True)
            sys.exit(EXIT_DATA_ERROR)
        except KeyboardInterrupt:
            click.echo("Interrupted: finished work is saved; run the same command again to resume.", err=True)
            sys.exit(EXIT_INTERRUPTED)
    return wrapper


def _silence_stdout() -> None:
    """Point stdout at /dev/null so flushing it at exit does not raise a second BrokenPipeError (the
    recipe in Python's ``signal`` documentation, "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def os_error_message(exc: OSError) -> str:
    """One line naming the file and the cause, e.g. ``cannot write /x/y: Permission denied (errno 13)``."""
    where = exc.filename if exc.filename is not None else "a file"
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return (f"no space left on {_device_of(where)} (the disk is full, writing {where}): free some space and "
                "run the same command again; finished work is kept")
    from pixelboard.atomic import WriteError

    verb = "cannot write" if isinstance(exc, WriteError) else "cannot access"
    cause = exc.strerror or str(exc) or type(exc).__name__
    return f"{verb} {where}: {cause}" + (f" (errno {exc.errno})" if exc.errno is not None else "")


def _device_of(path) -> str:
    """The mount point holding ``path`` (its nearest existing folder), as ``df`` would name it."""
    try:
        current = os.path.abspath(os.fsdecode(path))
        while not os.path.exists(current) and os.path.dirname(current) != current:
            current = os.path.dirname(current)
        while not os.path.ismount(current):
            current = os.path.dirname(current)
        return current
    except (TypeError, ValueError, OSError):
        return "the disk"


def name_callback(ctx: click.Context, param: click.Parameter, value):
    """Click callback for options that name a set or a run: one plain name (see ``project.check_name``)."""
    from pixelboard.project import check_name

    if value is None:
        return None
    try:
        return check_name(value, param.opts[0] if param.opts else param.name)
    except PixelboardError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def project_option(command):
    return click.option("--project", "project_dir", default=DEFAULT_PROJECT, show_default=True,
                        envvar=PROJECT_ENV, show_envvar=True, type=click.Path(file_okay=False),
                        help="Project directory (manifests, cache, runs).")(command)


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


def backend_options(where: str):
    """``--backend local|ray`` and ``--ray-address``; ``where`` says what runs where (the option's help)."""
    def decorate(command):
        return _apply(command, [
            click.option("--backend", type=click.Choice(BACKENDS), default="local", show_default=True,
                         help=f"{where} (Ray is the `ray` extra: pip install 'pixelboard[ray]')."),
            click.option("--ray-address", default=None, help="Ray cluster to use with --backend ray, e.g. "
                         "ray://head:10001 or auto [default: $RAY_ADDRESS, else a local Ray instance]."),
        ])
    return decorate


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


# --- logging: -v/--verbose and --quiet on every command ----------------------------------------------------
class ConsoleHandler(logging.Handler):
    """The terminal side of the ``pixelboard`` logger.

    Lines marked for the user (``logs.SAY``) are the command's own output: INFO on standard output,
    warnings on standard error, as plain text. Other warnings and errors go to standard error as they
    are; the library's INFO and DEBUG records only with ``-v`` / ``-vv``. Writes through click at
    emit time, so it follows whatever streams the command runs with (CliRunner's included).
    """

    def __init__(self, verbosity: int):
        super().__init__(logging.DEBUG)
        self.verbosity = verbosity  # -1 --quiet, 0 default, 1 -v, 2 -vv

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = printable(record.getMessage())  # a file name with a newline cannot split the line
            if getattr(record, "say", False):
                click.echo(message, err=record.levelno >= logging.WARNING)
            elif record.levelno >= logging.WARNING:
                click.echo(message, err=True)
            elif self.verbosity >= (1 if record.levelno >= logging.INFO else 2):
                click.echo(f"[{record.levelname.lower()}] {record.name}: {message}", err=True)
        except Exception:  # noqa: BLE001
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802
        """A closed terminal (a pipe into `head`) must not add a logging traceback to the run: drop the line."""


@contextlib.contextmanager
def console_logging(verbose: int = 0, quiet: bool = False) -> Iterator[None]:
    """Route the ``pixelboard`` logger to the terminal while a command runs, then put it back as it was
    (commands also run inside other code: ``demo``, tests, notebooks). Run logs add their file
    handlers on top (``pixelboard.logs``)."""
    logger = logging.getLogger(ROOT)
    saved = logger.level, logger.propagate, list(logger.handlers)
    for handler in saved[2]:
        if isinstance(handler, ConsoleHandler):  # a nested command (demo) replaces its caller's settings
            logger.removeHandler(handler)
    logger.addHandler(ConsoleHandler(-1 if quiet else min(verbose, 2)))
    logger.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
    logger.propagate = False  # the command owns the terminal: no second copy through the root logger
    try:
        yield
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        for handler in saved[2]:
            logger.addHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def logging_options(command):
    """Add ``-v/--verbose`` and ``--quiet`` to a command and set up its logging before it runs.

    ``--quiet`` means no progress bars (and no ``-v`` output); the command receives ``quiet`` and
    ``verbose`` when its function takes them.
    """
    wanted = inspect.signature(command).parameters

    @functools.wraps(command)
    def wrapper(*args, verbose: int = 0, quiet: bool = False, **kwargs):
        kwargs.update({k: v for k, v in (("verbose", verbose), ("quiet", quiet)) if k in wanted})
        with console_logging(verbose, quiet):
            return command(*args, **kwargs)

    return _apply(wrapper, [
        click.option("-v", "--verbose", count=True, help="Show the library's log on stderr (-vv: debug)."),
        click.option("--quiet", is_flag=True, help="No progress bars."),
    ])
