"""Data quality: suspicious labels, near-duplicate images and outliers, from saved arrays only.

- **Label issues** come from confident learning (Northcutt et al. 2021, cleanlab) applied to the
  out-of-fold probabilities: every image is judged by a model that never trained on it, so a
  mislabelled image cannot vouch for its own label.
- **Near-duplicates** are pairs whose L2-normalised embeddings have a cosine similarity of at least
  ``threshold``, found block by block (memory grows with the block, never with n x n); above
  ``neighbours.EXACT_UP_TO`` images, among each image's ``DUPLICATE_NEIGHBOURS`` nearest neighbours in an
  HNSW index (insights/neighbours.py): all-pairs is minutes there.
- **Outliers** are ranked by their mean cosine distance to their k nearest neighbours (exact, or from the
  same index on large sets).
"""

from __future__ import annotations

import csv
import io
import logging
import warnings
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path

import numpy as np

from pixelboard import atomic
from pixelboard.errors import PixelboardError
from pixelboard.insights.metrics import validated_rows
from pixelboard.insights.neighbours import nearest, use_index

log = logging.getLogger(__name__)

BLOCK_ELEMENTS = 4_000_000  # similarities held at once (16 MB of float32) while scanning for duplicates
OUTLIER_NEIGHBOURS = 10
DUPLICATE_NEIGHBOURS = 16  # large sets: an image's near-duplicates are looked for among this many neighbours


@dataclass(frozen=True)
class LabelIssue:
    image_id: str
    given: str
    suggested: str  # the most likely other class under the out-of-fold probabilities
    label_quality: float  # cleanlab's self-confidence in the given label: lower = more suspicious
    given_probability: float = float("nan")  # out-of-fold probability of the given label
    suggested_probability: float = float("nan")  # ... and of the suggested class (higher: why it is listed)


class LabelIssues(list):
    """The listed :class:`LabelIssue` records, most suspicious first, with ``expected``: cleanlab's
    estimate of how many of the judged labels are wrong (the confident joint's off-diagonal count)."""

    def __init__(self, issues=(), expected: int | None = None, judged: int = 0):
        super().__init__(issues)
        self.expected = expected
        self.judged = judged


@dataclass(frozen=True)
class NearDuplicate:
    a: str
    b: str
    similarity: float  # cosine similarity of the embeddings, 1.0 = identical
    within: str  # "train" (both training images) or "train-test" (a from X, b from X_other)


@dataclass(frozen=True)
class Outlier:
    image_id: str
    score: float  # mean cosine distance to its nearest neighbours: higher = more unusual


def find_label_issues(oof: np.ndarray, y: np.ndarray, ids: list[str], class_names: list[str]) -> LabelIssues:
    """Images whose given label the cross-validated models find more likely wrong than right, most
    suspicious first: a list a person can work through.

    Order: cleanlab's label quality (self-confidence), lowest first. How many to expect: cleanlab's
    estimate from the confident joint (``LabelIssues.expected``); the list stops there. Which: only
    images whose given label's out-of-fold probability is below that of the most likely other class
    (the evidence favours another label). Neither alone is enough: the disagreement alone lists every
    misclassified image (3x too many on digits, precision 0.36), the count alone can list an image
    whose own label still wins. Measured on planted flips by ``benchmarks/label_issues.py`` (results in
    ``benchmarks/results/label_issues.json``), side by side with cleanlab's own filters: 2,000
    Fashion-MNIST images, 100 flipped, logistic regression on EfficientNet-Lite0 (82% accurate):
    187 listed, recall 0.96, precision 0.51; cleanlab's default filter (prune_by_noise_rate) 0.87 / 0.37;
    every image whose label loses 1.00 / 0.27 (366 listed).

    Holdout rows (NaN in ``oof``) are not judged: no out-of-fold prediction exists for them.
    """
    import cleanlab.count
    import cleanlab.rank

    rows, proba, given = validated_rows(oof, y, ids, class_names)
    if len(np.unique(given)) < 2:
        raise PixelboardError("label issues need cross-validated images of at least 2 classes")
    proba = np.clip(proba, 0.0, None)
    proba /= np.maximum(proba.sum(axis=1, keepdims=True), 1e-12)  # cleanlab insists on rows summing to 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quality = cleanlab.rank.get_label_quality_scores(given, proba, method="self_confidence")
        expected = int(cleanlab.count.num_label_issues(given, proba))
    for warning in caught:  # e.g. "too few examples in class k": a caveat, not a failure
        log.info("cleanlab: %s", warning.message)
    index = np.arange(len(given))
    others = proba.copy()
    others[index, given] = -1.0
    suggested = others.argmax(axis=1)
    given_p, suggested_p = proba[index, given], proba[index, suggested]
    flagged = np.flatnonzero(given_p < suggested_p)
    order = flagged[np.lexsort((flagged, quality[flagged]))][:expected]
    names = [str(n) for n in class_names]
    return LabelIssues([LabelIssue(ids[rows[r]], names[given[r]], names[suggested[r]], float(quality[r]),
                                   float(given_p[r]), float(suggested_p[r])) for r in order], expected, len(given))


def near_duplicates(X: np.ndarray, ids: list[str], X_other: np.ndarray | None = None,
                    ids_other: list[str] | None = None, threshold: float = 0.97,
                    limit: int = 200) -> list[NearDuplicate]:
    """Pairs of images at least ``threshold`` alike, most similar first, at most ``limit``.

    Without ``X_other``: pairs within ``X`` (``within="train"``). With it: pairs across the two sets
    only (``within="train-test"``, ``a`` from ``X``, ``b`` from ``X_other``); call once for each.
    """
    A = _unit_rows(X, ids, "embeddings")
    cross = X_other is not None
    if cross:
        if ids_other is None:
            raise PixelboardError("near_duplicates: X_other needs ids_other")
        B = _unit_rows(X_other, ids_other, "other embeddings")
        if B.shape[1] != A.shape[1]:
            raise PixelboardError(f"the two sets' embeddings differ in width ({A.shape[1]} vs {B.shape[1]}); "
                                  "embed both with the same featurizer")
    else:
        B, ids_other = A, ids
    if not -1.0 <= threshold <= 1.0:
        raise PixelboardError(f"similarity threshold must lie in [-1, 1], got {threshold}")
    within = "train-test" if cross else "train"
    if use_index(len(B)):
        return _indexed_duplicates(A, B, ids, ids_other, cross, threshold, limit, within)
    found_sim, found_a, found_b = np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64)
    block = max(1, min(len(A), BLOCK_ELEMENTS // max(len(B), 1)))
    for start in range(0, len(A), block):
        first = 0 if cross else start  # within one set, each unordered pair once: columns right of the diagonal
        sims = A[start:start + block] @ B[first:].T
        if not cross:
            sims[np.arange(sims.shape[1])[None, :] <= np.arange(sims.shape[0])[:, None]] = -np.inf
        a, b = np.nonzero(sims >= threshold)
        found_sim = np.concatenate([found_sim, sims[a, b]])
        found_a, found_b = np.concatenate([found_a, a + start]), np.concatenate([found_b, b + first])
        if len(found_sim) > 4 * limit:  # keep memory bounded on degenerate data (e.g. blank images)
            keep = np.lexsort((found_b, found_a, -found_sim))[:limit]
            found_sim, found_a, found_b = found_sim[keep], found_a[keep], found_b[keep]
    return _ranked_pairs(found_sim, found_a, found_b, ids, ids_other, limit, within)


def _indexed_duplicates(A, B, ids, ids_other, cross, threshold, limit, within) -> list[NearDuplicate]:
    """Pairs among each row's nearest neighbours in the HNSW index (a row with more than
    ``DUPLICATE_NEIGHBOURS`` near-duplicates keeps only its nearest ones)."""
    sims, neighbours = nearest(A, B, DUPLICATE_NEIGHBOURS, same=not cross)
    a, slot = np.nonzero(sims >= threshold)
    b = neighbours[a, slot]
    found_sim = sims[a, slot]
    if not cross:  # each unordered pair once: (min, max), duplicates of it dropped
        a, b = np.minimum(a, b), np.maximum(a, b)
        _, first = np.unique(a * len(B) + b, return_index=True)
        a, b, found_sim = a[first], b[first], found_sim[first]
    return _ranked_pairs(found_sim, a, b, ids, ids_other, limit, within)


def _ranked_pairs(found_sim, found_a, found_b, ids, ids_other, limit, within) -> list[NearDuplicate]:
    keep = np.lexsort((found_b, found_a, -found_sim))[:limit]
    return [NearDuplicate(ids[found_a[k]], ids_other[found_b[k]], float(min(found_sim[k], 1.0)), within)
            for k in keep]


def outliers(X: np.ndarray, ids: list[str], top: int = 24) -> list[Outlier]:
    """The ``top`` most unusual images, by mean cosine distance to their k=10 nearest neighbours.

    Why not cleanlab's OutOfDistribution: on features it computes this same mean kNN cosine distance
    and then squashes it through exp(-t d), which keeps the ranking but hides the distance; this score
    reads directly (0 = its neighbours are identical to it, 1 = orthogonal to all of them).
    """
    from sklearn.neighbors import NearestNeighbors

    A = _unit_rows(X, ids, "embeddings")
    if len(A) < 2:
        raise PixelboardError("outliers need at least 2 images")
    k = min(OUTLIER_NEIGHBOURS, len(A) - 1)
    if use_index(len(A)):
        sims, _ = nearest(A, A, k, same=True)
        score = (1.0 - sims).mean(axis=1)
    else:
        # kneighbors() without X leaves each image out of its own neighbours; it works in memory-bounded chunks.
        distances, _ = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(A).kneighbors()
        score = distances.mean(axis=1)
    order = np.lexsort((np.arange(len(A)), -score))[:top]
    return [Outlier(ids[i], float(score[i])) for i in order]


def write_csv(records: list, path, record_type: type | None = None) -> Path:
    """One row per record, one column per dataclass field (lists joined with ``;``); written atomically.

    ``record_type`` gives the header when ``records`` is empty.
    """
    record_type = record_type or (type(records[0]) if records else None)
    if record_type is None or not is_dataclass(record_type):
        raise PixelboardError("write_csv needs dataclass records (or record_type for an empty list)")
    names = [f.name for f in fields(record_type)]
    if any(type(r) is not record_type for r in records):
        raise PixelboardError(f"write_csv: every record must be a {record_type.__name__}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for record in records:
        writer.writerow([_cell(getattr(record, n)) for n in names])
    path = Path(path)
    atomic.write_text(path, buffer.getvalue())
    return path


def _cell(value):
    if isinstance(value, (list, tuple)):
        return spreadsheet_safe(";".join(str(v) for v in value))
    if isinstance(value, np.ndarray):
        raise PixelboardError("write_csv: array fields (e.g. ROC curves) do not fit a CSV cell")
    return spreadsheet_safe(value) if isinstance(value, str) else value


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """A text cell a spreadsheet shows as text: a leading ``=``, ``+``, ``-``, ``@``, tab or carriage
    return gets a ``'`` first (OWASP's advice on CSV injection), so a file or class name such as
    ``=HYPERLINK(...)`` is never run as a formula. Numbers are written as numbers, untouched."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _unit_rows(X: np.ndarray, ids: list[str], what: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] != len(ids):
        raise PixelboardError(f"{what} have shape {X.shape} but there are {len(ids)} ids")
    if not np.isfinite(X).all():
        raise PixelboardError(f"{what} hold NaN or infinite values; re-run `pixelboard featurize`")
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norms, 1e-12)  # an all-zero row stays zero: similar to nothing
