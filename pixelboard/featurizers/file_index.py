"""The project's stat index: (path, size, mtime_ns) -> content hash, so an unchanged file is not re-read.

The cache is keyed by content (``cache.image_key``); hashing 70,000 files on every run would read
every byte again. The index remembers each file's hash with the ``stat`` it had when its bytes were
read; a file whose size or modification time differs is hashed again. Like git's "racily clean"
entries, a file modified within :data:`RACY_SECONDS` of being hashed is not remembered: a second
edit within the same timestamp tick could keep its size and mtime. The index is only a shortcut:
a damaged or missing one is ignored (and rebuilt), and it is written atomically.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from pixelboard import atomic
from pixelboard.errors import PixelboardError

FORMAT_VERSION = 1
RACY_SECONDS = 2.0  # covers coarse timestamps (FAT: 2 s, some network file systems: 1 s)

log = logging.getLogger(__name__)


def file_stat(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(size, mtime_ns)`` of ``path`` (following symlinks), or None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class FileIndex:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._entries: dict[str, list] = {}
        self._changed = False
        if self.path.is_file():
            try:
                data = atomic.read_json(self.path)
                if isinstance(data, dict) and data.get("version") == FORMAT_VERSION and isinstance(data.get("files"), dict):
                    self._entries = data["files"]
            except (PixelboardError, OSError) as exc:  # a shortcut only: start again
                log.debug("ignoring the file index %s: %s", self.path, exc)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, path: str | os.PathLike, stat: tuple[int, int] | None) -> str | None:
        """The remembered content hash of ``path`` if its ``stat`` is unchanged, else None."""
        if stat is None:
            return None
        entry = self._entries.get(os.path.abspath(path))
        if isinstance(entry, list) and len(entry) == 3 and entry[0] == stat[0] and entry[1] == stat[1]:
            return entry[2]
        return None

    def remember(self, path: str | os.PathLike, stat: tuple[int, int] | None, content: str,
                 now_ns: int | None = None) -> None:
        """Record ``content`` for the bytes read while ``path`` had ``stat`` (unless modified just now)."""
        if stat is None or not content:
            return
        now_ns = time.time_ns() if now_ns is None else now_ns
        key = os.path.abspath(path)
        if stat[1] >= now_ns - int(RACY_SECONDS * 1e9):  # racily clean: hash it again next time
            if self._entries.pop(key, None) is not None:
                self._changed = True
            return
        entry = [stat[0], stat[1], content]
        if self._entries.get(key) != entry:
            self._entries[key] = entry
            self._changed = True

    def save(self) -> None:
        if self._changed:
            atomic.write_text(self.path, json.dumps({"version": FORMAT_VERSION, "files": self._entries},
                                                    separators=(",", ":")))
            self._changed = False
