"""Decode any supported image file into an 8-bit RGB PIL image, or say exactly why not.

Handles JPEG, PNG, BMP, TIFF and WebP in every mode users meet in practice: grayscale, palette,
RGBA/LA (composited on white, like a page on paper), 16-bit and float, CMYK; EXIF orientation
is applied so a phone photo is upright. Images above ``max_pixels`` (decompression bombs) are
refused from their header, before any pixel is decoded; very large ones are shrunk as they load.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageFile

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")  # a GIF: its first frame
# 250 MP: a 10,500 x 16,000 px scan (A0 at 600 dpi) fits; a decompression bomb's gigapixels do not.
DEFAULT_MAX_PIXELS = 250_000_000
# Above this, an image with a known target size is shrunk right after decoding (see ``_shrink``).
LARGE_IMAGE_PIXELS = 4096 * 4096

# A truncated file must fail loudly, not come back as a half-grey image.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# ``--max-pixels`` (checked in ``load_rgb`` from the header, before decoding) is the one limit:
# Pillow's own (89 MP) would refuse real large scans first, with a message naming no option.
Image.MAX_IMAGE_PIXELS = None

# Modes whose pixels can be box-averaged as they are (palette indices and 1-bit cannot; Pillow's
# reduce() also has no 16-bit kernel).
_REDUCIBLE_MODES = {"L", "LA", "La", "RGB", "RGBA", "RGBa", "I", "F", "CMYK", "YCbCr"}


class ImageDecodeError(Exception):
    """A file that cannot be used as an image; ``str()`` is a short reason for the error line."""


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def load_rgb(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS,
             draft_size: tuple[int, int] | None = None, data: bytes | None = None) -> Image.Image:
    """Open ``path`` (or decode ``data``, the bytes already read from it) and return a fully decoded RGB image.

    ``draft_size`` (the size the caller will resize to) lets libjpeg decode a large JPEG at a
    reduced scale (never below that size), which is several times faster for big scans that are
    shrunk to 224 px anyway; other very large images are box-reduced right after decoding.
    """
    try:
        with Image.open(io.BytesIO(data) if data is not None else path) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise ImageDecodeError(
                    f"oversized image {width}x{height} ({width * height:,} pixels > --max-pixels {max_pixels:,}); "
                    "raise --max-pixels if it is genuine")
            if draft_size is not None and img.format == "JPEG":
                img.draft("RGB", draft_size)
            img.load()
            orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
            if draft_size is not None and img.width * img.height > LARGE_IMAGE_PIXELS:
                img = _shrink(img, draft_size)
            return to_rgb(_transpose(img, orientation))
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:  # only if someone re-enabled Pillow's limit
        raise ImageDecodeError(f"oversized image: {exc} (see --max-pixels)") from None
    except FileNotFoundError:
        raise ImageDecodeError("file not found") from None
    except MemoryError:
        raise ImageDecodeError("not enough memory to decode it (lower --max-pixels or --workers)") from None
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, ValueError...) for bad data
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "cannot identify image file" in reason:
            empty = len(data) == 0 if data is not None else _is_empty(path)
            reason = "empty file (0 bytes)" if empty else "not an image file"
        raise ImageDecodeError(reason) from None


def _shrink(img: Image.Image, target: tuple[int, int]) -> Image.Image:
    """Box-reduce a very large decoded image by an integer factor, so no full-size RGB copy is made.

    The result keeps both sides at least twice the larger target side (the later resize still
    antialiases, and a 90-degree EXIF turn cannot make a side too short).
    """
    factor = min(img.width, img.height) // (2 * max(target))
    if factor < 2:
        return img
    if img.mode not in _REDUCIBLE_MODES:
        img = img.convert("L") if img.mode == "1" else to_rgb(img)
    return img.reduce(factor)


_EXIF_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                   4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                   6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


def _transpose(img: Image.Image, orientation: int) -> Image.Image:
    """Apply EXIF ``orientation`` (read before ``_shrink``, whose copy may not carry the EXIF block)."""
    method = _EXIF_TRANSPOSE.get(orientation)
    return img.transpose(method) if method is not None else img


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
