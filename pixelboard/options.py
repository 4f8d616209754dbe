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
DEFAULT_PROBE = 200  # pixelboard.shift_probe.DEFAULT_PROBE: training images shift embeds under each hypothesis
BACKENDS = ("local", "ray")  # featurize and leaderboard --backend: featurizers/ray_backend.py,
# leaderboard/ray_fits.py (the `ray` extra)

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


def one_of(value: str, choices: Sequence[str], name: str) -> str:
    if value not in choices:
        raise PixelboardError(f"unknown {name} {value!r}; choose from {', '.join(choices)}")
    return value


def resolve_jobs(jobs: int | None) -> int:
    """``jobs``, else one fit per usable core: ``joblib.cpu_count`` honours the container's CPU quota
    and the process's affinity, where ``os.cpu_count`` sees every core of the host."""
    if jobs is not None:
        return at_least(jobs, 1, "jobs")
    from joblib import cpu_count

    return max(1, cpu_count())
