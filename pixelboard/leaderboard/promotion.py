"""The autopilot's promotion rule: which rows get full CV without screening, which are screened, which join.

Measured on four real image sets (issue 18): on CNN embeddings the cheap blueprints (L2 LR, the MLP)
win or are within a point of the winner, while screening on 16% and 32% of a small set favours the
boosters (they climb faster early) and so starved the winners of full CV. Hence:

- **sure rows** -- the cheap blueprints (``QUICK_BLUEPRINTS``) on every embedding featurizer that is
  not the grayscale baseline's, and the baseline -- always get full CV, first, without screening;
- **screened rows** -- everything else (boosters, the majority class, the MLP on grayscale20) -- are
  screened on fold 1 at 16% then 32%, cheapest first, only while their static screening cost stays
  within ``SCREEN_SHARE`` of the sure rows' (so screening cannot cost more than a fraction of quick);
- a screened row is promoted to full CV when its learning curve, extended one doubling along its
  slope (``projected_score``), beats the best sure row's Validation on the same fold-1 images by more
  than that row's CV standard error: a row still climbing at 32% may overtake, a flat one may not.

All decisions use scores and static cost priors only (never the clock): the same seed gives the same
leaderboard on any machine.
"""

from __future__ import annotations

import logging
import math
from typing import Callable

from pixelboard.leaderboard.autopilot import BASELINE, PIXELS, QUICK_BLUEPRINTS, Candidate

log = logging.getLogger(__name__)

# Share of the sure rows' static full-CV cost (budget.prior_cost) that screening may spend. Both
# stages count (a row screened at 16% and 32% costs 0.75 of one full-size fold). 0.15 admits LightGBM
# on a CNN featurizer (0.75 x 2x LR's per-cell prior = 0.15 of LR + MLP x 5 folds) and the cheap
# grayscale rows; the costlier boosters only where the sure rows are many (several featurizers).
SCREEN_SHARE = 0.15
PROMOTE_SCREENED = 2  # at most this many screened rows join the sure ones


def is_sure(candidate: Candidate, inputs: Callable[[str], str]) -> bool:
    """Cheap winners on embeddings (never the pixels rows), and the baseline."""
    if candidate.is_baseline:
        return True
    return (candidate.blueprint in QUICK_BLUEPRINTS and inputs(candidate.featurizer) != PIXELS
            and not candidate.featurizer.startswith(BASELINE[1]))


def split_sure(candidates: list[Candidate], inputs: Callable[[str], str]) -> tuple[list[Candidate], list[Candidate]]:
    """(sure, screened), each in plan order."""
    sure = [c for c in candidates if is_sure(c, inputs)]
    return sure, [c for c in candidates if c not in sure]


def within_allowance(screened: list[Candidate], sure: list[Candidate], cost: Callable[[Candidate], float],
                     screening_share: float, folds: int) -> tuple[list[Candidate], list[Candidate]]:
    """(admitted, passed over): the screened rows, cheapest first (ties: plan order), admitted while
    their screening cost (``screening_share`` of one full-size fold each) totals at most
    ``SCREEN_SHARE`` x the sure rows' full-CV cost. Without sure rows (``--blueprints`` named only
    costly ones) every row is screened, as there is nothing cheaper to fall back on."""
    if not sure:
        return list(screened), []
    allowance = SCREEN_SHARE * folds * sum(cost(c) for c in sure)
    admitted, spent = [], 0.0
    for c in sorted(screened, key=cost):  # sorted is stable: equal costs keep plan order
        if spent + screening_share * cost(c) <= allowance:
            admitted.append(c)
            spent += screening_share * cost(c)
    passed = [c for c in screened if c not in admitted]
    if passed:
        log.info("autopilot: not screened (their screening would cost more than %g of the cheap rows' CV): %s",
                 SCREEN_SHARE, ", ".join(f"{c.blueprint} on {c.featurizer}" for c in passed))
    return [c for c in screened if c in admitted], passed


def projected_score(curve: list[tuple[float, float]], target_pct: float) -> float:
    """The learning curve ``[(sample %, score), ...]`` extended to ``target_pct`` along its last slope
    per doubling of the sample (a flat or falling curve stays at its last point: extrapolating a fall
    would only reward noise). One point: that point."""
    points = sorted(curve)
    pct, score = points[-1]
    if len(points) < 2 or target_pct <= pct:
        return score
    (p0, s0), (p1, s1) = points[-2], points[-1]
    slope = max(0.0, (s1 - s0) / math.log2(p1 / p0))
    return score + slope * math.log2(target_pct / pct)


def promote_screened(curves: dict[Candidate, list[tuple[float, float]]], target_pct: float,
                     bar: float | None, top: int = PROMOTE_SCREENED) -> list[Candidate]:
    """The screened rows whose projected score beats ``bar`` (the best sure row's Validation plus its
    CV standard error; None: no sure rows, the best ``top`` are promoted), best first, at most ``top``."""
    projected = {c: projected_score(points, target_pct) for c, points in curves.items() if points}
    ranked = sorted(projected, key=lambda c: -projected[c])  # stable: ties keep plan order
    return [c for c in ranked if bar is None or projected[c] > bar][:top]


def promotion_bar(sure_rows: list[dict], metric, shifted: bool) -> float | None:
    """The best sure row's oriented fold-1 Validation + its CV standard error (std / sqrt(folds))."""
    key = "scores_shifted" if shifted else "scores"
    best = None
    for row in sure_rows:
        score = row[key][metric.name]
        value = metric.oriented(score["validation"])
        if value == value and (best is None or value > best[0]):
            folds = max(1, int(row.get("spec", {}).get("folds", 5)))
            best = (value, (score["cv_std"] if score["cv_std"] == score["cv_std"] else 0.0) / math.sqrt(folds))
    return None if best is None else best[0] + best[1]
