"""The project directory: where image-set manifests, the embedding cache, embeddings and runs live.

```
<project>/datasets/<set>.json                  image set: ids, files, labels, class names, groups
<project>/cache/<fingerprint>/                 per-featurizer row store (see featurizers/cache.py)
<project>/runtimes/<graph fingerprint>.onnx     a featurizer's exported graph (--runtime onnx|openvino)
<project>/file-index.json                      stat index: path, size, mtime -> content key (featurizers/file_index.py)
<project>/embeddings/<set>/<featurizer>.npy    the set's matrix, rows in manifest order (+ copies)
<project>/embeddings/<set>/<featurizer>.json   sidecar: row ids, fingerprint, level slices, versions, timings
<project>/embeddings/<set>/featurize.log       the set's featurize runs (logs.py)
<project>/runs/<run>/                          one leaderboard run: partition, fold models, probabilities, tables,
                                               run.log (default run: leaderboard)
<project>/.lock                                held by the one pixelboard process writing the project

Runs have a folder of their own, so no run or set name can land on the project's own folders and
files (a run called ``datasets`` or a set called ``config``). Projects written before kept each run
at the top level: :meth:`Project.run_dir` moves them under ``runs/`` the first time it is asked.
```
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import filelock
import numpy as np

from pixelboard import atomic
from pixelboard.datasets.sources import ImageSet
from pixelboard.errors import PixelboardError
from pixelboard.logs import SAY
from pixelboard.mapped_matrix import reduce_with_mapped_arrays

DEFAULT_PROJECT = "pixelboard-project"
LOCK_TIMEOUT = 60.0  # seconds a second process waits for the project before it gives up

log = logging.getLogger(__name__)

_PROJECT_FOLDERS = {"datasets", "cache", "embeddings", "runs"}  # never a run of the old layout
_RUN_FILES = ("config.json", "ranking.json", "run.log")  # what marks a top-level folder as an old-layout run
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


def check_name(value: str, what: str = "name") -> str:
    """Return ``value`` if it is one plain path component (set and run names become folders and files).

    Letters, digits, ``.``, ``_`` and ``-``, not starting with ``.``: ``../x``, ``/tmp/x`` and
    hidden names cannot place anything outside the project.
    """
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise PixelboardError(f"{what} {value!r} is not a plain name: use letters, digits, '.', '_' and '-' "
                              "(at most 100, not starting with '.'), e.g. train")
    return value


@dataclass(frozen=True)
class Embeddings:
    """One featurizer's matrix for one image set, with its sidecar. Pickled (for a fit worker), a
    matrix mapped from its ``.npy`` file travels as the file's path (mapped_matrix.py)."""

    name: str
    matrix: np.ndarray
    sidecar: dict

    __reduce__ = reduce_with_mapped_arrays

    @property
    def row_ids(self) -> list[str]:
        return self.sidecar["rows"]["ids"]

    @property
    def sources(self) -> list[str]:
        return self.sidecar["rows"]["sources"]

    @property
    def augmentations(self) -> list[str]:
        return self.sidecar["rows"]["augmentations"]

    def level_columns(self, levels: list[str] | None = None) -> np.ndarray:
        slices = self.sidecar["level_slices"]
        chosen = levels or list(slices)
        unknown = [lv for lv in chosen if lv not in slices]
        if unknown:
            raise PixelboardError(f"featurizer {self.name} has no level(s) {', '.join(unknown)}; it has {', '.join(slices)}")
        return np.concatenate([np.arange(*slices[lv]) for lv in chosen])


class Project:
    def __init__(self, root: str | os.PathLike = DEFAULT_PROJECT):
        self.root = Path(root).expanduser()

    # --- image sets -----------------------------------------------------------------------
    def dataset_path(self, set_name: str) -> Path:
        return self.root / "datasets" / f"{check_name(set_name, 'image set name')}.json"

    def save_image_set(self, image_set: ImageSet) -> None:
        atomic.write_json(self.dataset_path(image_set.name), image_set.to_dict())

    def load_image_set(self, set_name: str) -> ImageSet:
        path = self.dataset_path(set_name)
        if not path.is_file():
            raise PixelboardError(f"no image set {set_name!r} in project {self.root}: run "
                                  f"`pixelboard featurize --project {self.root} --set {set_name} --images ...` first")
        fix = f"re-run `pixelboard featurize --set {set_name} ...`"
        data = atomic.read_json(path, fix=fix)
        try:
            image_set = ImageSet.from_dict(data)
            lengths = {len(image_set.ids), len(image_set.files), len(image_set.labels or image_set.ids)}
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise atomic.damaged(path, f"not an image set manifest: {type(exc).__name__} {exc}", fix) from None
        if len(lengths) != 1:
            raise atomic.damaged(path, "its ids, files and labels differ in length", fix)
        return image_set

    # --- cache and embeddings -------------------------------------------------------------
    def cache_dir(self, fingerprint: str) -> Path:
        return self.root / "cache" / fingerprint

    @property
    def runtimes_dir(self) -> Path:
        return self.root / "runtimes"

    @property
    def file_index_path(self) -> Path:
        return self.root / "file-index.json"

    def embeddings_paths(self, set_name: str, name: str) -> tuple[Path, Path]:
        if not name or "/" in name or "\\" in name or name.startswith("."):  # featurizer names may hold '+'
            raise PixelboardError(f"featurizer name {name!r} is not a plain name")
        base = self.root / "embeddings" / check_name(set_name, "image set name") / name
        return base.with_suffix(".npy"), base.with_suffix(".json")

    def save_embeddings(self, set_name: str, name: str, matrix: np.ndarray, sidecar: dict) -> Path:
        npy, meta = self.embeddings_paths(set_name, name)
        atomic.write_npy(npy, matrix)  # matrix first: the sidecar names only a complete matrix
        atomic.write_json(meta, sidecar)
        return npy

    def view_embeddings_paths(self, set_name: str, name: str) -> tuple[Path, Path]:
        """The set's rows under each view (``views.py``): beside the embeddings, not among the featurizers."""
        npy, meta = self.embeddings_paths(set_name, name)
        return npy.parent / "views" / npy.name, meta.parent / "views" / meta.name

    def load_view_embeddings(self, set_name: str, name: str, copies: bool = False) -> tuple[np.ndarray, dict]:
        """``(views, images, d)`` rows (identity first) and their sidecar (``views``: the view tags).

        The images are the set's originals; with ``copies``, also its augmented copies that were
        viewed (``featurize --augment ... --views ...``), which follow the originals in the file.
        """
        npy, meta = self.view_embeddings_paths(set_name, name)
        if not meta.is_file() or not npy.is_file():
            raise PixelboardError(f"no view embeddings for {name!r} in set {set_name!r}: run `pixelboard featurize "
                                  "--views ...` (e.g. --views dihedral) for this set first")
        sidecar = atomic.read_json(meta)
        matrix = atomic.read_npy(npy, mmap_mode="r")
        n_views, n_images = 1 + len(sidecar["views"]), len(sidecar["rows"]["ids"])
        if matrix.shape != (n_views * n_images, sidecar["n_features"]):
            raise PixelboardError(f"{npy} has shape {matrix.shape}, expected {(n_views * n_images, sidecar['n_features'])}"
                                  "; re-run featurize --views")
        stack = np.asarray(matrix).reshape(n_views, n_images, -1)
        originals = int(sidecar.get("originals", n_images))
        if copies or originals == n_images:
            return stack, sidecar
        rows = {key: values[:originals] for key, values in sidecar["rows"].items()}
        return stack[:, :originals], {**sidecar, "rows": rows}  # a slice of the map: nothing is read

    def featurizer_names(self, set_name: str) -> list[str]:
        folder = self.root / "embeddings" / check_name(set_name, "image set name")
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    def load_embeddings(self, set_name: str, name: str) -> Embeddings:
        npy, meta = self.embeddings_paths(set_name, name)
        if not meta.is_file() or not npy.is_file():
            have = ", ".join(self.featurizer_names(set_name)) or "none"
            raise PixelboardError(f"no embeddings {name!r} for set {set_name!r} in {self.root} (have: {have})")
        fix = f"delete it and run `pixelboard featurize --set {set_name} ...` again (cached rows are reused)"
        sidecar = atomic.read_json(meta, fix=fix)
        try:
            expected = (len(sidecar["rows"]["ids"]), int(sidecar["n_features"]))
            _ = sidecar["level_slices"], sidecar["rows"]["sources"], sidecar["rows"]["augmentations"]
        except (KeyError, TypeError, ValueError) as exc:
            raise atomic.damaged(meta, f"not an embeddings sidecar: {type(exc).__name__} {exc}", fix) from None
        matrix = atomic.read_npy(npy, mmap_mode="r", fix=fix)
        if matrix.shape != expected:
            raise PixelboardError(f"{npy} has shape {matrix.shape} but its sidecar describes "
                                  f"{expected}; re-run featurize")
        return Embeddings(name, np.asarray(matrix), sidecar)

    def featurize_log_path(self, set_name: str) -> Path:
        return self.root / "embeddings" / check_name(set_name, "image set name") / "featurize.log"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def run_dir(self, run: str) -> Path:
        """The folder of leaderboard run ``run`` (a plain name: see :func:`check_name`)."""
        folder = self.runs_dir / check_name(run, "run name")
        if not folder.exists():
            self._move_top_level_runs()
        return folder

    def run_log_path(self, run: str) -> Path:
        return self.run_dir(run) / "run.log"

    def _move_top_level_runs(self) -> None:
        """The layout before ``runs/``: a run was any top-level folder holding a run's files; move each
        under ``runs/`` once (a rename: nothing is copied, nothing refitted)."""
        if not all((self.root / name).is_dir() for name in ("datasets", "cache")):
            return  # not a featurized project (e.g. a Project opened on another project's runs/ folder)
        for folder in sorted(self.root.iterdir()):
            if (folder.name in _PROJECT_FOLDERS or folder.is_symlink() or not folder.is_dir()
                    or not any((folder / name).is_file() for name in _RUN_FILES)):
                continue
            target = self.runs_dir / folder.name
            with contextlib.suppress(OSError):  # another process moved it first, or the name is taken
                self.runs_dir.mkdir(exist_ok=True)
                if not target.exists():
                    os.rename(folder, target)
                    log.info(f"moved run {folder.name} to {target} (runs have a folder of their own now)", extra=SAY)

    # --- one writer at a time ---------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    @contextlib.contextmanager
    def lock(self, timeout: float | None = None,
             notify: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the project for this process: a second pixelboard process waits, then gives up.

        Two writers would each compact the cache under the other's feet and overwrite each other's
        leaderboard rows. The lock is an OS file lock (``filelock``), so a killed process never
        leaves it held. A waiting process says once whom it waits for (``notify``, default: a logged
        warning, shown on stderr) and stops after ``timeout`` seconds (default :data:`LOCK_TIMEOUT`)
        with a one-line error. Re-entrant within one thread (nested commands, e.g. ``demo``).
        """
        timeout = LOCK_TIMEOUT if timeout is None else timeout
        fresh = [folder for folder in [self.root, *self.root.parents] if not folder.exists()]
        self.root.mkdir(parents=True, exist_ok=True)
        lock = _file_lock(self.lock_path)
        atomic.refuse_link(self.lock_path)  # filelock would refuse it too (O_NOFOLLOW), with a bare ELOOP
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            (notify or log.warning)(f"waiting for another pixelboard process using {self.root} "
                                    f"({self._lock_holder()}) for up to {timeout:g} s ...")
            try:
                lock.acquire(timeout=timeout)
            except filelock.Timeout:
                raise PixelboardError(
                    f"{self.root} is still in use by another pixelboard process ({self._lock_holder()}) after "
                    f"{timeout:g} s: run this command when it has finished (lock file {self.lock_path})") from None
        try:
            if lock.lock_counter == 1:  # outermost holder: say who holds it, for the waiters' message
                with contextlib.suppress(OSError):  # only informative: a real write error comes next anyway
                    command = " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:2]])
                    atomic.write_json(self._owner_path, {"pid": os.getpid(), "since": time.strftime("%H:%M:%S"),
                                                         "command": command})
            yield
        except BaseException:
            if fresh and lock.lock_counter == 1:
                self._unlock_and_remove_if_empty(lock, fresh)
            raise
        finally:
            if lock.is_locked:
                if lock.lock_counter == 1:
                    with contextlib.suppress(OSError):
                        self._owner_path.unlink()
                lock.release()

    def _unlock_and_remove_if_empty(self, lock: filelock.FileLock, created: list[Path]) -> None:
        """A command that failed in a project it created leaves no folder behind when it wrote nothing
        there but the lock (e.g. ``leaderboard`` run in an empty folder)."""
        lock_files = {self.lock_path, self._owner_path}
        if any(p.is_file() and p not in lock_files or p.is_symlink() for p in self.root.rglob("*")):
            return
        with contextlib.suppress(OSError):
            self._owner_path.unlink()
        lock.release()
        with contextlib.suppress(OSError):
            for path in sorted(self.root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            for folder in created:  # the project folder, then any parents made for it
                folder.rmdir()

    @property
    def _owner_path(self) -> Path:
        return self.root / ".lock.owner.json"

    def _lock_holder(self) -> str:
        try:
            owner = json.loads(self._owner_path.read_text(encoding="utf-8"))
            return f"pid {owner['pid']}, since {owner['since']}: {owner['command']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "pid unknown"


_LOCKS: dict[str, filelock.FileLock] = {}


def _file_lock(path: Path) -> filelock.FileLock:
    """One lock object per project per process, so a nested ``Project.lock`` re-enters instead of deadlocking."""
    key = os.path.abspath(path)
    if key not in _LOCKS:
        _LOCKS[key] = filelock.FileLock(key)
    return _LOCKS[key]

