"""Dataset readers (folder-per-class, competition CSV, unlabelled) and image decoding."""

from pixelboard.datasets.images import IMAGE_EXTENSIONS, ImageDecodeError, load_rgb
from pixelboard.datasets.sources import ImageSet, read_image_set

__all__ = ["IMAGE_EXTENSIONS", "ImageDecodeError", "ImageSet", "load_rgb", "read_image_set"]
