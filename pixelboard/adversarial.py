"""Train/test shift check (adversarial validation): can a classifier tell test images from training ones?

A standardized L2 logistic regression learns "training or test?" from the embeddings, scored by
out-of-fold ROC AUC (scikit-learn's ``cross_val_predict`` + ``roc_auc_score``): about 0.5 means the two
sets look alike, near 1.0 means the test set is shifted. The test images it finds least like
training are listed. Then each hypothesis about the shift is tried: the training images are shown
under views drawn per image from a set (none, the 4 rotations, the 8 orientations, a flip, or any
other view that ``featurize --views`` cached), and the hypothesis whose AUC falls closest to 0.5 is
the one that best explains the difference ("the test set looks rotated by 90/180/270 and flipped"),
with the options that answer it. With ``probe``, a sample of training images is also embedded under
the 8 orientations (when the training set has no cached views) and under each damage family
(``shift_probe.py``): blur, noise, JPEG, contrast, perspective, shadow, ink/paper, each scored by AUC
and by the share of test images it explains.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pixelboard.errors import PixelboardError
from pixelboard.featurizers.augment import DIHEDRAL
from pixelboard.leaderboard.shift import view_choice
from pixelboard.project import Project
from pixelboard.shift_probe import DamageHypothesis

ALIKE_AUC = 0.6  # below this the sets are hard to tell apart: no shift worth acting on


@dataclass
class Hypothesis:
    name: str  # e.g. "rotated by 90/180/270 and flipped"
    views: list[str]  # the views drawn per training image (identity always included)
    auc: float


@dataclass
class ShiftReport:
    featurizer: str
    n_train: int
    n_test: int
    auc: float
    least_like_training: list[tuple[str, float]]  # test id, P(test) out of fold
    hypotheses: list[Hypothesis] = field(default_factory=list)  # best explanation first
    damage: list[DamageHypothesis] = field(default_factory=list)  # with a probe: best explanation first
    probe_images: int = 0  # training images the probe embedded under the hypotheses (0: none)

    @property
    def shifted(self) -> bool:
        return self.auc >= ALIKE_AUC

    @property
    def best(self) -> Hypothesis | None:
        return self.hypotheses[0] if self.hypotheses else None

    @property
    def damage_found(self) -> list[DamageHypothesis]:
        """The damage families that explain a share of the test images worth acting on, largest first."""
        if not self.shifted:
            return []
        return sorted((h for h in self.damage if h.explains), key=lambda h: (-h.share, h.family))

    def advice(self) -> str:
        damage = self.damage_found
        if damage:
            kinds = ", ".join(f"{h.looks} ({h.share:.0%})" for h in damage)
            return (f"test images look {kinds}: add damaged copies of those kinds (featurize --augment ...) — "
                    f"`pixelboard autopilot --test-images ...` builds the recipe; views: {self._view_advice()}")
        return self._view_advice()

    def _view_advice(self) -> str:
        if not self.shifted:
            return "the test set looks like the training set: no shift-specific option needed"
        best = self.best
        if best is None or not best.views:
            return ("the test set differs from the training set in a way no cached view explains; "
                    "cache more views (featurize --views ...) to test more hypotheses")
        views = "dihedral" if set(best.views) == set(DIHEDRAL) else ",".join(best.views)
        return (f"featurize the training set with --views {views} and rank under the test conditions with "
                f"`leaderboard --validate-under {views}`; the invariant variants (+...mean) or "
                f"`predict --tta {views}` answer it")


def adversarial_auc(train: np.ndarray, test: np.ndarray, seed: int = 0, folds: int = 5) -> tuple[float, np.ndarray]:
    """Out-of-fold ROC AUC of telling ``test`` rows from ``train`` rows, and each test row's P(test)."""
    X = np.vstack([train, test]).astype(np.float32)
    y = np.r_[np.zeros(len(train)), np.ones(len(test))]
    folds = min(folds, len(train), len(test))
    if folds < 2:
        raise PixelboardError("the shift check needs at least 2 training and 2 test images")
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500))
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    proba = cross_val_predict(model, X, y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, proba)), proba[len(train):]


def check_shift(project: Project, train_set: str = "train", test_set: str = "test", featurizer: str | None = None,
                seed: int = 0, top: int = 10, probe: int = 0, workers: int | None = None) -> ShiftReport:
    """The shift report; ``probe`` > 0 embeds that many training images under the hypotheses (the
    caller holds the project lock: the probe writes cache rows)."""
    name = featurizer or _default_featurizer(project, train_set, test_set)
    train = project.load_embeddings(train_set, name)
    test = project.load_embeddings(test_set, name)
    train_X = _originals(train)
    test_X, test_ids = _originals(test), [s for s, a in zip(test.sources, test.augmentations) if not a]
    auc, p_test = adversarial_auc(train_X, test_X, seed)
    order = np.argsort(-p_test, kind="stable")[:top]
    report = ShiftReport(name, len(train_X), len(test_X), auc, [(test_ids[i], float(p_test[i])) for i in order])
    try:
        stack, sidecar = project.load_view_embeddings(train_set, name)
        report.hypotheses = explain_views(stack, list(sidecar["views"]), test_X, seed)
    except PixelboardError:
        stack = None  # no cached views: the AUC alone is reported, unless the probe embeds a sample's views
    if probe:
        _probe(project, train_set, train, test_X, report, stack is None, probe, seed, workers)
    return report


def _probe(project, train_set, train, test_X, report: ShiftReport, views_needed: bool, size: int, seed: int,
           workers: int | None) -> None:
    from pixelboard.shift_probe import (ProbeEmbedder, damage_hypotheses, orientation_tags, training_sample,
                                        view_stack)

    sample = training_sample(project, train_set, train, size, seed)
    # Decoded in this process: the AUC fits above ran scikit-learn's OpenMP code, after which a forked
    # decode worker aborts when it runs OpenMP code itself (Augraphy's effects do).
    embedder = ProbeEmbedder(project, train.sidecar, seed=seed, workers=0)
    if views_needed:
        stack, views = view_stack(embedder, sample)
        report.hypotheses = explain_views(stack, views, test_X, seed)
    from pixelboard.recipe import explained_views  # the orientations the recipe will cache

    views = explained_views(report) if report.shifted else []
    orientations = orientation_tags(len(sample.paths), views, seed)
    base = embedder.embed(sample, orientations)
    report.damage = damage_hypotheses(embedder, sample, base, orientations, test_X, seed,
                                      lambda rows, test: adversarial_auc(rows, test, seed)[0])
    report.probe_images = len(sample.paths)


def explain_views(stack: np.ndarray, cached: list[str], test_X: np.ndarray, seed: int) -> list[Hypothesis]:
    """The view hypotheses scored on ``stack`` (identity first, then ``cached`` views), best first."""
    candidates = {"not turned or flipped": []}
    if {"rot90", "rot180", "rot270"} <= set(cached):
        candidates["rotated by 90/180/270"] = ["rot90", "rot180", "rot270"]
    if "hflip" in cached:
        candidates["mirrored"] = ["hflip"]
    if set(DIHEDRAL) <= set(cached):
        candidates["rotated by 90/180/270 and flipped"] = list(DIHEDRAL)
    for view in cached:  # any other cached view (damage, a single turn): every image under it
        if view not in DIHEDRAL:
            candidates[f"under {view}"] = [view]
    found = []
    for label, views in candidates.items():
        layers = np.array([0] + [1 + cached.index(v) for v in views])
        if views and views[0] not in DIHEDRAL:  # a damage view: every training image under it
            layers = layers[1:]
        chosen = layers[view_choice(stack.shape[1], len(layers), seed)]
        shown = np.asarray(stack[chosen, np.arange(stack.shape[1])])
        found.append(Hypothesis(label, views, adversarial_auc(shown, test_X, seed)[0]))
    return sorted(found, key=lambda h: (abs(h.auc - 0.5), h.name))


def _originals(embeddings) -> np.ndarray:
    rows = [r for r, tag in enumerate(embeddings.augmentations) if not tag]
    return np.asarray(embeddings.matrix)[rows]


def _default_featurizer(project: Project, train_set: str, test_set: str) -> str:
    shared = [n for n in project.featurizer_names(train_set) if n in project.featurizer_names(test_set) and "+" not in n]
    if not shared:
        raise PixelboardError(f"no featurizer has embeddings for both {train_set!r} and {test_set!r}: featurize the "
                              f"test images first (`pixelboard featurize --images ... --unlabelled --set {test_set}`)")
    return next((n for n in shared if n != "grayscale20"), shared[0])
