"""Insights on a finished leaderboard: per-class metrics, data quality, embedding maps, activation maps.

Everything here reads saved arrays (out-of-fold probabilities, embeddings) and fitted models; only
activation maps run the backbone again. Submodules are imported on use: this package imports no
torch, sklearn or cleanlab at import time.
"""
