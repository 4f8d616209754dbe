"""The run directory: config, partition, one folder per leaderboard row, stable model ids.

```
<run>/config.json                 every option, the seed, library versions
<run>/partition/                  holdout + fold assignment (partition.py)
<run>/ids.json                    row key -> model id (M1, M2, ... B1 for blends): stable across runs
<run>/ranking.json                the last run's rows, best first, and its metric (tables render from it)
<run>/learning_curve.json|.md     Validation score against sample size per blueprint x featurizer (autopilot.py)
<run>/models/<id>/result.json     scores, timings, spec: written last, so it marks a finished row
<run>/models/<id>/oof.npy, holdout.npy (+ oof_shifted.npy, holdout_shifted.npy with --validate-under)
<run>/models/<id>/model/           the fitted fold models (or blender) as a FittedModel folder
<run>/models/<id>/deployed/        the same model refitted on 100% of the labelled images (deploy)
<run>/deployed.json                which row `pixelboard deploy` refitted (predict's default)
```
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from pathlib import Path

import numpy as np

from pixelboard import atomic
from pixelboard.errors import PixelboardError
from pixelboard.fitted import FittedModel


_MODEL_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,40}")
# What a damaged run file's message advises: both are true (tests/test_reliability.py does each).
_RERUN_FIX = "delete it and run `pixelboard leaderboard` again (finished rows are reused)"
_REFIT_FIX = "delete it and run `pixelboard leaderboard` again (that row is fitted again)"


def row_key(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:20]


class RunStore:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._ids_path = self.directory / "ids.json"
        self._ids: dict[str, str] = self._read_ids() if self._ids_path.is_file() else {}

    def _read_ids(self) -> dict[str, str]:
        ids = atomic.read_record(self._ids_path, {}, "model id table", fix=_REFIT_FIX)
        if not all(isinstance(v, str) for v in ids.values()):
            raise atomic.damaged(self._ids_path, "not a model id table: an id is not a string", _REFIT_FIX)
        return ids

    @property
    def partition_dir(self) -> Path:
        return self.directory / "partition"

    def config(self) -> dict:
        path = self.directory / "config.json"
        if not path.is_file():
            raise PixelboardError(f"no leaderboard in {self.directory}: run `pixelboard leaderboard` first")
        config = atomic.read_record(path, {"options": dict, "classes": list}, "run config", fix=_RERUN_FIX)
        if not isinstance(config["options"].get("set_name"), str):
            raise atomic.damaged(path, "not a run config: options has no set_name", _RERUN_FIX)
        return config

    def model_id(self, key: str, prefix: str) -> str:
        """The id of a row key, allocating the next free ``<prefix>N`` the first time."""
        if key not in self._ids:
            taken = [int(v[len(prefix):]) for v in self._ids.values() if v.startswith(prefix)]
            self._ids[key] = f"{prefix}{max(taken, default=0) + 1}"
            atomic.write_json(self._ids_path, self._ids)
        return self._ids[key]

    def model_dir(self, model_id: str) -> Path:
        if not isinstance(model_id, str) or not _MODEL_ID.fullmatch(model_id):  # never a path out of the run
            raise PixelboardError(f"{model_id!r} is not a model id of {self.directory} (ids look like M3 or B1)")
        return self.directory / "models" / model_id

    def load_result(self, model_id: str, key: str) -> dict | None:
        """The finished row with this key, or None (never run, interrupted, or made from other inputs)."""
        path = self.model_dir(model_id) / "result.json"
        if not path.is_file() or not self._complete(model_id):
            return None  # a deleted array or model file ("delete it and run again"): the row is fitted again
        result = self._read_result(path)
        return result if result.get("key") == key else None

    def _complete(self, model_id: str) -> bool:
        """Whether every file a finished row reads back is there."""
        folder = self.model_dir(model_id)
        if not all((folder / name).is_file() for name in ("oof.npy", "holdout.npy", "model/model.json")):
            return False
        with contextlib.suppress(PixelboardError, OSError):  # a damaged model.json: its own error, when read
            meta = atomic.read_record(folder / "model" / "model.json", {"estimators": list}, "fitted model")
            files = [*meta["estimators"], *([meta["blender"]] if meta.get("blender") else [])]
            return all(isinstance(f, str) and (folder / "model" / Path(f).name).is_file() for f in files)
        return True

    def read_result(self, model_id: str) -> dict:
        path = self.model_dir(model_id) / "result.json"
        if not path.is_file():
            raise PixelboardError(f"model {model_id} has no saved result in {self.directory}; re-run the leaderboard")
        return self._read_result(path)

    @staticmethod
    def _read_result(path: Path) -> dict:
        return atomic.read_record(path, {"id": str, "key": str, "kind": str, "scores": dict}, "leaderboard row",
                                  fix=_REFIT_FIX)

    def save(self, model_id: str, result: dict, oof: np.ndarray, holdout: np.ndarray, fitted: FittedModel,
             shifted: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Write a finished row; ``shifted``: its probabilities under the drawn views (shift.py)."""
        folder = self.model_dir(model_id)
        atomic.write_npy(folder / "oof.npy", oof)
        atomic.write_npy(folder / "holdout.npy", holdout)
        if shifted is not None:
            atomic.write_npy(folder / "oof_shifted.npy", shifted[0])
            atomic.write_npy(folder / "holdout_shifted.npy", shifted[1])
        fitted.save(folder / "model")
        atomic.write_json(folder / "result.json", result)  # last: the row is complete

    def load_arrays(self, model_id: str, shifted: bool = False) -> tuple[np.ndarray, np.ndarray]:
        folder, suffix = self.model_dir(model_id), "_shifted" if shifted else ""
        return (atomic.read_npy(folder / f"oof{suffix}.npy", fix=_REFIT_FIX),
                atomic.read_npy(folder / f"holdout{suffix}.npy", fix=_REFIT_FIX))

    def save_ranking(self, model_ids: list[str], metric: str) -> None:
        atomic.write_json(self.directory / "ranking.json", {"metric": metric, "ids": model_ids})

    def ranked_rows(self) -> tuple[list[dict], str]:
        """The last leaderboard run's rows (best first) from their saved results, and its metric."""
        path = self.directory / "ranking.json"
        if not path.is_file():
            raise PixelboardError(f"no leaderboard in {self.directory}: run `pixelboard leaderboard` first")
        ranking = atomic.read_record(path, {"metric": str, "ids": list}, "ranking", fix=_RERUN_FIX)
        return [self.read_result(m) for m in ranking["ids"]], ranking["metric"]

    # --- fitted models ----------------------------------------------------------------------
    def load_fitted(self, model_id: str, deployed: bool = False) -> FittedModel:
        """The row's fold models (or, ``deployed``, its 100% refit); a blend's members likewise."""
        sub = "deployed" if deployed else "model"
        self.read_result(model_id)  # a clear error for an unknown or unfinished row
        return FittedModel.load(self.model_dir(model_id) / sub, lambda member: self.model_dir(member) / sub)

    def save_deployed(self, model_id: str, fitted: FittedModel, record: dict) -> None:
        for leaf in fitted.leaves():
            leaf.save(self.model_dir(leaf.model_id) / "deployed")
        if fitted.kind == "blend":
            fitted.save(self.model_dir(model_id) / "deployed")
        atomic.write_json(self.directory / "deployed.json", record)  # last: the deployment is complete

    def deployed(self) -> dict | None:
        """What `pixelboard deploy` last refitted, or None."""
        path = self.directory / "deployed.json"
        fix = "delete it and run `pixelboard deploy` again"
        return atomic.read_record(path, {"model": str}, "deployment record", fix=fix) if path.is_file() else None
