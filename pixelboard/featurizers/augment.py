"""Image transforms for train-time augmentation, test-time augmentation (TTA) and views.

Each transform is ``fn(image, rng) -> image`` in a registry. Geometric ones (90-degree rotations,
flips) are exact PIL transposes and give one copy; the others draw from ``rng`` (seeded per image),
so ``--augment-copies N`` gives N different copies, and the same seed always gives the same copies.
``damage+ink`` composes transforms into one (applied in turn, one draw per copy), as a shifted test
set stacks its damage. A tag ``copy>view`` is a view of an augmented copy: the copy exactly as it
is drawn alone, then the view (how invariant variants pool the views of every copy).
The random ones come from Albumentations (blur, noise, JPEG, brightness/contrast, perspective,
shadows, ``damage``: several at once) and Augraphy (ink bleed, low ink, drum dirt, bad photocopy),
the libraries the document-classification teams used; none is hand-written.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from pixelboard.errors import PixelboardError



@dataclass(frozen=True)
class Transform:
    name: str
    fn: Callable[[Image.Image, np.random.Generator], Image.Image]
    random: bool  # draws from rng: several copies differ
    # Part of the cache identity of its copies: changed when a fix changes the pixels a seed gives, so
    # rows cached before the fix are not reused ("n": numba's generator seeded too, see _augraphy).
    revision: str = ""


def _a():
    import albumentations  # imported on first use: listing and predicting without augmentation stay light

    return albumentations


def _keeping_torch_threads(fn: Callable) -> Callable:
    """Run ``fn`` and restore torch's thread count: importing and running OpenCV-based augmentations
    changed it (measured: set to 1, back at 2 after Augraphy), and a fit's or an embedding's numbers
    depend on its thread count."""
    def wrapped(img, rng):
        import torch

        threads = torch.get_num_threads()
        try:
            return fn(img, rng)
        finally:
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
    return wrapped


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _albumentations(build: Callable[[Image.Image], object]) -> Callable:
    """``fn(image, rng)`` running the Albumentations transform ``build(image)`` with a seed drawn from rng.

    A fresh Compose per call with its own seed: the draw depends only on (seed, tag, image), never on
    how many images a worker processed before.
    """
    @_keeping_torch_threads
    def fn(img, rng):
        import albumentations as A

        built = build(img)  # one transform, or a list applied in turn (a nested Compose would not get the seed)
        transform = A.Compose(built if isinstance(built, list) else [built], seed=_seed(rng))
        return Image.fromarray(transform(image=np.asarray(img))["image"])
    return fn


def _augraphy(name: str) -> Callable:
    """``fn(image, rng)`` running Augraphy's ``name`` (document ink and paper effects, which
    Albumentations lacks). Augraphy draws from Python's and NumPy's global generators and takes no
    seed, so both are seeded from rng right before the call; decoding workers are their own processes.
    Its numba-compiled noise (``BadPhotoCopy``'s Worley noise) draws from numba's own generator,
    which only a compiled call can seed: left unseeded, 9 of 55 photocopied pages differed between
    two runs."""
    @_keeping_torch_threads
    def fn(img, rng):
        import random

        import augraphy

        seed = _seed(rng)
        random.seed(seed)
        np.random.seed(seed)
        _seed_numba()(seed)
        out = getattr(augraphy, name)(p=1)(np.ascontiguousarray(np.asarray(img)))
        return Image.fromarray(np.asarray(out, dtype=np.uint8)).convert("RGB")
    return fn


@functools.cache
def _seed_numba() -> Callable[[int], None]:
    """A compiled function seeding numba's generators in the calling thread (numba's own state,
    which ``random.seed`` and ``np.random.seed`` from Python leave alone); compiled on first use."""
    import random

    import numba

    @numba.njit
    def seed_numba(seed):
        random.seed(seed)
        np.random.seed(seed)
    return seed_numba


def _scaled_sigma(img: Image.Image) -> tuple[float, float]:
    """Blur that looks alike at any resolution: the images are shrunk to ~224 px after augmentation."""
    scale = max(1.0, max(img.size) / 224)
    return 0.5 * scale, 1.5 * scale


def _blur(img):
    import albumentations as A

    low, high = _scaled_sigma(img)
    return A.GaussianBlur(blur_limit=0, sigma_limit=(low, high), p=1)


def _rotate_small(img):
    import albumentations as A
    import cv2

    return A.Rotate(limit=10, border_mode=cv2.BORDER_CONSTANT, fill=255, p=1)


# Albumentations 2.0's Perspective fills only the first channel with a scalar fill (255 drew red
# borders on RGB images); a 3-tuple fills white on RGB and on grayscale images alike.
WHITE = (255, 255, 255)


def _damage(img):
    """The damage a scanned or photographed test image shows: two of these effects, drawn per image."""
    import albumentations as A
    import cv2

    low, high = _scaled_sigma(img)
    return A.SomeOf([
        A.GaussianBlur(blur_limit=0, sigma_limit=(low, high), p=1),
        A.GaussNoise(std_range=(0.02, 0.08), p=1),
        A.RandomBrightnessContrast(brightness_limit=0.3, contrast_limit=0.3, p=1),
        A.Perspective(scale=(0.02, 0.06), fit_output=True, border_mode=cv2.BORDER_CONSTANT, fill=WHITE, p=1),
        A.RandomShadow(p=1),
        A.ImageCompression(quality_range=(20, 60), p=1),
    ], n=2, p=1)


TRANSFORMS: dict[str, Transform] = {t.name: t for t in (
    Transform("rot90", lambda img, rng: img.transpose(Image.Transpose.ROTATE_90), False),
    Transform("rot180", lambda img, rng: img.transpose(Image.Transpose.ROTATE_180), False),
    Transform("rot270", lambda img, rng: img.transpose(Image.Transpose.ROTATE_270), False),
    Transform("hflip", lambda img, rng: img.transpose(Image.Transpose.FLIP_LEFT_RIGHT), False),
    Transform("vflip", lambda img, rng: img.transpose(Image.Transpose.FLIP_TOP_BOTTOM), False),
    # The two diagonal mirrors complete the 8 orientations of a page (rotations x flips).
    Transform("transpose", lambda img, rng: img.transpose(Image.Transpose.TRANSPOSE), False),
    Transform("transverse", lambda img, rng: img.transpose(Image.Transpose.TRANSVERSE), False),
    # Random transforms: Albumentations, and Augraphy for ink and paper effects of documents.
    Transform("rotate", _albumentations(_rotate_small), True),
    Transform("blur", _albumentations(_blur), True),
    Transform("noise", _albumentations(lambda img: _a().GaussNoise(std_range=(0.02, 0.08), p=1)), True),
    Transform("jpeg", _albumentations(lambda img: _a().ImageCompression(quality_range=(15, 60), p=1)), True),
    Transform("brightness", _albumentations(lambda img: _a().RandomBrightnessContrast(0.3, 0.3, p=1)), True),
    Transform("perspective", _albumentations(lambda img: _a().Perspective(scale=(0.02, 0.06), fit_output=True,
                                                                          fill=WHITE, p=1)), True),
    Transform("shadow", _albumentations(lambda img: _a().RandomShadow(p=1)), True),
    Transform("damage", _albumentations(_damage), True),
    Transform("ink", _augraphy("InkBleed"), True),
    Transform("lowink", _augraphy("LowInkRandomLines"), True),
    Transform("dirt", _augraphy("DirtyDrum"), True),
    Transform("photocopy", _augraphy("BadPhotoCopy"), True, revision="n"),
)}
ALIASES = {"flip": "hflip", "rot": "rotate", "contrast": "brightness"}
DIHEDRAL = ("rot90", "rot180", "rot270", "hflip", "vflip", "transpose", "transverse")  # every page orientation


def get_transform(name: str) -> Transform:
    """The transform called ``name``; ``a+b`` composes registered transforms, applied in turn."""
    parts = [TRANSFORMS[part] for part in name.split("+")]
    if len(parts) == 1:
        return parts[0]

    def composed(img, rng):
        for part in parts:
            img = part.fn(img, rng)
        return img
    return Transform(name, composed, any(part.random for part in parts))


def parse_transforms(spec: str | None) -> list[str]:
    """``"rot90,flip,damage+ink"`` -> ``["rot90", "hflip", "damage+ink"]``; unknown names are a one-line error."""
    if not spec:
        return []
    names = []
    for name in (n.strip() for n in spec.split(",") if n.strip()):
        parts = [part.strip() for part in name.split("+")]
        if not all(parts):
            raise PixelboardError(f"empty transform name in {name!r}: join names with one + (damage+ink)")
        names.extend(DIHEDRAL if name == "dihedral" else ["+".join(ALIASES.get(part, part) for part in parts)])
    unknown = [part for n in names for part in n.split("+") if part not in TRANSFORMS]
    if unknown:
        raise PixelboardError(f"unknown transform(s) {', '.join(unknown)}; choose from "
                              f"{', '.join(list(TRANSFORMS) + list(ALIASES))} or dihedral (all 7 rotations/flips); "
                              "join names with + to stack them in one copy (damage+ink)")
    return list(dict.fromkeys(names))


def augmentation_tags(names: list[str], copies: int) -> list[str]:
    """The tags of every augmented copy: ``rot90`` once, ``blur#0..N-1`` for random transforms."""
    if copies < 1:
        raise PixelboardError(f"--augment-copies must be at least 1, got {copies}")
    tags = []
    for name in names:
        tags.extend([f"{name}#{i}" for i in range(copies)] if get_transform(name).random else [name])
    return tags


def apply_tag(img: Image.Image, tag: str, seed: int = 0, image_key: str = "") -> Image.Image:
    """Apply the transform named by ``tag`` with a generator seeded by (seed, tag, image content).

    Seeding by the image's content key makes every image draw its own angle, noise and quality
    (seeding by size alone made random augmentation one fixed transform on a fixed-size data set),
    while the same image, tag and seed always give the same copy. ``copy>view`` applies each part in
    turn, each seeded by its own tag: the copy is drawn exactly as the copy alone.
    """
    for part in tag.split(">") if tag else []:
        rng = np.random.default_rng([seed, _hash64(part), _hash64(image_key)])
        img = get_transform(part.split("#", 1)[0]).fn(img, rng)
    return img


def _transform_names(tag: str) -> list[str]:
    """The registered transforms a tag applies: ``damage+ink#0>rot90`` -> damage, ink, rot90."""
    return [name for part in tag.split(">") for name in part.split("#", 1)[0].split("+")]


def revisions(tag: str) -> str:
    """The revisions of the transforms in ``tag`` (``/n``), for its cache identity; "" for most."""
    return "".join(f"/{r}" for r in sorted({TRANSFORMS[name].revision for name in _transform_names(tag)} - {""}))


def is_random(tag: str) -> bool:
    """Whether any transform in ``tag`` draws from its generator (then the seed is part of its identity)."""
    return any(TRANSFORMS[name].random for name in _transform_names(tag))


def _hash64(text: str) -> int:
    # The whole string hashed: a prefix alone ("nois") would give every copy the same draw.
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
