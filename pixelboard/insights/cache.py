"""One cache of the insight computations that take long: activation maps, the embedding map (t-SNE)
and the data-quality scans, computed once per (run, model, settings) and reused by ``report``,
``document`` and the API.

Entries live inside the run folder, ``<run>/insights/<kind>-<scope>.json``: one readable JSON file per
kind and scope (a model id, a featurizer), holding the key it was computed under and the value.
The key hashes everything the value depends on: the row's key (embeddings, partition, parameters,
seed, versions), the content of the arrays read (probabilities, embeddings, labels) and the settings
(images per class, sample size, thresholds). A different key recomputes and replaces the entry; a
damaged entry recomputes too (it is a cache, never the only copy). Writes are atomic.

JSON rather than pickle: a project's files never run code when read (see ``fitted.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pixelboard import atomic

log = logging.getLogger(__name__)

FOLDER = "insights"
FORMAT_VERSION = 1


def array_digest(*arrays) -> str:
    """A hash of arrays' shapes, dtypes and bytes (what an entry's value was computed from)."""
    h = hashlib.sha256()
    for array in arrays:
        a = np.ascontiguousarray(np.asarray(array))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def entry_key(parts: dict) -> str:
    text = json.dumps({"format": FORMAT_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class InsightCache:
    """The insight entries of one run folder."""

    def __init__(self, run_directory: Path):
        self.directory = Path(run_directory) / FOLDER
        self.computed: list[str] = []  # entries computed (not reused) by this object: for logs and tests

    def path(self, kind: str, scope: str = "") -> Path:
        name = kind + (f"-{scope}" if scope else "")
        return self.directory / (re.sub(r"[^A-Za-z0-9_.+-]", "_", name) + ".json")

    def get_or_compute(self, kind: str, scope: str, parts: dict, compute: Callable[[], Any],
                       encode: Callable[[Any], Any], decode: Callable[[Any], Any]) -> Any:
        """The value stored under ``parts``' key, else ``compute()`` (stored through ``encode``)."""
        key = entry_key({"kind": kind, **parts})
        path = self.path(kind, scope)
        if path.is_file():
            try:
                stored = atomic.read_json(path)
                if isinstance(stored, dict) and stored.get("key") == key:
                    log.info("insights: %s reused from %s", kind, path.name)
                    return decode(stored["value"])
            except Exception as exc:  # noqa: BLE001  a damaged or foreign entry is recomputed, never fatal
                log.info("insights: %s not reusable (%s); recomputing", path.name, exc)
        value = compute()
        atomic.write_json(path, {"key": key, "kind": kind, "parts": parts, "value": encode(value)})
        self.computed.append(path.name)
        return value
