"""Atomic file writes and checked reads: a reader (or an interrupted run) never sees a half-written
file, and a damaged file is reported in one line that names it.

Every cache entry and output goes through these helpers: write to a temporary file in the same
directory, flush it to disk, then ``os.replace`` it over the target (atomic on POSIX and Windows).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from pixelboard.errors import PixelboardError

DAMAGED_FIX = "delete it and run the command that wrote it again"


def _read_umask() -> int:
    # The process umask can only be read by setting it; doing that once at import time, before any
    # pixelboard thread exists, avoids racing another thread that creates files in between.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files (private temporaries); a finished output gets the mode a plain open()
# would give it, so a submission or table written for a team is readable like any other file.
FILE_MODE = 0o666 & ~_read_umask()


class WriteError(OSError):
    """An ``OSError`` while writing an output; ``filename`` is the target, not the temporary file."""


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[io.IOBase]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` on success."""
    path = Path(path)
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(OSError):  # some network mounts refuse chmod: the file still counts
            os.chmod(tmp_name, FILE_MODE)
        os.replace(tmp_name, path)
    except BaseException as exc:
        if tmp_name is not None:
            with contextlib.suppress(OSError):  # never hide the error that got us here
                os.unlink(tmp_name)
        if isinstance(exc, OSError) and exc.errno is not None and not isinstance(exc, WriteError):
            raise WriteError(exc.errno, exc.strerror, str(path)) from exc
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_open(path, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)


@contextlib.contextmanager
def write_npy_memmap(path: str | os.PathLike, shape: tuple[int, ...], dtype=np.float32) -> Iterator[np.ndarray]:
    """An ``.npy`` file written through a memory map: the caller fills the yielded array (in chunks, so
    the matrix never has to fit in RAM); on success it is flushed, synced and renamed over ``path``."""
    path = Path(path)
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        array = np.lib.format.open_memmap(tmp_name, mode="w+", dtype=dtype, shape=tuple(shape))
        yield array
        array.flush()
        del array
        with open(tmp_name, "rb+") as handle:
            os.fsync(handle.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp_name, FILE_MODE)
        os.replace(tmp_name, path)
    except BaseException as exc:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
        if isinstance(exc, OSError) and exc.errno is not None and not isinstance(exc, WriteError):
            raise WriteError(exc.errno, exc.strerror, str(path)) from exc
        raise


def read_json(path: str | os.PathLike, *, fix: str = DAMAGED_FIX) -> Any:
    """Parse a JSON file; a damaged one (hand-edited, not JSON, not UTF-8) is a one-line error.

    Checking the top-level type and keys is the caller's job. ``fix`` is the advice in the message.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise damaged(path, f"not valid JSON: {_first_line(exc)}", fix) from None


def read_npy(path: str | os.PathLike, mmap_mode: str | None = None, *, fix: str = DAMAGED_FIX) -> np.ndarray:
    """``np.load`` without pickles; a damaged, truncated or non-array file is a one-line error."""
    try:
        array = np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise damaged(path, f"not a readable .npy array: {_first_line(exc)}", fix) from None
    if not isinstance(array, np.ndarray):  # an .npz archive
        array.close()
        raise damaged(path, "an .npz archive, not an .npy array", fix)
    return array


def damaged(path: str | os.PathLike, reason: str, fix: str = DAMAGED_FIX) -> PixelboardError:
    """The one-line error for a file pixelboard wrote that no longer reads back."""
    return PixelboardError(f"{path} is damaged ({reason}): {fix}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
