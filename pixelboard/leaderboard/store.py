"""The run directory: config, partition, one folder per leaderboard row, stable model ids.

```
<run>/config.json                 every option, the seed, library versions
<run>/partition/                  holdout + fold assignment (partition.py)
<run>/ids.json                    row key -> model id (M1, M2, ... B1 for blends): stable across runs
<run>/models/<id>/result.json     scores, timings, spec: written last, so it marks a finished row
<run>/models/<id>/oof.npy, holdout.npy, fold_<k>.joblib (or blender.joblib)
```
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import joblib
import numpy as np

from pixelboard import atomic
from pixelboard.errors import PixelboardError


def row_key(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:20]


class RunStore:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._ids_path = self.directory / "ids.json"
        self._ids: dict[str, str] = atomic.read_json(self._ids_path) if self._ids_path.is_file() else {}

    @property
    def partition_dir(self) -> Path:
        return self.directory / "partition"

    def config(self) -> dict:
        path = self.directory / "config.json"
        if not path.is_file():
            raise PixelboardError(f"no leaderboard in {self.directory}: run `pixelboard leaderboard` first")
        return atomic.read_json(path)

    def model_id(self, key: str, prefix: str) -> str:
        """The id of a row key, allocating the next free ``<prefix>N`` the first time."""
        if key not in self._ids:
            taken = [int(v[len(prefix):]) for v in self._ids.values() if v.startswith(prefix)]
            self._ids[key] = f"{prefix}{max(taken, default=0) + 1}"
            atomic.write_json(self._ids_path, self._ids)
        return self._ids[key]

    def model_dir(self, model_id: str) -> Path:
        return self.directory / "models" / model_id

    def load_result(self, model_id: str, key: str) -> dict | None:
        """The finished row with this key, or None (never run, interrupted, or made from other inputs)."""
        path = self.model_dir(model_id) / "result.json"
        if not path.is_file():
            return None
        result = atomic.read_json(path)
        return result if result.get("key") == key else None

    def read_result(self, model_id: str) -> dict:
        path = self.model_dir(model_id) / "result.json"
        if not path.is_file():
            raise PixelboardError(f"model {model_id} has no saved result in {self.directory}; re-run the leaderboard")
        return atomic.read_json(path)

    def save(self, model_id: str, result: dict, oof: np.ndarray, holdout: np.ndarray,
             artifacts: dict[str, object]) -> None:
        folder = self.model_dir(model_id)
        atomic.write_npy(folder / "oof.npy", oof)
        atomic.write_npy(folder / "holdout.npy", holdout)
        for name, obj in artifacts.items():
            with atomic.atomic_open(folder / f"{name}.joblib", "wb") as handle:
                joblib.dump(obj, handle)
        atomic.write_json(folder / "result.json", result)  # last: the row is complete

    def load_arrays(self, model_id: str) -> tuple[np.ndarray, np.ndarray]:
        folder = self.model_dir(model_id)
        return np.load(folder / "oof.npy"), np.load(folder / "holdout.npy")

    def load_artifact(self, model_id: str, name: str):
        return joblib.load(self.model_dir(model_id) / f"{name}.joblib")
