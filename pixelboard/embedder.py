"""``ImageEmbedder``: pixelboard's featurizers as a scikit-learn transformer.

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(ImageEmbedder("efficientnet_lite0"), LogisticRegression(max_iter=1000))
    model.fit(train_paths, train_labels)          # paths (str / Path) or PIL images
    model.predict(test_paths)

The transformer is stateless (pretrained weights, nothing learned from ``X``): ``fit`` checks the
parameters and builds the featurizer, ``transform`` embeds. Paths are decoded exactly as ``pixelboard
featurize`` decodes them (``load_rgb``, then the featurizer's preprocessor), so the rows equal the
project's; with ``project`` they go through that project's embedding cache (same keys as
``featurize``: the file's bytes), so cross-validation and grid searches embed each image once.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from pixelboard.options import (DEFAULT_MAX_PIXELS, DEFAULT_PRECISION, DEFAULT_RUNTIME, PRECISIONS, RESIZE_MODES,
                                RUNTIMES, one_of, split_list)
from pixelboard.errors import PixelboardError


class ImageEmbedder(TransformerMixin, BaseEstimator):
    """Images -> float32 embeddings of a pretrained backbone (``pixelboard list backbones``).

    Parameters
    ----------
    backbone : str
        Featurizer name: ``efficientnet_lite0`` (bundled weights), ``mobilenetv3``, ``grayscale20``, ...
    levels : list of str or comma-separated str, optional
        Subset of ``low, medium, high, highest`` (CNNs), in the embedding's column order; default all.
    resize : {"squash", "pad", "crop"}
        How an image reaches the input size (as ``featurize --resize``).
    device : str
        ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    batch_size : int
        Images per forward pass (the embeddings do not depend on it).
    project : path or pixelboard.Project, optional
        Cache the rows in this project's embedding cache (shared with ``pixelboard featurize``).
    weights : path, optional
        A state_dict or ``.safetensors`` file for the backbone (as ``featurize --weights``).
    random_weights : bool
        Random initialisation: tests only, the embeddings are useless.
    max_pixels : int
        Refuse larger images (as ``featurize --max-pixels``).
    runtime : {"torch", "onnx", "openvino"}
        What runs a CNN backbone (as ``featurize --runtime``; onnx and openvino: the ``runtimes`` extra).
    precision : {"fp32", "bf16"}
        Arithmetic of the forward pass (as ``featurize --precision``).
    progress : bool
        A progress bar (stderr) while embedding more than one batch of images that are not cached.
    """

    def __init__(self, backbone: str = "efficientnet_lite0", *, levels: str | Sequence[str] | None = None,
                 resize: str = "squash", device: str = "auto", batch_size: int = 32,
                 project=None, weights: str | os.PathLike | None = None,
                 random_weights: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
                 runtime: str = DEFAULT_RUNTIME, precision: str = DEFAULT_PRECISION, progress: bool = True):
        self.backbone = backbone
        self.levels = levels
        self.resize = resize
        self.device = device
        self.batch_size = batch_size
        self.project = project
        self.weights = weights
        self.random_weights = random_weights
        self.max_pixels = max_pixels
        self.runtime = runtime
        self.precision = precision
        self.progress = progress

    def fit(self, X=None, y=None):
        """Check the parameters and build the featurizer; nothing is learned from ``X``."""
        if self.resize not in RESIZE_MODES:
            raise PixelboardError(f"unknown resize mode {self.resize!r}; choose from {', '.join(RESIZE_MODES)}")
        for name, value, minimum in (("batch_size", self.batch_size, 1), ("max_pixels", self.max_pixels, 1)):
            if not isinstance(value, (int, np.integer)) or value < minimum:
                raise PixelboardError(f"ImageEmbedder {name} must be an integer >= {minimum}, got {value!r}")
        one_of(self.runtime, RUNTIMES, "runtime")
        one_of(self.precision, PRECISIONS, "precision")
        featurizer = _featurizer(self.backbone, tuple(split_list(self.levels)), self.resize, self.device,
                                 None if self.weights is None else str(self.weights), bool(self.random_weights),
                                 self.runtime, self.precision)
        self.featurizer_ = featurizer
        self.name_ = featurizer.entry_name()
        self.level_slices_ = featurizer.level_slices()
        self.n_features_out_ = featurizer.n_features
        return self

    def transform(self, X) -> np.ndarray:
        """Embed ``X`` (a list or 1-d array of paths or PIL images): float32 ``(len(X), n_features_out_)``."""
        check_is_fitted(self, "featurizer_")
        items = _items(X)
        if self.project is None:
            return self._embed(items)
        from pixelboard.featurizers.cache import EmbeddingStore

        files = _project_files(self.project)
        featurizer = self.featurizer_
        featurizer.export_dir = files.runtimes_dir  # an exported graph (runtime onnx|openvino) is kept there
        with files.lock():  # the cache has one writer at a time (see featurizers/cache.py)
            store = EmbeddingStore(files.cache_dir(featurizer.fingerprint()), featurizer.n_features,
                                   featurizer.describe())
            keys = [_pixels_key(item) if isinstance(item, Image.Image) else _file_key(item) for item in items]
            todo = store.missing(keys)
            if todo:
                first = {key: i for i, key in reversed(list(enumerate(keys)))}
                with self._bar(len(todo)) as bar:
                    for start in range(0, len(todo), self.batch_size):
                        batch = todo[start:start + self.batch_size]
                        store.add(batch, self._embed([items[first[key]] for key in batch], bar=False))
                        bar.update(len(batch))
                store.compact()
            return store.get(keys)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``<featurizer>_<level>_<i>`` per column, e.g. ``grayscale20_pixels_0``."""
        check_is_fitted(self, "featurizer_")
        return np.asarray([f"{self.name_}_{level}_{i}" for level, (start, stop) in self.level_slices_.items()
                           for i in range(stop - start)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # a sequence of images, not a feature matrix
        tags.input_tags.one_d_array = True
        tags.input_tags.string = True
        return tags

    def _bar(self, n_images: int):
        from tqdm.auto import tqdm

        return tqdm(total=n_images, desc=f"ImageEmbedder {self.name_}", unit="image",
                    disable=not self.progress or n_images <= self.batch_size)  # one batch: over in a blink

    def _embed(self, items: list, bar: bool = True) -> np.ndarray:
        """Decode, preprocess and embed in batches of ``batch_size``, as ``featurize`` does."""
        import contextlib

        import torch

        featurizer = self.featurizer_
        preprocessor = featurizer.preprocessor
        blocks = [np.zeros((0, featurizer.n_features), dtype=np.float32)]
        with self._bar(len(items)) if bar else contextlib.nullcontext() as shown:
            for start in range(0, len(items), self.batch_size):
                arrays = [preprocessor(self._decode(item)) for item in items[start:start + self.batch_size]]
                blocks.append(featurizer.embed(torch.from_numpy(np.stack(arrays))))
                if shown is not None:
                    shown.update(len(arrays))
        return np.concatenate(blocks).astype(np.float32, copy=False)

    def _decode(self, item) -> Image.Image:
        from pixelboard.datasets.images import ImageDecodeError, load_rgb, to_rgb

        if isinstance(item, Image.Image):
            return to_rgb(item)
        try:
            return load_rgb(item, max_pixels=self.max_pixels, draft_size=self.featurizer_.preprocessor.draft_size)
        except ImageDecodeError as exc:
            raise PixelboardError(f"cannot read image {item}: {exc}") from None


@functools.lru_cache(maxsize=8)
def _featurizer(backbone: str, levels: tuple[str, ...], resize: str, device: str, weights: str | None,
                random_weights: bool, runtime: str, precision: str):
    """One featurizer per configuration and process: clones in a grid search share the loaded network."""
    from pixelboard.featurizers import create_featurizer, get_featurizer_entry

    # As `featurize`: the runtime options reach the backbones that take them, and only when not the default
    # (so a torch fp32 featurizer's create_options stay those of earlier versions).
    accepted = inspect.signature(get_featurizer_entry(backbone).factory).parameters
    extra = {k: v for k, v, default in (("runtime", runtime, DEFAULT_RUNTIME), ("precision", precision, DEFAULT_PRECISION))
             if v != default and k in accepted}
    return create_featurizer(backbone, levels=list(levels) or None, resize=resize, device=device, weights=weights,
                             random_weights=random_weights, **extra)


def _items(X) -> list:
    """Paths and PIL images as a list; anything else is a one-line error naming what was given."""
    if isinstance(X, (str, os.PathLike, Image.Image)):
        raise PixelboardError("ImageEmbedder takes a list of images (paths or PIL images), not a single image: "
                              "wrap it in a list")
    if isinstance(X, np.ndarray) and X.ndim != 1:
        raise PixelboardError(f"ImageEmbedder takes a list or 1-d array of image paths or PIL images, got an array "
                              f"of shape {X.shape} (pixel arrays: convert each with PIL.Image.fromarray)")
    items = list(X)
    for i, item in enumerate(items):
        if not isinstance(item, (str, os.PathLike, Image.Image)):
            raise PixelboardError(f"ImageEmbedder item {i} is a {type(item).__name__}, not an image path or PIL image")
    return items


def _file_key(path) -> str:
    """The cache key ``featurize`` gives the file (a hash of its bytes)."""
    from pixelboard.featurizers.cache import image_key

    try:
        return image_key(path)
    except OSError as exc:
        raise PixelboardError(f"cannot read image {path}: {exc.strerror or exc}") from None


def _pixels_key(image: Image.Image) -> str:
    """Cache key of an in-memory image: its mode, size and pixels (a file's key hashes its bytes)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{image.mode}|{image.size}|".encode())
    digest.update(image.tobytes())
    return f"pixels-{digest.hexdigest()}"


def _project_files(project):
    """The library's project object for a path, a ``pixelboard.Project`` or a ``pixelboard.project.Project``."""
    from pixelboard.project import Project as ProjectFiles

    if isinstance(project, ProjectFiles):
        return project
    files = getattr(project, "files", None)
    return files if isinstance(files, ProjectFiles) else ProjectFiles(project)
