"""The shift probe: a sample of training images embedded under the 8 orientations and under each damage
family, so the shift check can test what explains a train/test difference before anything is trained.

Featurizing the whole training set under every hypothesis would cost 15 forward passes per image;
the probe spends them on ``sample`` images only. Its rows go through the project's embedding cache
under the same keys ``featurize`` gives them (``rot90``, ``blur#0>rot90``, ...), so a recipe that later
caches ``--views dihedral`` or damaged copies reuses them.

A **damage family** is a named kind of damage and the registered transforms that draw it (the
Albumentations and Augraphy ones of ``featurizers/augment.py``; one drawn per image for a family
with several). Each family is tested two ways, on top of the orientations the view hypotheses found:

* like a view hypothesis: the sample shown under that damage, and the ROC AUC of telling it from the
  test images (0.5: the damage explains the difference);
* by the share of test images it explains: a multinomial logistic regression learns, from the sample
  alone, to tell a clean image from each family's damage (labels come free: the probe made the
  damage); each test image goes to the class it looks most like.
"""

from __future__ import annotations

from dataclasses import dataclass

import logging

import numpy as np

from pixelboard.errors import PixelboardError
from pixelboard.featurizers.augment import DIHEDRAL


@dataclass(frozen=True)
class DamageFamily:
    name: str  # the recipe's and the report's name, e.g. "blur"
    looks: str  # "the test set looks <looks>"
    transforms: tuple[str, ...]  # registered transforms drawing it; one per image when several
    albumentations: bool  # drawn by Albumentations (stacked as the ``damage`` transform does), else Augraphy


DAMAGE_FAMILIES: dict[str, DamageFamily] = {f.name: f for f in (
    DamageFamily("blur", "blurred", ("blur",), True),
    DamageFamily("noise", "noisy", ("noise",), True),
    DamageFamily("jpeg", "JPEG-compressed", ("jpeg",), True),
    DamageFamily("contrast", "changed in brightness or contrast", ("brightness",), True),
    DamageFamily("perspective", "skewed or in perspective", ("perspective",), True),
    DamageFamily("shadow", "shadowed", ("shadow",), True),
    DamageFamily("ink", "marked by ink or paper effects", ("ink", "lowink", "dirt", "photocopy"), False),
)}
log = logging.getLogger(__name__)
CLEAN = "clean"
DEFAULT_PROBE = 200  # training images embedded under the hypotheses (15 forward passes each)
MIN_SHARE = 0.1  # a family that explains fewer test images than this is not acted on
# ... nor one whose AUC is not at least this much nearer 0.5 than the sample's without damage: a
# detector assigns some test images to some damage whenever test content differs at all.
AUC_MARGIN = 0.05


@dataclass
class DamageHypothesis:
    family: str
    looks: str
    auc: float  # train-vs-test AUC with the sample shown under this damage (and the found orientations)
    share: float  # share of test images the damage detector assigns to this family
    baseline_auc: float  # the same sample under the same orientations, without damage

    @property
    def explains(self) -> bool:
        """Worth acting on: it moves the AUC towards 0.5 and the detector finds it in enough test images."""
        return self.share >= MIN_SHARE and _excess(self.auc) <= _excess(self.baseline_auc) - AUC_MARGIN


def _excess(auc: float) -> float:
    """How far the sets are told apart: an out-of-fold AUC under 0.5 is noise around "alike"."""
    return max(auc - 0.5, 0.0)


@dataclass
class Sample:
    """The probe's training images: paths, content keys (cache identity and per-image seeds)."""
    paths: list
    content: list[str]


def training_sample(project, train_set: str, embeddings, size: int, seed: int) -> Sample:
    """``size`` original training images drawn with ``seed`` (all when fewer)."""
    image_set = project.load_image_set(train_set)
    path_of = dict(zip(image_set.ids, image_set.paths()))
    rows = [r for r, tag in enumerate(embeddings.augmentations) if not tag]
    if len(rows) < 4:
        raise PixelboardError(f"the shift probe needs at least 4 training images in {train_set!r}, found {len(rows)}")
    rng = np.random.default_rng([seed, 17])
    chosen = sorted(rng.choice(rows, size=min(size, len(rows)), replace=False).tolist())
    content = embeddings.sidecar["rows"]["content"]
    return Sample([path_of[embeddings.sources[r]] for r in chosen], [content[r] for r in chosen])


class ProbeEmbedder:
    """Embeds (image, tag) pairs of a sample through the project's cache with the training featurizer."""

    def __init__(self, project, sidecar: dict, seed: int = 0, workers: int | None = None, batch_size: int = 32):
        from pixelboard.featurizers.cache import EmbeddingStore
        from pixelboard.fitted import FeaturizerSpec

        self.featurizer = FeaturizerSpec.from_sidecar(sidecar).create()
        self.store = EmbeddingStore(project.cache_dir(self.featurizer.fingerprint()), self.featurizer.n_features,
                                    self.featurizer.describe())
        self.seed, self.workers, self.batch_size = seed, workers, batch_size
        self.computed = 0

    def embed(self, sample: Sample, tags: list[str]) -> np.ndarray:
        """One row per sample image, image ``i`` under ``tags[i]`` ("" = as it is)."""
        from pixelboard.featurizers.extract import WorkItem, extract
        from pixelboard.featurizers.pipeline import _row_key  # the key featurize gives the same row

        keys = [_row_key(c, tag, self.seed) for c, tag in zip(sample.content, tags)]
        first = {k: i for i, k in reversed(list(enumerate(keys)))}
        todo = self.store.missing(list(first))
        items = [WorkItem(sample.paths[first[k]], tags[first[k]], sample.content[first[k]]) for k in todo]
        try:
            bad = extract(self.featurizer, items, batch_size=self.batch_size, workers=self.workers, seed=self.seed,
                          on_batch=lambda idx, rows: self.store.add([todo[i] for i in idx], rows))
        finally:
            self.store.flush()
        if bad:
            first_bad = next(iter(bad.items()))
            raise PixelboardError(f"the shift probe could not decode {items[first_bad[0]].path}: {first_bad[1]}")
        self.computed += len(todo)
        self.store.compact()
        return np.asarray(self.store.get(keys))


def view_stack(embedder: ProbeEmbedder, sample: Sample) -> tuple[np.ndarray, list[str]]:
    """``(8, S, d)``: the sample as it is, then under each of the 7 other orientations."""
    views = list(DIHEDRAL)
    layers = [embedder.embed(sample, [""] * len(sample.paths))]
    layers += [embedder.embed(sample, [view] * len(sample.paths)) for view in views]
    return np.stack(layers), views


def orientation_tags(n: int, views: list[str], seed: int) -> list[str]:
    """A seeded orientation per image, among the identity and ``views`` (the found explanation)."""
    choices = [""] + list(views)
    rng = np.random.default_rng([seed, 29])
    return [choices[int(k)] for k in rng.integers(0, len(choices), size=n)]


def damage_tags(family: DamageFamily, orientations: list[str], seed: int) -> list[str]:
    """Each image's damaged tag: one of the family's transforms (copy ``#0``), then its orientation,
    in the ``copy>view`` form featurize gives the views of a damaged copy."""
    rng = np.random.default_rng([seed, 31, len(family.name)])
    picks = rng.integers(0, len(family.transforms), size=len(orientations))
    return [f"{family.transforms[int(k)]}#0" + (f">{o}" if o else "") for k, o in zip(picks, orientations)]


def damage_hypotheses(embedder: ProbeEmbedder, sample: Sample, base: np.ndarray, orientations: list[str],
                      test_X: np.ndarray, seed: int, auc) -> list[DamageHypothesis]:
    """Every damage family scored by AUC (``auc(train_rows, test_rows)``) and by its share of test images;
    best explanation first. ``base``: the sample under ``orientations`` without damage."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    damaged = {}
    for name, family in DAMAGE_FAMILIES.items():
        try:
            damaged[name] = embedder.embed(sample, damage_tags(family, orientations, seed))
        except Exception as exc:  # noqa: BLE001 -- a third-party effect that cannot draw on these images
            # (Augraphy's on 28-px images: an OpenCV assertion) leaves its family untested, not the check.
            log.warning("shift probe: %s damage cannot be drawn on these images (%s: %s); not tested",
                        name, type(exc).__name__, str(exc).splitlines()[0][:200])
    if not damaged:
        return []
    classes = [CLEAN, *damaged]
    X = np.vstack([base, *damaged.values()]).astype(np.float32)
    y = np.repeat(np.arange(len(classes)), len(base))
    detector = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000))
    detector.fit(X, y)
    assigned = detector.predict(test_X.astype(np.float32))
    baseline = auc(base, test_X)
    found = [DamageHypothesis(name, DAMAGE_FAMILIES[name].looks, auc(rows, test_X),
                              float(np.mean(assigned == classes.index(name))), baseline)
             for name, rows in damaged.items()]
    return sorted(found, key=lambda h: (abs(h.auc - 0.5), -h.share, h.family))


def clean_share(hypotheses: list[DamageHypothesis]) -> float:
    return max(0.0, 1.0 - sum(h.share for h in hypotheses))
