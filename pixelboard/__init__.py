"""pixelboard: DataRobot-style AutoML for images.

Pretrained CNNs turn every image into multi-level pooled embeddings once; a leaderboard of cheap
blueprints is then fitted on those cached embeddings, ranked, blended and used to predict.

Public API (see the README's "Python API"):

- :class:`Project`: the workflow on a project directory (``featurize``, ``leaderboard``, ``deploy``,
  ``predict``, ``export_model``, ``shift``, ``report``, ``document``), with the command line's
  defaults;
- :class:`Leaderboard`: a ranked run (``frame``, ``rows``, ``best``, ``directory``);
- :class:`ImageEmbedder`: a scikit-learn transformer, image paths or PIL images -> embeddings;
- :class:`PixelboardError`: every user error, with a one-line message.

``import pixelboard`` stays light (no torch, no scikit-learn): ``ImageEmbedder`` is imported on
first use.
"""

from pixelboard.api import Leaderboard, Project
from pixelboard.errors import PixelboardError

__version__ = "0.1.0"
__all__ = ["ImageEmbedder", "Leaderboard", "PixelboardError", "Project", "__version__"]

_LAZY = {"ImageEmbedder": "pixelboard.embedder"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'pixelboard' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
