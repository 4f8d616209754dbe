"""Atomic file writes and checked reads: a reader (or an interrupted run) never sees a half-written
file, and a damaged file is reported in one line that names it.

Every cache entry and output goes through these helpers: write to a temporary file in the same
directory, flush it to disk, then ``os.replace`` it over the target (atomic on POSIX and Windows).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import shutil
import tempfile
import time
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


# numpy's own words for a short write (errno unset): on a local disk, the disk is full.
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")
_TEMPORARY = re.compile(r"\.(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp")
_ORPHAN_SECONDS = 3600  # a temporary without a writer's pid (an older pixelboard's) is an orphan after an hour


def _temporary(path: Path) -> tuple[int, str]:
    """A temporary sibling of ``path`` named after this process (``.<name>.<pid>.<random>.tmp``): a
    later writer of the same file removes those whose process is gone (killed, SIGBUS, power cut)."""
    _remove_orphans(path)
    return tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)


def _remove_orphans(path: Path) -> None:
    prefix = f".{path.name}"
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")) or not entry.is_file(follow_symlinks=False):
                continue
            match = _TEMPORARY.fullmatch(entry.name[len(prefix):])
            orphan = (not _alive(int(match["pid"])) if match
                      else time.time() - entry.stat(follow_symlinks=False).st_mtime > _ORPHAN_SECONDS)
            if orphan:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be writing it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def _write_error(exc: OSError, path: Path) -> WriteError:
    """The error for ``path`` (not its temporary), with the cause a full disk really is."""
    if exc.errno is None and _SHORT_WRITE.search(str(exc)):
        return WriteError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return WriteError(exc.errno, exc.strerror, str(path))


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[io.IOBase]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` on success.

    Text is UTF-8 with ``surrogateescape``: a non-UTF-8 file name (an image ID) is written back as the
    bytes it was read from, so a submission names the file the folder holds.
    """
    path = Path(path)
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = _temporary(path)
        text = {} if "b" in mode else {"encoding": "utf-8", "errors": "surrogateescape", "newline": ""}
        with os.fdopen(fd, mode, **text) as handle:
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
        if isinstance(exc, OSError) and not isinstance(exc, WriteError) and (
                exc.errno is not None or _SHORT_WRITE.search(str(exc))):
            raise _write_error(exc, path) from exc
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
        fd, tmp_name = _temporary(path)
        os.close(fd)
        array = np.lib.format.open_memmap(tmp_name, mode="w+", dtype=dtype, shape=tuple(shape))
        _reserve(tmp_name)
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
            raise _write_error(exc, path) from exc
        raise


def _reserve(name: str) -> None:
    """Give a memory-mapped file its blocks before anything is written through the map: on a full disk
    a store into a sparse map is a SIGBUS that kills the process without a word; reserved, the
    shortage is an ``ENOSPC`` error here, before any work."""
    size = os.path.getsize(name)
    with open(name, "rb+") as handle:
        try:
            os.posix_fallocate(handle.fileno(), 0, size)
            return
        except AttributeError:  # no posix_fallocate (macOS, Windows): compare with the free space instead
            pass
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)):
                raise
    if shutil.disk_usage(os.path.dirname(name) or ".").free < size:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)


def read_json(path: str | os.PathLike, *, fix: str = DAMAGED_FIX) -> Any:
    """Parse a JSON file; a damaged one (hand-edited, not JSON, not UTF-8) is a one-line error.

    Checking the top-level type and keys is the caller's job. ``fix`` is the advice in the message.
    """
    refuse_link(path)
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise damaged(path, f"not valid JSON: {_first_line(exc)}", fix) from None


def read_record(path: str | os.PathLike, fields: dict[str, type | tuple[type, ...]], what: str, *,
                fix: str = DAMAGED_FIX) -> dict:
    """A JSON object with at least ``fields`` (name -> type), else the one-line error naming ``path``.

    Every record a run reads back goes through here (or through a typed ``from_json``), so ``{}``,
    ``null`` or a field of the wrong type is "damaged", never a ``KeyError`` deep inside a command.
    """
    data = read_json(path, fix=fix)
    if not isinstance(data, dict):
        raise damaged(path, f"not a {what}: a JSON {_json_kind(data)}, not an object", fix)
    for name, kind in fields.items():
        if name not in data:
            raise damaged(path, f"not a {what}: no {name!r} field", fix)
        value = data[name]
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
            raise damaged(path, f"not a {what}: {name!r} is a JSON {_json_kind(value)}", fix)
    return data


def _as_tuple(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def _json_kind(value: Any) -> str:
    return {type(None): "null", bool: "boolean", int: "number", float: "number", str: "string",
            list: "array", dict: "object"}.get(type(value), type(value).__name__)


def read_npy(path: str | os.PathLike, mmap_mode: str | None = None, *, fix: str = DAMAGED_FIX) -> np.ndarray:
    """``np.load`` without pickles; a damaged, truncated or non-array file is a one-line error."""
    refuse_link(path)
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


def refuse_link(path: str | os.PathLike) -> None:
    """The project's records are read as they are written: plain files, never through a planted symbolic
    link (which would make a command read, and report on, a file outside the project)."""
    if os.path.islink(path):
        raise PixelboardError(f"{path} is a symbolic link: pixelboard reads and writes its files only as plain "
                              "files inside the project; remove the link and run again")


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
