"""``--max-memory``: run fewer fold fits side by side when running ``--jobs`` of them would not fit.

Each fit holds copies of its training rows while it runs (the logistic regression converts them to
float64, scikit-learn's ``LogisticRegressionCV`` computes in it, then copies each inner fold), so the
memory of a stage grows with its largest fit times the fits running at once. Before a stage, the
runner takes its largest fit's estimate and lowers the parallel fits until this process, the
memory-mapped embeddings the workers share, and that many fits fit within the limit (at least one
always runs). Results do not change: fits are independent and single-threaded (runner.FIT_THREADS).
"""

from __future__ import annotations

import os
import resource
import sys

# Peak memory of one fit beyond its worker's libraries, per byte of its float32 training matrix;
# measured on 44,800 x 1,752 EfficientNet-Lite0 rows (benchmarks/full_fashion_mnist.py's fold 1):
# L2 LR 1.57 GB (5.0x), MLP 1.32 GB (4.2x). Blueprints not measured are taken like the LR.
FIT_MEMORY_FACTOR = {"majority": 0.0, "lr_l2": 5.0, "mlp": 4.2}
UNMEASURED_FACTOR = 5.0
WORKER_BYTES = 500e6  # a fit worker's interpreter and libraries (scikit-learn, torch)
GB = 1e9


def fit_bytes(blueprint: str, train_rows: int, columns: int) -> float:
    """Estimated peak bytes of one fit of ``blueprint`` on ``train_rows`` x ``columns`` float32 rows."""
    return FIT_MEMORY_FACTOR.get(blueprint, UNMEASURED_FACTOR) * train_rows * columns * 4


def parallel_fits(jobs: int, limit_gb: float | None, largest_fit_bytes: float, shared_bytes: float) -> int:
    """How many fits may run at once: ``jobs``, lowered to stay within ``limit_gb`` (None: no limit)."""
    if limit_gb is None:
        return jobs
    room = limit_gb * GB - resident_bytes() - shared_bytes
    return max(1, min(jobs, int(room // (largest_fit_bytes + WORKER_BYTES))))


def resident_bytes() -> float:
    """This process's resident memory now (Linux: /proc/self/statm); elsewhere its peak so far."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # macOS reports bytes, Linux kB
