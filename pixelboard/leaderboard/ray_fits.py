"""``leaderboard --backend ray``: the fold fits run as Ray tasks through joblib's Ray backend.

The runner's one ``joblib.Parallel`` (``runner.execute_fits``) names no backend, so the backend set
around the run by :func:`ray_fits` is the one it uses: each ``(row, fold)`` fit is the same pure
function with the same seed and one thread, on a Ray worker instead of a local process, and the
leaderboard's numbers are those of the local backend. ``--jobs`` is the number of fits in flight.
Ray is an optional extra (``pip install 'pixelboard[ray]'``): only this module and
``featurizers/ray_backend.py`` import it, inside functions.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

BACKEND_NAME = "ray"


@contextlib.contextmanager
def ray_fits(address: str | None = None) -> Iterator[None]:
    """Run the ``joblib.Parallel`` calls inside this block on Ray (``address``, else ``RAY_ADDRESS``,
    else a local instance)."""
    import joblib

    from pixelboard.featurizers.ray_backend import connect

    connect(address)
    from ray.util.joblib.ray_backend import RayBackend

    class _RayFits(RayBackend):
        # The runner pulls results as each fit finishes (return_as="generator_unordered"): Ray's pool
        # delivers them through joblib's retrieve callbacks like a local process pool.
        supports_return_generator = True

    joblib.register_parallel_backend(BACKEND_NAME, _RayFits)
    with joblib.parallel_config(backend=BACKEND_NAME):
        yield
