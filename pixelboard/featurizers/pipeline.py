"""Featurize one image set into the project: look up the cache, compute only what is new.

A file's content key comes from the project's stat index when its size and mtime are unchanged,
else from its bytes, read once in the decode workers for both hashing and decoding. Finished
batches are committed to the cache every few seconds; the set's matrix is written through a memory
map from the cache, never built in RAM.

The set's matrix (``embeddings/<set>/<featurizer>.npy`` + sidecar) is written only when every
row is available, so a run that stops on bad files or an interrupt leaves no half-written output,
while every finished batch stays in the cache for the next run.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from pixelboard.datasets.images import DEFAULT_MAX_PIXELS
from pixelboard.datasets.sources import ImageSet
from pixelboard.errors import PixelboardError
from pixelboard.featurizers.augment import augmentation_tags, is_random, revisions
from pixelboard.featurizers.base import Featurizer
from pixelboard import atomic
from pixelboard.featurizers.cache import EmbeddingStore
from pixelboard.featurizers.extract import WorkItem, extract
from pixelboard.featurizers.file_index import FileIndex, file_stat
from pixelboard.featurizers.views import is_group, pool_views, pooled_slices, pooled_width, variant_name
from pixelboard.project import Project
from pixelboard.versions import library_versions


_CHUNK_ROWS = 4096  # rows copied from the cache into the set's memory-mapped matrix at a time


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
    # Finished batches are committed to the cache together at most this often (a kill -9 loses at
    # most this much work); 0 commits every batch.
    commit_seconds: float = field(default_factory=lambda: float(os.environ.get("PIXELBOARD_COMMIT_SECONDS", "2")))


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
                  options: FeaturizeOptions | None = None, backend=None) -> FeaturizeResult:
    """``backend`` (default: this process and its decode workers, :func:`extract`) embeds the missing
    rows; any callable with ``extract``'s signature will do (``ray_backend.RayBackend``)."""
    options = options or FeaturizeOptions()
    run = backend or extract
    started = time.perf_counter()
    tags = augmentation_tags(options.augment, options.augment_copies) if options.augment else []
    view_tags = augmentation_tags(options.views, 1) if options.views else []
    viewed_copies = _viewed_copies(tags, options.views, view_tags)
    paths = image_set.paths()
    # The stat index gives the content of every unchanged file without reading it; the others are
    # read once, in the decode workers, for both their hash and their pixels.
    file_index = FileIndex(project.file_index_path)
    content: list[str | None] = [file_index.lookup(p, file_stat(p))
                                 for p in _progress(paths, options, "checking files", unit="img")]
    featurizer.export_dir = project.runtimes_dir  # an exported graph (--runtime onnx|openvino) is kept there
    store = EmbeddingStore(project.cache_dir(featurizer.fingerprint()), featurizer.n_features, featurizer.describe(),
                           commit_seconds=options.commit_seconds)
    computed: set[str] = set()
    reasons: dict[str, str] = {}  # content key -> why it could not be decoded
    unreadable: dict[int, str] = {}  # image -> why it could not even be read (no content key)

    def commit(keys: list[str], rows: np.ndarray) -> None:
        store.add(keys, rows)
        computed.update(keys)

    # Pass 1: the original images (unknown files are hashed here; known ones only if not cached).
    unknown = [i for i, c in enumerate(content) if c is None]
    first_known = {c: i for i, c in reversed(list(enumerate(content))) if c is not None}
    known_todo = [i for c, i in first_known.items() if c not in store]
    items = [WorkItem(paths[i], hash=True) for i in unknown] + [WorkItem(paths[i], "", content[i]) for i in known_todo]
    owners = unknown + known_todo
    hashes: dict = {}
    try:
        with _progress_bar(len(items), options, f"{featurizer.entry_name()} [{featurizer.device.type}]") as bar:
            def plain_batch(idx, emb):
                commit([hashes[j].content_key if items[j].hash else items[j].content_key for j in idx], emb)

            bad = run(featurizer, items, batch_size=options.batch_size, workers=options.workers,
                      max_pixels=options.max_pixels, seed=options.seed, progress=bar, on_batch=plain_batch,
                      cached=frozenset(store.keys()) if unknown else frozenset(), hashes=hashes)
            for j, hashed in hashes.items():
                content[owners[j]] = hashed.content_key
            for j, reason in bad.items():
                if content[owners[j]] is None:
                    unreadable[owners[j]] = reason
                else:
                    reasons[content[owners[j]]] = reason
            # Pass 2: augmented copies and views of the good images (their keys need the content hash).
            rows = [(i, "") for i in range(len(paths))] + [(i, tag) for tag in tags + view_tags
                                                           for i in range(len(paths))]
            # Views of the copies, image by image: a decode worker draws each copy once for its views.
            rows += [(i, f"{copy}>{view}") for copy in viewed_copies for i in range(len(paths)) for view in view_tags]
            keys = [_row_key(content[i], tag, options.seed) for i, tag in rows]
            good = [r for r, (i, tag) in enumerate(rows) if tag and content[i] is not None and content[i] not in reasons]
            first_row = {keys[r]: r for r in reversed(good)}
            todo = store.missing(list(first_row))
            tagged = [WorkItem(paths[rows[first_row[k]][0]], rows[first_row[k]][1], content[rows[first_row[k]][0]])
                      for k in todo]
            bar.total = len(items) + len(tagged)
            bar.refresh()
            bad = run(featurizer, tagged, batch_size=options.batch_size, workers=options.workers,
                      max_pixels=options.max_pixels, seed=options.seed, progress=bar,
                      on_batch=lambda idx, emb: commit([todo[i] for i in idx], emb))
            for j, reason in bad.items():
                reasons[tagged[j].content_key] = reason
    finally:  # finished batches and the hashes learnt so far are kept, whatever stopped the run
        store.flush()
        now = time.time_ns()
        for j, hashed in hashes.items():
            file_index.remember(paths[owners[j]], hashed.stat, hashed.content_key, now)
        file_index.save()
    store.compact()
    # Identical files share one key and are decoded once: map failures back to every file with that content.
    bad_sources = {i: reasons[c] for i, c in enumerate(content) if c in reasons} | unreadable
    bad_files = sorted((image_set.files[i], reason) for i, reason in bad_sources.items())
    if bad_files and not options.skip_bad_images:
        listed = "; ".join(f"{f} ({reason})" for f, reason in bad_files)
        raise PixelboardError(f"{len(bad_files)} unreadable image(s): {listed}. Fix or remove them, or rerun with "
                              "--skip-bad-images (finished images are cached)")

    n_plain = len(paths) * (1 + len(tags))
    kept = [r for r, (i, _) in enumerate(rows[:n_plain]) if i not in bad_sources]
    kept_keys = [keys[r] for r in kept]
    seconds = time.perf_counter() - started
    sidecar = _sidecar(image_set, featurizer, rows, kept, bad_files, options, seconds, len(computed), content)
    sidecar["rows_digest"] = hashlib.blake2b("\n".join(kept_keys).encode(), digest_size=16).hexdigest()
    path = _save_matrix(project, image_set.name, featurizer, store, kept_keys, sidecar, unchanged_rows=not computed)
    variants = []
    if view_tags:
        viewed = [p for p, r in enumerate(kept) if rows[r][1] in ("", *viewed_copies)]  # originals first
        view_keys = [[kept_keys[p] for p in viewed]] + [
            [_row_key(content[rows[kept[p]][0]], _view_of(rows[kept[p]][1], view), options.seed) for p in viewed]
            for view in view_tags]
        variants = save_views(project, image_set.name, sidecar, options.views, viewed, view_keys, store,
                              options.pools)
    skipped = [{"file": f, "reason": r} for f, r in bad_files]
    n_cached = sum(key not in computed for key in kept_keys)
    return FeaturizeResult(featurizer.entry_name(), path, len(kept), len(computed), n_cached, seconds, skipped,
                           variants)


def _row_key(content: str | None, tag: str, seed: int) -> str:
    return (content or "") + (f"|{_cache_tag(tag, seed)}" if tag else "")


def _viewed_copies(tags: list[str], views: list[str], view_tags: list[str]) -> list[str]:
    """The augmented copies whose views are embedded too, so invariant variants have a row per copy.

    Under a group of views (the 8 orientations, the 4 rotations) a copy that is itself one of the
    views pools to its original's row, so only the other copies (damage, ink, ...) are viewed.
    """
    if not views:
        return []
    group = is_group(views)
    return [tag for tag in tags if not (group and tag in view_tags)]


def _view_of(copy: str, view: str) -> str:
    return f"{copy}>{view}" if copy else view


def _save_matrix(project: Project, set_name: str, featurizer: Featurizer, store: EmbeddingStore, keys: list[str],
                 sidecar: dict, unchanged_rows: bool) -> Path:
    """Write the set's matrix through a memory map (never whole in RAM), or keep the one on disk when a
    run computed nothing and its rows are the same keys in the same order (a no-change rerun)."""
    npy, meta = project.embeddings_paths(set_name, featurizer.entry_name())
    if unchanged_rows and _same_matrix(npy, meta, sidecar):
        store.check(keys)  # the cache stays checked (a damaged shard is named) though nothing is copied
        atomic.write_json(meta, sidecar)
        return npy
    with atomic.write_npy_memmap(npy, (len(keys), featurizer.n_features)) as out:
        for start in range(0, len(keys), _CHUNK_ROWS):
            store.get(keys[start:start + _CHUNK_ROWS], out=out[start:start + _CHUNK_ROWS])
    atomic.write_json(meta, sidecar)  # matrix first: the sidecar names only a complete matrix
    return npy


def _same_matrix(npy: Path, meta: Path, sidecar: dict) -> bool:
    try:
        old = atomic.read_json(meta)
        shape = atomic.read_npy(npy, mmap_mode="r").shape
    except (OSError, PixelboardError):
        return False
    return (isinstance(old, dict) and old.get("fingerprint") == sidecar["fingerprint"]
            and old.get("rows_digest") == sidecar["rows_digest"]
            and shape == (len(sidecar["rows"]["ids"]), sidecar["n_features"]))


def save_views(project: Project, set_name: str, sidecar: dict, view_names: list[str], viewed: list[int],
               view_keys: list[list[str]], store: EmbeddingStore, pools: list[str]) -> list[str]:
    """Write the set's view rows (identity first) and one invariant variant per pooling; return their names.

    ``viewed`` are the sidecar rows that were viewed, the originals first, then the augmented copies
    that are not views themselves; ``view_keys[v][j]`` is the cache key of row ``viewed[j]`` under
    view ``v``. The view rows (read by validation under views and the shift check, originals only,
    and by the canonicalizer, copies too) and the variants (a row per viewed row, pooled over its
    views) are written through memory maps, ``_CHUNK_ROWS`` rows at a time: 70,000 images under
    the 8 orientations are 3.4 GB of view rows, never whole in RAM.
    """
    rows = {key: [values[r] for r in viewed] for key, values in sidecar["rows"].items()}
    n_views, n_rows, width = len(view_keys), len(viewed), int(sidecar["n_features"])
    npy, meta = project.view_embeddings_paths(set_name, sidecar["featurizer"])
    with atomic.write_npy_memmap(npy, (n_views * n_rows, width)) as out:
        for v, keys in enumerate(view_keys):
            for start in range(0, n_rows, _CHUNK_ROWS):
                stop = min(start + _CHUNK_ROWS, n_rows)
                store.get(keys[start:stop], out=out[v * n_rows + start:v * n_rows + stop])
    originals = sum(not tag for tag in rows["augmentations"])
    atomic.write_json(meta, {**sidecar, "views": view_names, "rows": rows, "originals": originals})  # matrix first
    views = project.load_view_embeddings(set_name, sidecar["featurizer"], copies=True)[0]  # (views, rows, d), mapped
    names = []
    for pool in pools:
        name = variant_name(sidecar["featurizer"], view_names, pool)
        npy, meta = project.embeddings_paths(set_name, name)
        with atomic.write_npy_memmap(npy, (n_rows, pooled_width(width, pool))) as out:
            for start in range(0, n_rows, _CHUNK_ROWS):  # pooling is per row: chunks give the same bits
                out[start:start + _CHUNK_ROWS] = pool_views(views[:, start:start + _CHUNK_ROWS], pool)
        atomic.write_json(meta, {
            **sidecar, "featurizer": name, "views": view_names, "pool": pool, "n_features": pooled_width(width, pool),
            "level_slices": pooled_slices(sidecar["level_slices"], width, pool),
            "augment": sidecar["augment"] if originals < n_rows else None, "rows": rows})
        names.append(name)
    return names


def _cache_tag(tag: str, seed: int) -> str:
    """Random transforms depend on the seed, so it is part of their cache identity; ``/img3`` marks
    draws seeded per image from the library-backed transforms with white perspective borders (rows
    cached by earlier implementations, ``/img2``: red borders, are not reused); a transform's
    ``revision`` follows (``/n``: photocopy with numba's generator seeded)."""
    return f"{tag}@{seed}/img3{revisions(tag)}" if is_random(tag) else tag


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
