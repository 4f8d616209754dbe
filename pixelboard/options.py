"""The defaults and argument checks the command line and the Python API share.

Copies of library constants, kept here so that neither ``import pixelboard`` nor ``pixelboard --help``
imports torch or pandas; tests/test_api.py pins each to its source.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

from pixelboard.errors import PixelboardError

DEFAULT_PROJECT = "pixelboard-project"  # pixelboard.project.DEFAULT_PROJECT
DEFAULT_BACKBONES = ("efficientnet_lite0", "grayscale20")
DEFAULT_BLENDERS = ("avg", "glm", "greedy")  # pixelboard.leaderboard.runner.LeaderboardOptions
RESIZE_MODES = ("squash", "pad", "crop")  # pixelboard.featurizers.base.RESIZE_MODES
DEFAULT_MAX_PIXELS = 250_000_000  # pixelboard.datasets.images.DEFAULT_MAX_PIXELS
TABLE_FORMATS = ("csv", "md", "html", "json")  # pixelboard.leaderboard.export.FORMATS
LEADERBOARD_MODES = ("quick", "autopilot", "comprehensive")  # pixelboard.leaderboard.autopilot.MODES
DEFAULT_MODE = "autopilot"  # pixelboard.leaderboard.runner.LeaderboardOptions
METRIC_NAMES = ("accuracy", "balanced_accuracy", "log_loss", "macro_f1", "roc_auc")  # leaderboard.metrics.METRICS
PROJECT_ENV = "PIXELBOARD_PROJECT"  # the project directory when --project is not given
# featurize --runtime / --precision: pixelboard.featurizers.runtimes.RUNTIMES, PRECISIONS. torch stays the
# default: onnx and openvino are an optional extra, and a default that changed with what is installed would
# change every cache's identity between machines (benchmarks/results/featurize.json has their speeds).
RUNTIMES = ("torch", "onnx", "openvino")
PRECISIONS = ("fp32", "bf16")
DEFAULT_RUNTIME = "torch"
DEFAULT_PRECISION = "fp32"
DEFAULT_PROBE = 200  # pixelboard.shift_probe.DEFAULT_PROBE: training images shift embeds under each hypothesis
BACKENDS = ("local", "ray")  # featurize and leaderboard --backend: featurizers/ray_backend.py,
# leaderboard/ray_fits.py (the `ray` extra)

MAX_SEED = 2**32 - 1  # numpy's and scikit-learn's random_state: 0 .. 2**32 - 1
MAX_AUGMENT_COPIES = 100  # copies per random transform: each is a row per image (100x the set already)

Names = Union[str, Sequence[str], None]  # ["a", "b"] or the command line's "a,b"


def split_list(value: str | Sequence[str] | None) -> list[str]:
    """``"a, b,,c"`` or ``["a", "b", "c"]`` -> ``["a", "b", "c"]``: the list options, in either form."""
    parts = value.split(",") if isinstance(value, str) else list(value or [])
    return [str(part).strip() for part in parts if str(part).strip()]


def at_least(value, minimum, name: str):
    """The command line's ``IntRange`` checks, for API callers (the command line checks first)."""
    if value is not None and value < minimum:
        raise PixelboardError(f"{name} must be at least {minimum}, got {value}")
    return value


def check_seed(seed, name: str = "seed") -> int:
    """A seed numpy and scikit-learn accept (the command line's ``IntRange(0, MAX_SEED)``)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise PixelboardError(f"{name} must be an integer from 0 to {MAX_SEED:,} (2**32 - 1), got {seed!r}")
    return seed


def one_of(value: str, choices: Sequence[str], name: str) -> str:
    if value not in choices:
        raise PixelboardError(f"unknown {name} {value!r}; choose from {', '.join(choices)}")
    return value


def resolve_jobs(jobs: int | None, local: bool = True) -> int:
    """``jobs``, else one fit per usable core; ``local`` processes never more than the cores (a thousand
    processes for ten fits only cost semaphores and start-up). ``joblib.cpu_count`` honours the
    container's CPU quota and the process's affinity, where ``os.cpu_count`` sees every core of the host."""
    from joblib import cpu_count

    cores = max(1, cpu_count())
    if jobs is not None:
        at_least(jobs, 1, "jobs")
        return min(jobs, cores) if local else jobs
    return cores
