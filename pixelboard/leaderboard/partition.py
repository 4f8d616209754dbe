"""The shared holdout + cross-validation partition every blueprint and blender is scored on.

Computed once from the labels and a seed, saved in the run directory and reloaded, so every model sees
exactly the same rows. Rows that share a group stay together: each group lands entirely in the holdout
or in one CV fold ``f`` (its rows train in every other fold). Unscored rows (augmented copies) follow
their group but are never validated nor scored as holdout. Per row, :meth:`Partition.fold_of` gives:

* ``0..k-1``  the CV fold whose validation set holds the row;
* ``-1``      holdout (scored once at the end, never used for ranking);
* ``-2``      never validated: unscored copies in the CV part (train in the folds their group is not in);
* ``-3``      used nowhere: unscored copies of holdout images (training on them would leak the holdout).

Stratification works on groups ("units"). A unit is placed under the rarest class among its scored
rows (for a single-label group, its label): a document whose pages hold several page types counts
for the rarest of them, so rare types are spread first. Within a class, units go to the fold with
the fewest rows of that class so far, counting the rows other classes' units already brought, and the
result is checked: the holdout and every fold see every class. Saved as two per-row arrays (group's
fold, scored).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pixelboard.atomic import read_npy, read_record, write_json, write_npy
from pixelboard.errors import PixelboardError
from pixelboard.leaderboard.identity import groups_fingerprint

HOLDOUT, TRAIN_ONLY, UNUSED = -1, -2, -3
FORMAT_VERSION = 2  # 2: records the groups' fingerprint
_JSON, _NPY, _SCORED = "partition.json", "group_fold.npy", "scored.npy"
_ALWAYS_TRAIN = -2  # group_fold of groups with no scored row: they train in every fold


def labels_fingerprint(y: Sequence[Any] | np.ndarray) -> str:
    """Hash of the labels in row order (compared as ``str``), to detect labels changed between runs."""
    digest = hashlib.sha256()
    for value in _as_list(y):
        digest.update(str(value).encode("utf-8") + b"\x1f")
    return "sha256:" + digest.hexdigest()


@dataclass(frozen=True, eq=False)
class Partition:
    """Holdout rows and ``(train_rows, valid_rows)`` per CV fold; all index arrays int64 and sorted."""

    holdout: np.ndarray
    folds: tuple[tuple[np.ndarray, np.ndarray], ...]
    n_rows: int
    seed: int
    holdout_fraction: float
    labels_fingerprint: str = ""
    groups_fingerprint: str = ""  # identity.groups_fingerprint of the groups it was made with

    @property
    def n_folds(self) -> int:
        return len(self.folds)

    def fold_of(self) -> np.ndarray:
        """Per row: validation fold 0..k-1, -1 holdout, -2 train-only (never validated), -3 unused."""
        out = np.full(self.n_rows, UNUSED, dtype=np.int64)
        for train, _ in self.folds:
            out[train] = TRAIN_ONLY
        for fold, (_, valid) in enumerate(self.folds):
            out[valid] = fold
        out[self.holdout] = HOLDOUT
        return out

    def _group_fold(self) -> tuple[np.ndarray, np.ndarray]:
        """Per row: the fold its group lands in (-1 holdout, -2 always train) and whether it is scored."""
        fold_of = self.fold_of()
        group_fold = np.where(fold_of == TRAIN_ONLY, _ALWAYS_TRAIN, np.where(fold_of == UNUSED, HOLDOUT, fold_of))
        for fold, (train, _) in enumerate(self.folds):
            # a copy that trains in every fold but this one belongs to a group validated in this fold
            missing = np.setdiff1d(np.flatnonzero(group_fold == _ALWAYS_TRAIN), train, assume_unique=True)
            group_fold[missing] = fold
        return group_fold, fold_of >= HOLDOUT

    def cv_rows(self) -> np.ndarray:
        """Every row the CV part may train on (e.g. to refit a final model before scoring the holdout)."""
        return np.flatnonzero(~np.isin(self.fold_of(), (HOLDOUT, UNUSED)))

    def fingerprint(self) -> str:
        """Hash of the assignment itself: every row's fold (part of each leaderboard row's key)."""
        group_fold, scored = self._group_fold()
        digest = hashlib.sha256(group_fold.astype("<i8").tobytes() + scored.astype(np.uint8).tobytes())
        return "sha256:" + digest.hexdigest()

    def check_matches(self, y: Sequence[Any] | np.ndarray, groups: np.ndarray | None = None) -> None:
        """Raise if ``y`` (or ``groups``) is not what this partition was made from."""
        n = len(_as_list(y))
        if n != self.n_rows:
            raise PixelboardError(
                f"the saved partition was made for {self.n_rows} images but there are now {n} — "
                "start a new run directory (the partition cannot be reused)")
        found = labels_fingerprint(y)
        if self.labels_fingerprint and found != self.labels_fingerprint:
            raise PixelboardError(
                f"the labels changed since the saved partition was made (fingerprint {found[:19]}… "
                f"vs {self.labels_fingerprint[:19]}…) — restore the labels or start a new run directory")
        if groups is not None and self.groups_fingerprint != groups_fingerprint(groups):
            raise PixelboardError(
                "the groups changed since the saved partition was made (--group-column, or images that became "
                "or stopped being exact duplicates): its folds could put one group on both sides — start a new "
                "run directory (--run NEW_NAME)")

    def save(self, directory: str | Path) -> None:
        """Write ``group_fold.npy``, ``scored.npy`` (one value per row) and ``partition.json``, atomically."""
        directory = Path(directory)
        group_fold, scored = self._group_fold()
        write_npy(directory / _NPY, group_fold.astype(np.int32))
        write_npy(directory / _SCORED, scored)
        write_json(directory / _JSON, {
            "format_version": FORMAT_VERSION,
            "n_rows": self.n_rows,
            "n_folds": self.n_folds,
            "seed": self.seed,
            "holdout_fraction": self.holdout_fraction,
            "labels_fingerprint": self.labels_fingerprint,
            "groups_fingerprint": self.groups_fingerprint,
            "holdout_rows": int(self.holdout.size),
            "valid_rows_per_fold": [int(v.size) for _, v in self.folds],
            "train_rows_per_fold": [int(t.size) for t, _ in self.folds],
            "group_fold.npy": {"0..k-1": "group validated in this fold, trains in the others",
                               "-1": "holdout group", "-2": "group without scored rows: trains in every fold"},
            "scored.npy": "false for augmented copies: never validated nor scored as holdout",
        })

    @classmethod
    def load(cls, directory: str | Path, y: Sequence[Any] | np.ndarray | None = None) -> Partition:
        """Read a saved partition; with ``y``, also check the labels still match."""
        directory = Path(directory)
        for name in (_JSON, _NPY, _SCORED):
            if not (directory / name).is_file():
                raise PixelboardError(f"no saved partition: {directory / name} is missing")
        fix = "delete it and run `pixelboard leaderboard` again (the same partition is rebuilt from the labels and seed)"
        meta = read_record(directory / _JSON, {"format_version": int}, "saved partition", fix=fix)
        if meta.get("format_version") != FORMAT_VERSION:
            raise PixelboardError(f"{directory / _JSON} has format_version {meta.get('format_version')!r}; "
                                  f"this pixelboard reads version {FORMAT_VERSION} — start a new run directory "
                                  "(--run NEW_NAME) or delete the old one")
        read_record(directory / _JSON, {"n_rows": int, "n_folds": int, "seed": int, "holdout_fraction": (int, float),
                                        "labels_fingerprint": str, "holdout_rows": int}, "saved partition", fix=fix)
        group_fold = read_npy(directory / _NPY, fix=fix)
        scored = read_npy(directory / _SCORED, fix=fix)
        if group_fold.shape != scored.shape:
            raise PixelboardError(f"{directory / _NPY} and {directory / _SCORED} differ in length — "
                                  "the run directory is damaged")
        part = cls.from_assignment(group_fold, scored, n_folds=int(meta["n_folds"]), seed=int(meta["seed"]),
                                holdout_fraction=float(meta["holdout_fraction"]),
                                labels_fingerprint=str(meta["labels_fingerprint"]),
                                groups_fingerprint=str(meta.get("groups_fingerprint", "")))
        if part.n_rows != meta["n_rows"] or part.holdout.size != meta["holdout_rows"]:
            raise PixelboardError(f"{directory / _NPY} does not match {directory / _JSON} "
                                  f"({part.n_rows} rows vs {meta['n_rows']}) — the run directory is damaged")
        if y is not None:
            part.check_matches(y)
        return part

    @classmethod
    def from_assignment(cls, group_fold: np.ndarray, scored: np.ndarray, *, n_folds: int, seed: int,
                        holdout_fraction: float, labels_fingerprint: str = "",
                        groups_fingerprint: str = "") -> Partition:
        """Build the index arrays from each row's group fold (0..k-1, -1 holdout, -2 always train)."""
        group_fold = np.asarray(group_fold, dtype=np.int64)
        scored = np.asarray(scored, dtype=bool)
        in_cv = (group_fold >= 0) | (group_fold == _ALWAYS_TRAIN)
        folds = tuple((np.flatnonzero(in_cv & (group_fold != f)), np.flatnonzero(scored & (group_fold == f)))
                      for f in range(n_folds))
        return cls(np.flatnonzero(scored & (group_fold == HOLDOUT)), folds, int(group_fold.size), int(seed),
                   float(holdout_fraction), labels_fingerprint, groups_fingerprint)


def make_partition(y: Sequence[Any] | np.ndarray, *, groups: Sequence[Any] | np.ndarray | None = None,
                   scored: Sequence[bool] | np.ndarray | None = None, holdout_fraction: float = 0.2,
                   n_folds: int = 5, seed: int = 0) -> Partition:
    """Stratified (group-aware) holdout, then ``n_folds`` stratified group folds over the rest.

    Every class needs at least ``n_folds + 1`` scored units (images, or groups when ``groups`` is given)
    that hold it with a holdout, ``n_folds`` without: each fold validates one and the holdout gets one.
    """
    labels = _as_list(y)
    n = len(labels)
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise PixelboardError(f"n_folds must be an integer of at least 2, got {n_folds!r}")
    if not 0.0 <= float(holdout_fraction) <= 0.5:
        raise PixelboardError(f"holdout fraction must be between 0 and 0.5, got {holdout_fraction!r}")
    y_codes, classes = _encode(labels, "label")
    if len(classes) < 2:
        raise PixelboardError(f"need at least 2 classes, found {len(classes)}: {classes!r}")
    unit = np.arange(n) if groups is None else _encode(_checked_len(_as_list(groups), n, "groups"), "group")[0]
    is_scored = (np.ones(n, dtype=bool) if scored is None
                 else np.asarray(_checked_len(_as_list(scored), n, "scored"), dtype=bool))
    mix = UnitClasses.count(unit, y_codes, is_scored, len(classes))
    grouped = groups is not None and np.unique(unit).size < n  # some images share a group
    _check_class_sizes(mix.holding, classes, n_folds, holdout_fraction > 0, grouped=grouped)

    rng = np.random.default_rng(seed)
    members = _units_by_class(mix.label, len(classes), rng)
    unit_fold = np.full(mix.label.size, _ALWAYS_TRAIN, dtype=np.int64)
    for c, taken in enumerate(_holdout_counts(members, holdout_fraction, n_folds, rng)):
        unit_fold[members[c][:taken]] = HOLDOUT
        members[c] = members[c][taken:]
    _assign_folds(members, mix, unit_fold, n_folds)
    if mix.mixed:  # single-label units meet the class-size check by construction; mixed ones are checked
        _check_every_part_sees_every_class(mix, unit_fold, classes, n_folds, holdout_fraction > 0)

    return Partition.from_assignment(unit_fold[unit], is_scored, n_folds=int(n_folds), seed=int(seed),
                                  holdout_fraction=float(holdout_fraction),
                                  labels_fingerprint=labels_fingerprint(labels),
                                  groups_fingerprint=groups_fingerprint(unit))


def _as_list(values: Any) -> list[Any]:
    if isinstance(values, np.ndarray) and values.ndim != 1:
        raise PixelboardError(f"expected one value per image, got an array of shape {values.shape}")
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _checked_len(values: list[Any], n: int, what: str) -> list[Any]:
    if len(values) != n:
        raise PixelboardError(f"{what} has {len(values)} entries but there are {n} labels")
    return values


def _encode(values: list[Any], what: str) -> tuple[np.ndarray, list[Any]]:
    """Integer codes in order of first appearance (works for any hashable, mixed types included)."""
    index: dict[Any, int] = {}
    codes = np.empty(len(values), dtype=np.int64)
    for row, value in enumerate(values):
        if value is None or value != value:  # None / NaN: a missing label or group key
            raise PixelboardError(f"{what} of row {row} is missing ({value!r})")
        codes[row] = index.setdefault(value, len(index))
    return codes, list(index)


@dataclass(frozen=True)
class UnitClasses:
    """Each unit's scored rows per class, as (unit, class, rows) triples sorted by unit."""

    unit: np.ndarray
    cls: np.ndarray
    rows: np.ndarray
    n_units: int
    n_classes: int

    @staticmethod
    def count(unit: np.ndarray, y: np.ndarray, scored: np.ndarray, k: int) -> "UnitClasses":
        n_units = int(unit.max()) + 1 if unit.size else 0
        keys, rows = np.unique(unit[scored] * k + y[scored], return_counts=True)
        return UnitClasses(keys // k, keys % k, rows, n_units, k)

    @property
    def holding(self) -> np.ndarray:
        """Per class, the number of units with at least one scored row of it."""
        return np.bincount(self.cls, minlength=self.n_classes)

    @property
    def size(self) -> np.ndarray:
        """Per unit, its number of scored rows."""
        return np.bincount(self.unit, weights=self.rows, minlength=self.n_units).astype(np.int64)

    @property
    def mixed(self) -> bool:
        return bool(np.any(self.unit[1:] == self.unit[:-1]))

    @property
    def label(self) -> np.ndarray:
        """Per unit, the class it is placed under (-1: no scored row): its rarest class, fewest units
        holding it first (ties: the lower class index); for a single-label unit, its label."""
        order = np.lexsort((self.cls, self.holding[self.cls], self.unit))
        u, c = self.unit[order], self.cls[order]
        first = np.r_[True, u[1:] != u[:-1]] if u.size else np.zeros(0, dtype=bool)
        label = np.full(self.n_units, -1, dtype=np.int64)
        label[u[first]] = c[first]
        return label

    def rows_by_class(self, units: np.ndarray) -> np.ndarray:
        """Scored rows per class over ``units``."""
        chosen = np.isin(self.unit, units)
        return np.bincount(self.cls[chosen], weights=self.rows[chosen], minlength=self.n_classes)


def _check_class_sizes(holding: np.ndarray, classes: list[Any], n_folds: int, holdout: bool,
                       grouped: bool) -> None:
    need = n_folds + int(holdout)
    small = [c for c in np.argsort(holding, kind="stable") if holding[c] < need]
    if not small:
        return
    noun = "groups that hold it" if grouped else "images"
    why = f"1 holdout + {n_folds} folds" if holdout else f"1 per fold × {n_folds}"
    others = ", ".join(f"{classes[c]!r} ({holding[c]})" for c in small[1:6])
    more = f"; also too small: {others}{' …' if len(small) > 6 else ''}" if others else ""
    raise PixelboardError(
        f"class {classes[small[0]]!r} has {holding[small[0]]} {noun}; every class needs at least {need} "
        f"({why}) — add images or drop the class{more}")


def _check_every_part_sees_every_class(mix: UnitClasses, unit_fold: np.ndarray, classes: list[Any], n_folds: int,
                                       holdout: bool) -> None:
    """Groups holding several classes: enough groups per class does not guarantee that each part got one."""
    parts = ([("the holdout", HOLDOUT)] if holdout else []) + [(f"fold {f + 1}", f) for f in range(n_folds)]
    for name, part in parts:
        missing = np.flatnonzero(mix.rows_by_class(np.flatnonzero(unit_fold == part)) == 0)
        if missing.size:
            c = missing[0]
            raise PixelboardError(
                f"class {classes[c]!r} is held by {mix.holding[c]} groups, but they could not be spread so that "
                f"{name} has one (its groups also hold rarer classes): add groups with {classes[c]!r}, use fewer "
                "folds, or drop the class")


def _units_by_class(unit_label: np.ndarray, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = np.argsort(unit_label, kind="stable")
    order = order[unit_label[order] >= 0]
    bounds = np.cumsum(np.bincount(unit_label[order], minlength=k))[:-1]
    return [rng.permutation(part) for part in np.split(order, bounds)]


def _holdout_counts(members: list[np.ndarray], fraction: float, n_folds: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Largest-remainder allocation of round(fraction * units), at least 1 per class, >= n_folds left."""
    counts = np.array([m.size for m in members])
    if fraction == 0:
        return np.zeros_like(counts)
    exact = fraction * counts
    take = np.floor(exact).astype(np.int64)
    short = int(round(fraction * counts.sum())) - int(take.sum())
    take[np.lexsort((rng.random(counts.size), take - exact))[:short]] += 1
    # A class can have no units of its own when each group holding it holds a rarer class too.
    room = np.maximum(counts - n_folds, 0)
    return np.clip(take, np.minimum(1, room), room)


def _assign_folds(members: list[np.ndarray], mix: UnitClasses, unit_fold: np.ndarray, n_folds: int) -> None:
    """Per class, biggest groups first, each to the fold with the fewest scored rows of that class
    (ties: fewest rows overall): balanced sizes and every fold sees every class. A group's rows of
    other classes count for those classes when their turn comes."""
    size = mix.size
    multi = {}  # the mixed units' rows per class: (classes, rows)
    if mix.mixed:
        bounds = np.flatnonzero(np.r_[True, mix.unit[1:] != mix.unit[:-1], True])
        for a, b in zip(bounds[:-1], bounds[1:]):
            if b - a > 1:
                multi[int(mix.unit[a])] = (mix.cls[a:b], mix.rows[a:b])
    class_rows = np.zeros((n_folds, mix.n_classes), dtype=np.int64)
    totals = [0] * n_folds
    for c, units in enumerate(members):
        for u in units[np.argsort(-size[units], kind="stable")]:
            f = min(range(n_folds), key=lambda i: (class_rows[i, c], totals[i]))
            unit_fold[u] = f
            if int(u) in multi:
                held, rows = multi[int(u)]
                class_rows[f, held] += rows
            else:
                class_rows[f, c] += int(size[u])
            totals[f] += int(size[u])
