"""Decode any supported image file into an 8-bit RGB PIL image, or say exactly why not.

Handles JPEG, PNG, BMP, TIFF and WebP in every mode users meet in practice: grayscale, palette,
RGBA/LA (composited on white, like a page on paper), 16-bit and float, CMYK; EXIF orientation
is applied so a phone photo is upright. Oversized images (decompression bombs) are refused.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_MAX_PIXELS = 100_000_000  # ~10k x 10k: far above any scan, far below a bomb's gigapixels

# A truncated file must fail loudly, not come back as a half-grey image.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageDecodeError(Exception):
    """A file that cannot be used as an image; ``str()`` is a short reason for the error line."""


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def load_rgb(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS,
             draft_size: tuple[int, int] | None = None) -> Image.Image:
    """Open ``path`` and return a fully decoded RGB image.

    ``draft_size`` lets libjpeg decode a large JPEG at a reduced scale (never below that size),
    which is several times faster for big scans that are shrunk to 224 px anyway.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise ImageDecodeError(
                        f"oversized image {width}x{height} ({width * height:,} pixels > limit {max_pixels:,})")
                if draft_size is not None and img.format == "JPEG":
                    img.draft("RGB", draft_size)
                img.load()
                return to_rgb(ImageOps.exif_transpose(img))
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(f"oversized image (decompression bomb): {exc}") from None
    except FileNotFoundError:
        raise ImageDecodeError("file not found") from None
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, ValueError...) for bad data
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "cannot identify image file" in reason:
            reason = "empty file (0 bytes)" if _is_empty(path) else "not an image file"
        raise ImageDecodeError(reason) from None


def _is_empty(path: str | Path) -> bool:
    try:
        return Path(path).stat().st_size == 0
    except OSError:
        return False


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB; transparency is composited on white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _high_depth_to_rgb(img)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def _high_depth_to_rgb(img: Image.Image) -> Image.Image:
    """16-bit / 32-bit / float images: scale the type's range (or the data's, for floats) to 0..255."""
    array = np.asarray(img, dtype=np.float64)
    if img.mode == "F":
        low, high = float(np.nanmin(array)), float(np.nanmax(array))
        scale = 255.0 / (high - low) if high > low else 0.0
        array = (array - low) * scale
    else:
        peak = 65535.0 if array.max(initial=0) <= 65535 else float(array.max())
        array = array * (255.0 / peak)
    gray = np.clip(np.rint(array), 0, 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")
