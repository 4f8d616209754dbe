"""Leaderboard: shared partition, metrics, blueprint evaluation, ranking, blenders and reports."""
