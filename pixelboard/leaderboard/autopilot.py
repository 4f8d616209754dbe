"""Which rows a leaderboard fits, stage by stage: the modes, the pairing rule, screening samples, promotion.

``quick`` fits the few blueprints that usually win, ``comprehensive`` every registered one, both at
full size (5-fold CV on 64% of the images). ``autopilot`` (the default) fits the usual winners with
full CV too, screens the other (blueprint x featurizer) rows on one fold, at 16% then 32% of the
images, and promotes those whose learning curve beats the winners (promotion.py), like DataRobot's
Autopilot. A screening row is fitted on a sample of fold 1's
training images and scored on fold 1's validation images: the same images the full row's Validation
is scored on, so the three scores of a row form its learning curve. A one-fold score on a quarter of
the data is not comparable with a 5-fold CV mean, so screening rows rank below every full row and never
reach the blenders or ``best``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from pixelboard.errors import PixelboardError
from pixelboard.leaderboard.data import FeatureRows
from pixelboard.leaderboard.metrics import get_metric
from pixelboard.leaderboard.partition import Partition, UnitClasses
from pixelboard.models import get_blueprint, list_blueprints

BASELINE = ("lr_l2", "grayscale20")  # the Baseline Image Classifier: added wherever grayscale20 exists
BASELINE_LABEL = "Baseline Image Classifier"  # its rows' label starts so (runner.py)
PIXELS = "pixels"  # blueprint spec ``inputs`` / sidecar ``description.kind`` of image (not embedding) rows
# Measured (benchmarks/results/leaderboard.json, 2,000 Fashion-MNIST images): L2 LR is the best single
# model on both featurizers (CV 0.863 on efficientnet_lite0) and the MLP costs about as little; the
# boosters add under a point to the best blend for 10-20x their fit time.
QUICK_BLUEPRINTS = ("lr_l2", "mlp")
SCREENING_PCTS = (16.0, 32.0)  # % of the labelled images; each sample nests in the next and in fold 1's training part
# Which rows skip screening, which are screened and which are promoted: promotion.py.
PROMOTE_TOP = 3
SCREEN_ABOVE = 2 * PROMOTE_TOP  # a plan of at most this many rows skips screening: all get full CV
MIN_UNITS_PER_CLASS = 2  # per class in a sample, when fold 1 has them: the blueprints' inner splits need 2
_SAMPLE_STREAM = 0x5C12EE  # mixed into the seed: the samples draw from their own stream, not the partition's


@dataclass(frozen=True)
class Mode:
    name: str
    label: str
    blueprints: Callable[[], list[str]]  # candidates when --blueprints is not given
    screening: tuple[float, ...]  # sample % of the one-fold screening stages, smallest first
    pixels_need_cuda: bool  # image (pixels) blueprints join only with a GPU, unless listed by name


MODES: dict[str, Mode] = {m.name: m for m in (
    Mode("quick", "the blueprints that usually win, full CV", lambda: list(QUICK_BLUEPRINTS), (), False),
    Mode("autopilot", "the usual winners with full CV, the other default blueprints screened at 16% and 32%",
         lambda: list_blueprints(default_only=True), SCREENING_PCTS, False),
    Mode("comprehensive", "every registered blueprint, full CV", lambda: list_blueprints(), (), True),
)}


def get_mode(name: str) -> Mode:
    if name not in MODES:
        raise PixelboardError(f"unknown mode {name!r}; choose from {', '.join(MODES)}")
    return MODES[name]


@dataclass(frozen=True)
class Candidate:
    """One (blueprint x featurizer) row of the leaderboard, at whatever stage."""

    blueprint: str
    featurizer: str

    @property
    def is_baseline(self) -> bool:
        # grayscale20 itself: its view-pooled variants (grayscale20+d4mean) are other featurizers, not the baseline
        return self.blueprint == BASELINE[0] and self.featurizer == BASELINE[1]


@dataclass(frozen=True)
class Stage:
    """A one-fold screening stage: ``sample`` (original image rows, sorted) is ``sample_pct``% of the images."""

    sample_pct: float
    sample: np.ndarray

    @property
    def name(self) -> str:
        return f"{self.sample_pct:g}%"


def blueprint_inputs(name: str) -> str:
    return get_blueprint(name).inputs  # registry facts: no blueprint module is imported


def featurizer_inputs(rows: FeatureRows) -> str:
    kind = rows.embeddings.sidecar.get("description", {}).get("kind")
    return PIXELS if kind == PIXELS else "embeddings"


def pairs(blueprint: str, rows: FeatureRows) -> bool:
    """A blueprint fits a featurizer's rows only when both speak of the same inputs (pixels or embeddings)."""
    return (blueprint_inputs(blueprint) == PIXELS) == (featurizer_inputs(rows) == PIXELS)


def plan_candidates(mode: Mode, explicit: list[str], features: list[FeatureRows],
                    cuda: Callable[[], bool] | None = None) -> list[Candidate]:
    """Every blueprint of the mode (or ``explicit``) on every featurizer it pairs with, featurizer by
    featurizer; the baseline wherever grayscale20 exists. ``cuda`` is asked only when it matters."""
    names = list(explicit) or mode.blueprints()
    for name in names:
        get_blueprint(name)  # an unknown name fails before any model is fitted
    if mode.pixels_need_cuda and not explicit and any(blueprint_inputs(n) == PIXELS for n in names):
        if not (cuda or _cuda_available)():
            names = [n for n in names if blueprint_inputs(n) != PIXELS]  # hours per fit on a CPU: only by name
    lonely = [n for n in explicit if not any(pairs(n, rows) for rows in features)]
    if lonely:
        raise PixelboardError(f"blueprint {lonely[0]} takes {blueprint_inputs(lonely[0])} and no featurizer of the set "
                              f"gives them ({', '.join(r.name for r in features)}); featurize with a matching backbone")
    plan = []
    for rows in features:
        chosen = [n for n in names if pairs(n, rows)]
        if rows.name.startswith(BASELINE[1]) and BASELINE[0] not in chosen:
            chosen.append(BASELINE[0])
        plan += [Candidate(name, rows.name) for name in chosen]
    if not plan:
        raise PixelboardError(f"no blueprint of {', '.join(names)} pairs with the featurizers "
                              f"{', '.join(r.name for r in features)}")
    return plan


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def full_sample_pct(partition: Partition) -> float:
    """The share of the images each CV fold model trains on (64% with a 20% holdout and 5 folds)."""
    return round(100 * (1 - partition.holdout_fraction) * (partition.n_folds - 1) / partition.n_folds, 1)


def screening_stages(mode: Mode, candidates: list[Candidate], partition: Partition, y: np.ndarray,
                     groups: np.ndarray, seed: int) -> list[Stage]:
    """The mode's screening stages for this run; none for a handful of rows (at most ``SCREEN_ABOVE``:
    screening would fit each row 1.5 more times, on noisy samples, to drop two or three of them) or
    when a sample would be as large as a fold's training part."""
    pcts = [p for p in mode.screening if p < full_sample_pct(partition)]
    if not pcts or len(candidates) <= SCREEN_ABOVE:
        return []
    samples = screening_samples(partition, y, groups, pcts, seed)
    return [Stage(p, s) for p, s in zip(pcts, samples)]


def screening_samples(partition: Partition, y: np.ndarray, groups: np.ndarray, pcts: list[float],
                      seed: int) -> list[np.ndarray]:
    """Nested samples of fold 1's training images, ``pcts`` % of all images each: stratified (every
    class keeps its share, at least ``MIN_UNITS_PER_CLASS`` groups when fold 1 has them) and
    group-aware (a group is drawn whole). One seeded order of the groups per class, cut at growing
    lengths, makes each sample a subset of the next and the same for the same seed."""
    train = partition.folds[0][0]
    units, unit = np.unique(np.asarray(groups)[train], return_inverse=True)
    n_classes = int(y.max()) + 1
    mix = UnitClasses.count(unit, np.asarray(y)[train], np.ones(train.size, bool), n_classes)
    unit_label, unit_size = mix.label, mix.size
    rng = np.random.default_rng([seed, _SAMPLE_STREAM])
    fractions = [p / full_sample_pct(partition) for p in pcts]
    chosen = [np.zeros(units.size, dtype=bool) for _ in pcts]
    for c in range(n_classes):
        order = rng.permutation(np.flatnonzero(unit_label == c))
        if not order.size:
            continue
        sizes = np.cumsum(unit_size[order])
        for taken, fraction in zip(chosen, fractions):
            target = math.ceil(fraction * sizes[-1])
            count = int(np.searchsorted(sizes, target)) + 1  # fewest groups that reach the target
            taken[order[:min(max(count, MIN_UNITS_PER_CLASS), order.size)]] = True
    return [np.sort(train[taken[unit]]) for taken in chosen]


def stage_score(row: dict, metric: str, shifted: bool) -> float:
    """The score a row is promoted on: its Validation (fold 1), oriented so that higher is better."""
    m = get_metric(metric)
    return m.oriented(row["scores_shifted" if shifted else "scores"][m.name]["validation"])


def learning_curve(rows: list[dict], metric: str, shifted: bool = False) -> dict:
    """Validation (fold 1) score against sample size per blueprint x featurizer: ``<run>/learning_curve.json``."""
    m = get_metric(metric)
    key = "scores_shifted" if shifted else "scores"
    points = [{"blueprint": r["blueprint"], "featurizer": r["featurizer"], "sample_pct": r["sample_pct"],
               "score": r[key][m.name]["validation"]} for r in rows if r["kind"] in ("model", "stage")]
    points.sort(key=lambda p: (p["featurizer"], p["blueprint"], p["sample_pct"]))
    return {"metric": m.name, "rows": points}


def render_learning_curve(curve: dict) -> str:
    """The learning curve as a Markdown table: one line per blueprint x featurizer, one column per sample %."""
    pcts = sorted({p["sample_pct"] for p in curve["rows"]})
    lines: dict[tuple[str, str], dict[float, float]] = {}
    for p in curve["rows"]:
        lines.setdefault((p["blueprint"], p["featurizer"]), {})[p["sample_pct"]] = p["score"]
    head = ["Blueprint", "Featurizer", *(f"{p:g}%" for p in pcts)]
    body = ["| " + " | ".join([b, f, *(_cell(scores.get(p)) for p in pcts)]) + " |" for (b, f), scores in lines.items()]
    title = f"## Learning curve — Validation {get_metric(curve['metric']).label} against sample size"
    return "\n".join([title, "", "| " + " | ".join(head) + " |", "|" + " --- |" * len(head), *body, ""])


def _cell(score: float | None) -> str:
    return "" if score is None or score != score else f"{score:.4f}"
