"""Majority-class baseline: predicts the training class frequencies for every row.

Every leaderboard needs the floor a model must beat; ``strategy="prior"`` gives calibrated
(constant) probabilities, so log loss is meaningful too, while ``predict`` is the majority class.
"""

from __future__ import annotations

from sklearn.dummy import DummyClassifier

from pixelboard.models.registry import register_blueprint


@register_blueprint("majority", "Majority Class Classifier", short="MAJ", default=True)
def majority(random_state: int = 0, n_jobs: int = 1) -> DummyClassifier:
    # A deterministic strategy: random_state and n_jobs only keep the common factory signature.
    return DummyClassifier(strategy="prior", random_state=random_state)
