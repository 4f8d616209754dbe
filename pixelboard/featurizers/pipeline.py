"""Featurize one image set into the project: hash, look up the cache, compute only what is new.

The set's matrix (``embeddings/<set>/<featurizer>.npy`` + sidecar) is written only when every
row is available, so a run that stops on bad files or an interrupt leaves no half-written output,
while every finished batch stays in the cache for the next run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from pixelboard.datasets.images import DEFAULT_MAX_PIXELS
from pixelboard.datasets.sources import ImageSet
from pixelboard.errors import PixelboardError
from pixelboard.featurizers.augment import TRANSFORMS, augmentation_tags
from pixelboard.featurizers.base import Featurizer
from pixelboard.featurizers.cache import EmbeddingStore, image_key
from pixelboard.featurizers.extract import WorkItem, extract
from pixelboard.featurizers.views import pool_views, pooled_slices, variant_name
from pixelboard.project import Project
from pixelboard.versions import library_versions


@dataclass
class FeaturizeOptions:
    batch_size: int = 32
    workers: int | None = None  # None: extract.default_workers()
    augment: list[str] = field(default_factory=list)  # transform names (augment.parse_transforms)
    augment_copies: int = 1
    views: list[str] = field(default_factory=list)  # transform names embedded as views (views.py)
    pools: list[str] = field(default_factory=lambda: ["mean"])  # invariant variants written from the views
    seed: int = 0
    skip_bad_images: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    progress: bool = True


@dataclass(frozen=True)
class FeaturizeResult:
    name: str
    path: Path
    n_rows: int
    n_computed: int
    n_cached: int
    seconds: float
    skipped: list[dict]
    variants: list[str] = field(default_factory=list)  # invariant featurizers written from the views

    @property
    def summary(self) -> str:
        skipped = f", {len(self.skipped)} bad skipped" if self.skipped else ""
        speed = f" ({self.n_computed / self.seconds:.1f} images/s)" if self.n_computed and self.seconds > 0 else ""
        variants = f"; invariant: {', '.join(self.variants)}" if self.variants else ""
        return (f"{self.name}: {self.n_rows:,} rows ({self.n_computed:,} computed, {self.n_cached:,} from cache"
                f"{skipped}) in {self.seconds:.1f} s{speed} -> {self.path}{variants}")


def featurize_set(project: Project, image_set: ImageSet, featurizer: Featurizer,
                  options: FeaturizeOptions | None = None) -> FeaturizeResult:
    options = options or FeaturizeOptions()
    started = time.perf_counter()
    tags = augmentation_tags(options.augment, options.augment_copies) if options.augment else []
    view_tags = augmentation_tags(options.views, 1) if options.views else []
    paths = image_set.paths()
    content = [image_key(p) for p in _progress(paths, options, "hashing", unit="img")]
    # Views are rows like augmented copies (same cache keys) but kept apart: they train nothing themselves.
    rows = [(i, "") for i in range(len(paths))] + [(i, tag) for tag in tags + view_tags for i in range(len(paths))]
    keys = [content[i] + (f"|{_cache_tag(tag, options.seed)}" if tag else "") for i, tag in rows]

    store = EmbeddingStore(project.cache_dir(featurizer.fingerprint()), featurizer.n_features, featurizer.describe())
    todo = store.missing(keys)
    first_row = {key: r for r, key in reversed(list(enumerate(keys)))}
    sources = [rows[first_row[k]] for k in todo]  # (image, tag) of each key to compute
    items = [WorkItem(paths[image], tag, content[image]) for image, tag in sources]

    with _progress_bar(len(items), options, f"{featurizer.entry_name()} [{featurizer.device.type}]") as bar:
        bad = extract(featurizer, items, batch_size=options.batch_size, workers=options.workers,
                      max_pixels=options.max_pixels, seed=options.seed, progress=bar,
                      on_batch=lambda idx, emb: store.add([todo[i] for i in idx], emb))
    store.compact()
    # Identical files share one key and are decoded once: map failures back to every file with that content.
    reasons = {todo[i].split("|", 1)[0]: reason for i, reason in bad.items()}
    bad_sources = {i for i, key in enumerate(content) if key in reasons}
    bad_files = sorted((image_set.files[i], reasons[content[i]]) for i in bad_sources)
    if bad_files and not options.skip_bad_images:
        listed = "; ".join(f"{f} ({reason})" for f, reason in bad_files)
        raise PixelboardError(f"{len(bad_files)} unreadable image(s): {listed}. Fix or remove them, or rerun with "
                              "--skip-bad-images (finished images are cached)")

    n_plain = len(paths) * (1 + len(tags))
    kept = [r for r, (i, _) in enumerate(rows[:n_plain]) if i not in bad_sources]
    matrix = store.get([keys[r] for r in kept]) if kept else np.zeros((0, featurizer.n_features), np.float32)
    seconds = time.perf_counter() - started
    sidecar = _sidecar(image_set, featurizer, rows, kept, bad_files, options, seconds, len(items), content)
    path = project.save_embeddings(image_set.name, featurizer.entry_name(), matrix, sidecar)
    variants = []
    if view_tags:
        originals = [i for i in range(len(paths)) if i not in bad_sources]
        views = np.stack([store.get([keys[i] for i in originals])] +
                         [store.get([content[i] + f"|{_cache_tag(tag, options.seed)}" for i in originals])
                          for tag in view_tags])
        variants = save_views(project, image_set.name, sidecar, options.views, views, options.pools)
    skipped = [{"file": f, "reason": r} for f, r in bad_files]
    computed_now = set(todo)
    n_cached = sum(keys[r] not in computed_now for r in kept)
    return FeaturizeResult(featurizer.entry_name(), path, len(kept), len(items) - len(bad), n_cached, seconds, skipped,
                           variants)


def save_views(project: Project, set_name: str, sidecar: dict, view_names: list[str], views: np.ndarray,
               pools: list[str]) -> list[str]:
    """Write the set's view rows (identity first) and one invariant variant per pooling; return their names.

    ``views`` is ``(1 + len(view_names), images, d)``, images in the order of the sidecar's originals.
    """
    originals = [r for r, tag in enumerate(sidecar["rows"]["augmentations"]) if not tag]
    rows = {key: [values[r] for r in originals] for key, values in sidecar["rows"].items()}
    views_sidecar = {**sidecar, "views": view_names, "rows": rows}
    project.save_view_embeddings(set_name, sidecar["featurizer"], views.reshape(-1, views.shape[-1]), views_sidecar)
    names = []
    for pool in pools:
        name = variant_name(sidecar["featurizer"], view_names, pool)
        pooled = pool_views(views, pool)
        project.save_embeddings(set_name, name, pooled, {
            **sidecar, "featurizer": name, "views": view_names, "pool": pool, "n_features": int(pooled.shape[1]),
            "level_slices": pooled_slices(sidecar["level_slices"], int(views.shape[-1]), pool),
            "augment": None, "rows": {**rows, "augmentations": [""] * len(originals)}})
        names.append(name)
    return names


def _cache_tag(tag: str, seed: int) -> str:
    """Random transforms depend on the seed, so it is part of their cache identity; ``/img2`` marks
    draws seeded per image from the library-backed transforms (rows cached by earlier implementations
    are not reused)."""
    return f"{tag}@{seed}/img2" if TRANSFORMS[tag.split("#")[0]].random else tag


def _sidecar(image_set, featurizer, rows, kept, bad_files, options, seconds, n_computed, content) -> dict:
    ids = image_set.ids
    return {
        "set": image_set.name,
        "featurizer": featurizer.entry_name(),
        "backbone": featurizer.name,
        "create_options": featurizer.create_options,
        "fingerprint": featurizer.fingerprint(),
        "description": featurizer.describe(),
        "levels": list(featurizer.levels),
        "level_slices": featurizer.level_slices(),
        "n_features": featurizer.n_features,
        "augment": {"transforms": options.augment, "copies": options.augment_copies, "seed": options.seed},
        "rows": {
            "ids": [ids[rows[r][0]] + (f"#{rows[r][1]}" if rows[r][1] else "") for r in kept],
            "sources": [ids[rows[r][0]] for r in kept],
            "augmentations": [rows[r][1] for r in kept],
            "content": [content[rows[r][0]] for r in kept],  # file hash of each row's source image
        },
        "skipped": [{"file": f, "reason": reason} for f, reason in bad_files],
        "versions": library_versions(("pixelboard", "torch", "timm", "numpy", "pillow")),
        "timings": {"seconds": round(seconds, 3), "images_computed": n_computed,
                    "images_per_second": round(n_computed / seconds, 2) if seconds > 0 else None},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _progress(iterable, options: FeaturizeOptions, desc: str, unit: str):
    return tqdm(iterable, desc=desc, unit=unit, disable=not options.progress or len(iterable) < 500, leave=False)


def _progress_bar(total: int, options: FeaturizeOptions, desc: str):
    return tqdm(total=total, desc=desc, unit="img", disable=not options.progress or total == 0, dynamic_ncols=True)
