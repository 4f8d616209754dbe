"""Pickle a memory-mapped ``.npy`` matrix as its path: for records sent to fit workers and Ray tasks.

A leaderboard fit runs in another process (joblib's, or a Ray task's) and receives its arguments
pickled. A 70,000 x 1,752 embedding matrix is 490 MB: pickled whole it would be copied once per fit.
A record whose ``__reduce__`` is :func:`reduce_with_mapped_arrays` sends such a matrix as
``MappedMatrix(path, shape)`` and maps the same file again on arrival, so every worker slices one
file through the page cache. joblib does this by itself for its own process pool (its memmap
reducer); Ray's serializer does not, so the records do it for every backend alike.
"""

from __future__ import annotations

import dataclasses
import mmap
from dataclasses import dataclass

import numpy as np

from pixelboard.errors import PixelboardError


@dataclass(frozen=True)
class MappedMatrix:
    """A reference to a whole ``.npy`` file mapped read-only (``np.load(path, mmap_mode="r")``)."""

    path: str
    shape: tuple[int, ...]

    @staticmethod
    def of(array: np.ndarray):
        """The reference when ``array`` is a whole mapped file, or a plain view of all of one (what
        ``Project.load_embeddings`` returns); ``array`` itself when it is a slice, a copy or in RAM."""
        mapped = array if isinstance(array, np.memmap) else array.base
        whole = (isinstance(mapped, np.memmap) and isinstance(mapped.base, mmap.mmap) and mapped.filename
                 and array.shape == mapped.shape and array.strides == mapped.strides
                 and array.__array_interface__["data"][0] == mapped.__array_interface__["data"][0])
        return MappedMatrix(str(mapped.filename), tuple(array.shape)) if whole else array

    def open(self) -> np.ndarray:
        array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        if array.shape != self.shape:  # the file was replaced while the fits ran
            raise PixelboardError(f"{self.path} changed while it was in use (shape {array.shape}, expected "
                                  f"{self.shape}); run the command again")
        return np.asarray(array)  # as Project.load_embeddings gives it: a plain view of the map


def reduce_with_mapped_arrays(record):
    """``__reduce__`` for a dataclass: its array fields that are whole mapped files travel as references."""
    fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    fields = {k: MappedMatrix.of(v) if isinstance(v, np.ndarray) else v for k, v in fields.items()}
    return _rebuild, (type(record), fields)


def _rebuild(cls, fields: dict):
    return cls(**{k: v.open() if isinstance(v, MappedMatrix) else v for k, v in fields.items()})
