"""--time-budget: fit estimates, admission on the workers, a run that stops in time and resumes."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner
from conftest import write_embedding_project

from pixelboard.cli import main
from pixelboard.leaderboard.budget import MIN_PRIOR, ROW_EXPONENT, SAFETY, TASK_OVERHEAD, FitEstimator, TimeBudget
from pixelboard.leaderboard.runner import LeaderboardOptions, run_leaderboard
from pixelboard.project import Project


def test_estimates_scale_measured_fits_by_rows_then_columns_else_a_prior():
    estimator = FitEstimator()
    assert estimator.seconds("lr_l2", "a", 10, 10) == pytest.approx(SAFETY * MIN_PRIOR + TASK_OVERHEAD)
    big_prior = estimator.seconds("xgboost", "a", 10_000, 2_000)
    assert big_prior > 100 * estimator.seconds("lr_l2", "a", 10, 10)
    estimator.observe("xgboost", "a", train_rows=1_000, columns=2_000, seconds=2.0)
    assert estimator.seconds("xgboost", "a", 4_000, 2_000) == pytest.approx(
        SAFETY * 2.0 * 4 ** ROW_EXPONENT + TASK_OVERHEAD)  # a 16% fit predicts its 64% fold
    assert estimator.seconds("xgboost", "b", 1_000, 500) == pytest.approx(SAFETY * 0.5 + TASK_OVERHEAD)
    estimator.observe("xgboost", "b", train_rows=1_000, columns=500, seconds=3.0)  # its own measure wins
    assert estimator.seconds("xgboost", "b", 1_000, 500) == pytest.approx(SAFETY * 3.0 + TASK_OVERHEAD)


def test_admission_places_folds_on_the_workers_and_refuses_what_would_end_late():
    budget = TimeBudget(10.0, jobs=2)
    assert budget.admit([4.0, 4.0])  # two workers: both end at 4 s
    assert budget.admit([4.0, 4.0])  # then at 8 s
    assert not budget.admit([3.0]) and budget.stopped  # would end at 11 s
    assert budget.admit([1.5])  # a shorter fit still fits
    budget.reserve = 1.0
    assert not budget.admit([0.4])  # the closing steps keep their reserve: 9.5 + 0.4 > 9
    unlimited = TimeBudget(None, jobs=1)
    assert unlimited.admit([1e9]) and not unlimited.stopped and unlimited.left() == float("inf")


def test_admission_plans_on_the_workers_a_memory_limit_leaves():
    """--max-memory can run a stage's fits one at a time: the budget then plans them on one worker."""
    two, one = TimeBudget(6.0, jobs=2), TimeBudget(6.0, jobs=2)
    one.use_workers(1)
    assert two.admit([4.0, 4.0])  # side by side: both end at 4 s
    assert not one.admit([4.0, 4.0])  # one after the other: 8 s
    one.use_workers(2)  # a later stage with room for two again
    assert one.admit([4.0, 4.0])


def as_text(rows):
    return json.dumps([(r["id"], r["scores"]) for r in rows])


def test_a_budget_stops_the_run_in_time_and_the_rerun_fits_only_the_missing_rows(tmp_path):
    featurizers = tuple(f"f{i}" for i in range(6))
    root = write_embedding_project(tmp_path / "p", per_class=60, dims=64, featurizers=featurizers, separation=0.6)
    project = Project(root)
    options = dict(mode="comprehensive", blueprints=["lr_l2"], blenders=[], progress=False, jobs=1)
    run_leaderboard(project, LeaderboardOptions(run="warm-up", featurizers=["f0"], **options))  # imports, caches
    whole = run_leaderboard(project, LeaderboardOptions(run="whole", **options))
    budget = whole.seconds / 2
    started = time.perf_counter()
    cut = run_leaderboard(project, LeaderboardOptions(run="cut", time_budget=budget, **options))
    wall = time.perf_counter() - started
    assert wall <= 1.1 * budget, (wall, budget)
    assert 0 < cut.n_fitted < len(featurizers)
    assert cut.skipped.startswith(f"time budget of {budget:g} s: skipped {len(featurizers) - cut.n_fitted} row(s)")
    assert "run again (with a larger --time-budget) to resume" in cut.skipped and "\n" not in cut.skipped
    rest = run_leaderboard(project, LeaderboardOptions(run="cut", **options))
    assert rest.n_fitted == len(featurizers) - cut.n_fitted and not rest.skipped
    assert as_text(rest.rows) == as_text(whole.rows)  # the resumed run is the uninterrupted one


def test_a_budget_that_admits_nothing_is_a_one_line_error(embedding_project):
    out = CliRunner().invoke(main, ["leaderboard", "--project", str(embedding_project), "--quiet", "--jobs", "1",
                                    "--time-budget", "0.001"])
    assert out.exit_code == 1 and len(out.output.strip().splitlines()) == 1, out.output
    assert "time budget of 0.001 s: skipped" in out.output and "no row finished" in out.output


def test_the_cli_says_what_the_budget_skipped(tmp_path):
    # A budget of two rows' prior estimate (what the first row is judged by, nothing being measured yet):
    # the first row always starts, and six rows of real fits cannot all follow within it. (Half a warm
    # run's time was the budget before: on a quiet machine that is less than the first row's prior, and
    # nothing started.)
    from pixelboard.leaderboard.budget import SAFETY, TASK_OVERHEAD, FitEstimator

    featurizers = tuple(f"f{k}" for k in range(6))
    root = write_embedding_project(tmp_path / "p", per_class=60, dims=64, featurizers=featurizers)
    args = ["leaderboard", "--project", str(root), "--quiet", "--jobs", "1", "--mode", "comprehensive",
            "--blueprints", "lr_l2", "--blenders", ""]
    fold_rows = int(3 * 60 * 0.8 * 0.8)
    one_row = 5 * (SAFETY * FitEstimator().seconds("lr_l2", "f0", fold_rows, 64) + TASK_OVERHEAD)
    cut = CliRunner().invoke(main, args + ["--time-budget", f"{2 * one_row:.3f}"])
    assert cut.exit_code == 0, cut.output
    assert "time budget of" in cut.output and "to resume" in cut.output and "Leaderboard" in cut.output
