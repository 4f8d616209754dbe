"""``leaderboard --max-memory``: fewer fits side by side when --jobs of a stage's largest would not fit;
the same rows either way."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_embedding_project

from pixelboard.errors import PixelboardError
from pixelboard.leaderboard import memory
from pixelboard.leaderboard.memory import GB, WORKER_BYTES, fit_bytes, parallel_fits
from pixelboard.leaderboard.runner import LeaderboardOptions, run_leaderboard
from pixelboard.project import Project


def test_parallel_fits_lowers_jobs_only_as_far_as_the_limit_needs(monkeypatch):
    monkeypatch.setattr(memory, "resident_bytes", lambda: 1 * GB)
    fit = 1.5 * GB  # + a worker's libraries: 2 GB a fit
    assert parallel_fits(4, None, fit, 0) == 4  # no limit
    assert parallel_fits(4, 9.0, fit, 0) == 4  # 1 GB here + 4 x 2 GB
    assert parallel_fits(4, 7.5, fit, 0.5 * GB) == 3  # 1 + 0.5 shared + 3 x 2 = 7.5
    assert parallel_fits(4, 4.0, fit, 0) == 1
    assert parallel_fits(4, 0.1, fit, 0) == 1  # one fit always runs
    assert fit + WORKER_BYTES == 2 * GB


def test_fit_estimates_follow_the_measured_factors():
    rows, columns = 44_800, 1_752  # the 70,000-image run's fold: 314 MB of float32 rows
    assert fit_bytes("lr_l2", rows, columns) / GB == pytest.approx(1.57, abs=0.01)
    assert fit_bytes("mlp", rows, columns) / GB == pytest.approx(1.32, abs=0.01)
    assert fit_bytes("xgboost", rows, columns) == fit_bytes("lr_l2", rows, columns)  # not measured: like the LR
    assert fit_bytes("majority", rows, columns) == 0


def test_a_memory_limit_runs_fewer_fits_at_once_and_gives_the_same_rows(tmp_path):
    root = write_embedding_project(tmp_path / "p", per_class=40, featurizers=("fake_a",))
    project = Project(root)

    def board(run, **options):
        return run_leaderboard(project, LeaderboardOptions(run=run, jobs=2, blueprints=["lr_l2", "majority"],
                                                           blenders=[], mode="comprehensive", progress=False,
                                                           **options))

    free, limited = board("free"), board("limited", max_memory_gb=0.001)
    assert [(r["id"], r["scores"]) for r in free.rows] == [(r["id"], r["scores"]) for r in limited.rows]
    for row in free.rows:
        np.testing.assert_array_equal(*(np.load(b.directory / "models" / row["id"] / "oof.npy") for b in (free, limited)))
    with pytest.raises(PixelboardError, match="memory limit must be more than 0 GB"):
        board("bad", max_memory_gb=0)


def test_the_lowered_count_is_logged(tmp_path, caplog):
    root = write_embedding_project(tmp_path / "p", per_class=20, featurizers=("fake_a",))
    with caplog.at_level("INFO", logger="pixelboard.leaderboard.runner"):
        run_leaderboard(Project(root), LeaderboardOptions(jobs=2, blueprints=["lr_l2"], blenders=[], mode="quick",
                                                          max_memory_gb=0.001, progress=False))
    assert "--max-memory 0.001 GB: 1 fit(s) at a time for this stage" in caplog.text
