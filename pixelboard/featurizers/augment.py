"""Image transforms for train-time augmentation and test-time augmentation (TTA).

Each transform is ``fn(image, rng) -> image`` in a registry. Geometric ones (90-degree rotations,
flips) are exact and give one copy; the others draw their strength from ``rng``, so
``--augment-copies N`` gives N different copies, and the same seed always gives the same copies.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from pixelboard.errors import PixelboardError

WHITE = (255, 255, 255)


@dataclass(frozen=True)
class Transform:
    name: str
    fn: Callable[[Image.Image, np.random.Generator], Image.Image]
    random: bool  # draws from rng: several copies differ


def _rotate_small(img, rng):
    return img.rotate(float(rng.uniform(-10, 10)), resample=Image.Resampling.BICUBIC, expand=True, fillcolor=WHITE)


def _blur(img, rng):
    return img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.5, 1.5)) * max(img.size) / 500))


def _noise(img, rng):
    array = np.asarray(img, dtype=np.float32)
    array = array + rng.normal(0.0, rng.uniform(5, 20), size=array.shape)
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def _jpeg(img, rng):
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=int(rng.integers(15, 60)))
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def _brightness_contrast(img, rng):
    img = ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.7, 1.3)))
    return ImageEnhance.Contrast(img).enhance(float(rng.uniform(0.7, 1.3)))


TRANSFORMS: dict[str, Transform] = {t.name: t for t in (
    Transform("rot90", lambda img, rng: img.transpose(Image.Transpose.ROTATE_90), False),
    Transform("rot180", lambda img, rng: img.transpose(Image.Transpose.ROTATE_180), False),
    Transform("rot270", lambda img, rng: img.transpose(Image.Transpose.ROTATE_270), False),
    Transform("hflip", lambda img, rng: img.transpose(Image.Transpose.FLIP_LEFT_RIGHT), False),
    Transform("vflip", lambda img, rng: img.transpose(Image.Transpose.FLIP_TOP_BOTTOM), False),
    # The two diagonal mirrors complete the 8 orientations of a page (rotations x flips).
    Transform("transpose", lambda img, rng: img.transpose(Image.Transpose.TRANSPOSE), False),
    Transform("transverse", lambda img, rng: img.transpose(Image.Transpose.TRANSVERSE), False),
    Transform("rotate", _rotate_small, True),
    Transform("blur", _blur, True),
    Transform("noise", _noise, True),
    Transform("jpeg", _jpeg, True),
    Transform("brightness", _brightness_contrast, True),
)}
ALIASES = {"flip": "hflip", "rot": "rotate", "contrast": "brightness"}
DIHEDRAL = ("rot90", "rot180", "rot270", "hflip", "vflip", "transpose", "transverse")  # every page orientation


def parse_transforms(spec: str | None) -> list[str]:
    """``"rot90,flip"`` -> ``["rot90", "hflip"]``; unknown names are a one-line error."""
    if not spec:
        return []
    names = []
    for name in (n.strip() for n in spec.split(",") if n.strip()):
        names.extend(DIHEDRAL if name == "dihedral" else [ALIASES.get(name, name)])
    unknown = [n for n in names if n not in TRANSFORMS]
    if unknown:
        raise PixelboardError(f"unknown transform(s) {', '.join(unknown)}; choose from "
                              f"{', '.join(list(TRANSFORMS) + list(ALIASES))} or dihedral (all 7 rotations/flips)")
    return list(dict.fromkeys(names))


def augmentation_tags(names: list[str], copies: int) -> list[str]:
    """The tags of every augmented copy: ``rot90`` once, ``blur#0..N-1`` for random transforms."""
    if copies < 1:
        raise PixelboardError(f"--augment-copies must be at least 1, got {copies}")
    tags = []
    for name in names:
        tags.extend([f"{name}#{i}" for i in range(copies)] if TRANSFORMS[name].random else [name])
    return tags


def apply_tag(img: Image.Image, tag: str, seed: int = 0, image_key: str = "") -> Image.Image:
    """Apply the transform named by ``tag`` with a generator seeded by (seed, tag, image content).

    Seeding by the image's content key makes every image draw its own angle, noise and quality
    (seeding by size alone made random augmentation one fixed transform on a fixed-size data set),
    while the same image, tag and seed always give the same copy.
    """
    if not tag:
        return img
    name = tag.split("#", 1)[0]
    rng = np.random.default_rng([seed, _hash64(tag), _hash64(image_key)])
    return TRANSFORMS[name].fn(img, rng)


def _hash64(text: str) -> int:
    # The whole string hashed: a prefix alone ("nois") would give every copy the same draw.
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
