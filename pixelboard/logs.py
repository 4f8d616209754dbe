"""Run logs: the standard ``logging`` records of one run, kept in a file inside the project.

Every module logs to ``logging.getLogger(__name__)``, so everything sits under the ``pixelboard``
logger. The long operations of the Python API hold :func:`run_log` while they work:
``<project>/embeddings/<set>/featurize.log`` and ``<project>/<run>/run.log``, appended run after run
(a resumed leaderboard keeps its history). Lines meant for the person running the command carry
``extra=SAY``: the command line prints them on standard output; a library user sees them through
logging like any other INFO record.

Kept free of heavy imports: the command line imports it at start-up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Iterator

ROOT = "pixelboard"
SAY = {"say": True}  # ``log.info(..., extra=SAY)``: a line for the user, not only for the log
FILE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

log = logging.getLogger(__name__)


class RunLogHandler(logging.FileHandler):
    """A file handler that never breaks or clutters the run it records.

    A full disk or a vanished folder must not add a ``--- Logging error ---`` traceback to a run
    whose own outputs are fine: a record that cannot be written is dropped.
    """

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        pass


class RunLog:
    """The open log of one run: ``path``, and ``note`` for lines that belong in the file only."""

    def __init__(self, path: Path, handler: logging.Handler):
        self.path, self._handler = path, handler

    def note(self, message: str, level: int = logging.INFO, exc_info=None) -> None:
        """Write ``message`` to this run's file alone (the console shows the same thing its own way)."""
        self._handler.handle(log.makeRecord(log.name, level, __file__, 0, message, (), exc_info))


@contextlib.contextmanager
def run_log(path: str | os.PathLike, title: str) -> Iterator[RunLog]:
    """Append this run's records (from the ``pixelboard`` logger) to ``path`` while the block runs.

    The ``pixelboard`` logger is lowered to INFO for the duration when it would drop INFO records
    (the default), so the file gets the run's narration whatever the caller configured (``-vv`` adds
    DEBUG); the opening and closing lines (title, outcome, duration) go to the file only.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = RunLogHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    logger = logging.getLogger(ROOT)
    level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    started = time.perf_counter()
    run = RunLog(path, handler)
    run.note(f"== {title} (pid {os.getpid()}; {_versions()})")
    try:
        yield run
    except KeyboardInterrupt:
        run.note(f"interrupted after {time.perf_counter() - started:.1f} s; finished work is kept", logging.WARNING)
        raise
    except BaseException as exc:
        from pixelboard.errors import PixelboardError

        # A user error is one line; anything else keeps its traceback for the bug report.
        trace = None if isinstance(exc, (PixelboardError, OSError)) else sys.exc_info()
        run.note(f"failed after {time.perf_counter() - started:.1f} s: {type(exc).__name__}: {exc}",
                 logging.ERROR, trace)
        raise
    else:
        run.note(f"finished in {time.perf_counter() - started:.1f} s")
    finally:
        logger.removeHandler(handler)
        with contextlib.suppress(Exception):  # closing flushes: the same unwritable file as above
            handler.close()
        logger.setLevel(level)


def _versions() -> str:
    from pixelboard.versions import library_versions

    return ", ".join(f"{name} {version}" for name, version in library_versions().items() if version)
