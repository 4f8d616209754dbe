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
import re
import sys
import time
from pathlib import Path
from typing import Iterator

ROOT = "pixelboard"
SAY = {"say": True}  # ``log.info(..., extra=SAY)``: a line for the user, not only for the log
FILE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

log = logging.getLogger(__name__)

# Characters that would let a name (a file name, a class name) rewrite what a terminal or a log shows:
# C0/C1 controls (newline, carriage return, escape sequences), line separators and the bidi overrides.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a non-UTF-8 file name (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: str) -> str:
    """``text`` with every control character escaped (``\\n``, ``\\x1b``, ``\\u202e``): one line, shown as it is.

    Messages name user files and classes; a name holding a newline must not add a line of its own
    choosing to a log or split the error line, and a non-UTF-8 file name must not fail to print.
    """
    return _UNPRINTABLE.sub(_escape, text)


class EscapingFormatter(logging.Formatter):
    """The run log's formatter: each record's message on its one line (see :func:`printable`); lines a
    run writes as a block (``RunLog.note(..., block=True)``) keep their line breaks, indented so no
    continuation line can pass for a record of its own."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        escaped = logging.makeLogRecord(record.__dict__)
        if getattr(record, "block", False):
            escaped.message = "\n    ".join(printable(line) for line in record.message.split("\n"))
        else:
            escaped.message = printable(record.message)
        return super().formatMessage(escaped)


class RunLogHandler(logging.FileHandler):
    """A file handler that never breaks or clutters the run it records.

    A full disk or a vanished folder must not add a ``--- Logging error ---`` traceback to a run
    whose own outputs are fine: a record that cannot be written is dropped.
    """

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        pass

    def _open(self):
        # Opened like every other output of the project: a symbolic link planted at the log's place is
        # refused (O_NOFOLLOW), never followed to append the run's narration to the file it points to.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        return open(os.open(self.baseFilename, flags, 0o666), self.mode, encoding=self.encoding, errors=self.errors)


class RunLog:
    """The open log of one run: ``path``, and ``note`` for lines that belong in the file only."""

    def __init__(self, path: Path, handler: logging.Handler):
        self.path, self._handler = path, handler

    def note(self, message: str, level: int = logging.INFO, exc_info=None, block: bool = False) -> None:
        """Write ``message`` to this run's file alone (the console shows the same thing its own way);
        ``block``: a multi-line text such as a table (its lines indented, see :class:`EscapingFormatter`)."""
        self._handler.handle(log.makeRecord(log.name, level, __file__, 0, message, (), exc_info,
                                            extra={"block": block}))


def _open_handler(path: Path, root: Path | None) -> tuple[RunLogHandler, list[Path]]:
    """The log's handler, and the folders created for it (newest first). ``root``: the project, which
    the log's real folder must lie inside (a planted folder symlink cannot carry the log out of it)."""
    from pixelboard.errors import PixelboardError

    created = [folder for folder in [path.parent, *path.parent.parents] if not folder.exists()
               and (root is None or folder.is_relative_to(root))]
    path.parent.mkdir(parents=True, exist_ok=True)
    if root is not None and not path.parent.resolve().is_relative_to(root.resolve()):
        raise PixelboardError(f"{path.parent} leads outside the project {root} (a symbolic link?): pixelboard writes "
                              "only inside the project; remove the link and run again")
    try:
        handler = RunLogHandler(path, encoding="utf-8", errors="backslashreplace")
    except OSError as exc:
        if os.path.islink(path):
            raise PixelboardError(f"{path} is a symbolic link: pixelboard writes its logs only as plain files inside "
                                  "the project; remove the link and run again") from None
        raise
    return handler, created


def _remove_if_alone(path: Path, created: list[Path]) -> None:
    """A failed run that wrote nothing but its new log leaves nothing behind: the log and the folders made for it."""
    if not created or any(folder.exists() and set(folder.iterdir()) - {path, *created} for folder in created):
        return  # an existing folder, or something else was written beside the log: keep it, it explains that work
    with contextlib.suppress(OSError):
        path.unlink()
        for folder in created:
            folder.rmdir()


@contextlib.contextmanager
def run_log(path: str | os.PathLike, title: str, root: str | os.PathLike | None = None) -> Iterator[RunLog]:
    """Append this run's records (from the ``pixelboard`` logger) to ``path`` while the block runs.

    The ``pixelboard`` logger is lowered to INFO for the duration when it would drop INFO records
    (the default), so the file gets the run's narration whatever the caller configured (``-vv`` adds
    DEBUG); the opening and closing lines (title, outcome, duration) go to the file only. Inside a
    project (``root``), a run that fails on bad input before writing anything else removes the log
    and folders it created: a failed command leaves nothing behind.
    """
    path = Path(path)
    root = Path(root) if root is not None else None
    new = not os.path.lexists(path)
    handler, created = _open_handler(path, root)
    handler.setFormatter(EscapingFormatter(FILE_FORMAT))
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
        user_error = isinstance(exc, (PixelboardError, OSError))
        run.note(f"failed after {time.perf_counter() - started:.1f} s: {type(exc).__name__}: {exc}",
                 logging.ERROR, None if user_error else sys.exc_info())
        if user_error and new and root is not None:
            with contextlib.suppress(Exception):
                handler.close()
            _remove_if_alone(path, created)
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
