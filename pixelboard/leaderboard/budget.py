"""``--time-budget``: estimate each fit's duration and start only the fits that can finish in time.

A fit's duration is estimated from finished fits (this run's, and the reused rows'), scaled by rows:
of the same blueprint on the same featurizer first (a screening fit predicts its full-size fold), then
of the same blueprint on another featurizer (scaled by columns too), else a conservative prior per
blueprint. A row is admitted only when all of its folds, placed on the stage's workers (``jobs``, or
fewer under ``--max-memory``) behind the work already admitted, are expected to end before the
deadline; the closing steps (blends, tables) keep a reserve. Nothing running is ever stopped: the
budget holds as well as the estimates do, which is why they err long (``SAFETY``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

SAFETY = 1.25  # estimates err long: a fit that overruns its estimate is the only way past the deadline
TASK_OVERHEAD = 0.05  # seconds per fit outside fit + predict: scheduling, results, saving
# Fit seconds per (training row x column) on one thread when nothing was measured yet: 3x what the
# 2,000-image Fashion-MNIST benchmarks measured (1,280 rows x 1,752 efficientnet_lite0 columns per fold;
# benchmarks/results/boosters.json, leaderboard.json), since a busy machine stretches every fit.
# Unknown blueprints (fine-tuned CNNs) get the largest.
PRIOR_SECONDS_PER_CELL = {"majority": 1e-9, "lr_l2": 6e-6, "mlp": 6e-6, "lightgbm": 1.2e-5, "xgboost": 2.2e-5,
                          "catboost": 3e-5}
UNKNOWN_PRIOR = 1e-4
MIN_PRIOR = 0.05  # seconds: the least an unmeasured fit is assumed to take
ROW_EXPONENT = 1.1  # fits grow a little faster than their rows (more boosting rounds, more LR iterations)
# Blend seconds per (CV row x member x class), measured with the GLM blender's C search + nested CV
# (the slowest blender); the average and greedy ones cost a fraction of it.
BLEND_SECONDS_PER_CELL = {"avg": 1e-7, "greedy": 2e-6, "glm": 2e-5}


@dataclass(frozen=True)
class Measured:
    blueprint: str
    featurizer: str
    train_rows: int
    columns: int
    seconds: float  # fit + predict of one fold


@dataclass
class FitEstimator:
    """Seconds one fold fit will take, from what was measured so far."""

    measured: list[Measured] = field(default_factory=list)

    def observe(self, blueprint: str, featurizer: str, train_rows: int, columns: int, seconds: float) -> None:
        self.measured.append(Measured(blueprint, featurizer, int(train_rows), int(columns), float(seconds)))

    def seconds(self, blueprint: str, featurizer: str, train_rows: int, columns: int) -> float:
        same = [m for m in self.measured if m.blueprint == blueprint and m.featurizer == featurizer]
        other = [m for m in self.measured if m.blueprint == blueprint and m.featurizer != featurizer]
        if same or other:
            # The largest measured fit is the nearest to a full-size one and the least noisy.
            m = max(same or other, key=lambda m: (m.train_rows * m.columns, m.seconds))
            estimate = m.seconds * (train_rows / max(m.train_rows, 1)) ** ROW_EXPONENT
            if not same:
                estimate *= columns / max(m.columns, 1)
        else:
            estimate = max(MIN_PRIOR, prior_cost(blueprint, train_rows, columns))
        return SAFETY * estimate + TASK_OVERHEAD


def prior_cost(blueprint: str, rows: int, columns: int) -> float:
    """A fit's cost from the priors alone: a static estimate, the same on every machine and run."""
    return PRIOR_SECONDS_PER_CELL.get(blueprint, UNKNOWN_PRIOR) * rows * columns


def blend_seconds(blender: str, cv_rows: int, members: int, n_classes: int) -> float:
    return SAFETY * BLEND_SECONDS_PER_CELL.get(blender, 2e-5) * cv_rows * members * n_classes + TASK_OVERHEAD


class TimeBudget:
    """The deadline of one leaderboard run and the admission of fits against it (``seconds=None``: none).

    ``admit`` places a row's fold estimates on the workers' expected free times (list scheduling, as
    the process pool runs them) and commits them only if the last one ends before the deadline less
    the reserve. It is called from the thread that feeds the pool, hence the lock.
    """

    def __init__(self, seconds: float | None, jobs: int, started: float | None = None):
        self.seconds = seconds
        self.started = time.perf_counter() if started is None else started
        self.reserve = 0.0
        self._free_at = [self.started] * max(1, jobs)
        self._lock = threading.Lock()
        self.stopped = False  # a fit or a closing step was skipped for the budget

    @property
    def limited(self) -> bool:
        return self.seconds is not None

    def left(self) -> float:
        if self.seconds is None:
            return float("inf")
        return self.started + self.seconds - time.perf_counter()

    def admit(self, estimates: list[float]) -> bool:
        if self.seconds is None:
            return True
        with self._lock:
            now = time.perf_counter()
            free = sorted(max(t, now) for t in self._free_at)
            for estimate in estimates:
                free[0] += estimate
                free.sort()
            if max(free) > self.started + self.seconds - self.reserve:
                self.stopped = True
                return False
            self._free_at = free
            return True

    def use_workers(self, workers: int) -> None:
        """Plan the next fits on ``workers`` (a stage that ``--max-memory`` runs on fewer than ``--jobs``):
        the busiest of the current workers are kept, so fits already planned still count."""
        with self._lock:
            free = sorted(self._free_at)
            workers = max(1, workers)
            self._free_at = free[-workers:] + [free[0]] * max(0, workers - len(free))

    def allows(self, estimate: float) -> bool:
        """For the closing steps, run in this process: does ``estimate`` fit in what is left?"""
        ok = estimate <= self.left()
        self.stopped |= not ok
        return ok
