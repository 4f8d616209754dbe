"""pixelboard: DataRobot-style AutoML for images.

Pretrained CNNs turn every image into multi-level pooled embeddings once; a leaderboard of cheap
blueprints is then fitted on those cached embeddings, ranked, blended and used to predict.
"""

from pixelboard.errors import PixelboardError

__version__ = "0.1.0"
__all__ = ["PixelboardError", "__version__"]
