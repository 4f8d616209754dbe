"""Versions of the libraries that change the numbers: recorded in sidecars and run configs, and part
of every leaderboard row's key (a row fitted under other library versions is refitted, not reused)."""

from __future__ import annotations

import platform
from importlib import metadata

MODEL_LIBRARIES = ("pixelboard", "scikit-learn", "lightgbm", "xgboost", "catboost", "torch", "numpy", "scipy")


def library_versions(names: tuple[str, ...] = MODEL_LIBRARIES) -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found
