"""Start-up: how long the quick commands take, as whole processes, and which heavy libraries they import.

    python benchmarks/startup.py [--repeats 5]

Each command runs ``--repeats`` times as a fresh ``python -c "from pixelboard.cli import main; main()" ...``
process (what the ``pixelboard`` script does) after one warm-up run (so the files are in the page
cache); the median wall time is reported against the 1-second target, beside an empty Python start
for reference. A separate ``-X importtime`` run of each lists which of torch, timm, scikit-learn and
pandas it imported. ``export`` reads a tiny finished leaderboard made first (grayscale20, majority).
Results go to ``benchmarks/results/startup.json`` (and are printed).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import cpu_name, load_average, now, versions, write_result

RESULTS = Path(__file__).resolve().parent / "results" / "startup.json"
TARGET_S = 1.0
HEAVY = ("torch", "timm", "sklearn", "pandas")
CLI = "import sys; sys.argv[0] = 'pixelboard'; from pixelboard.cli import main; main()"


def commands(project: Path) -> dict[str, list[str]]:
    return {
        "pixelboard --help": ["--help"],
        "pixelboard featurize --help": ["featurize", "--help"],
        "pixelboard list blueprints": ["list", "blueprints"],
        "pixelboard list backbones": ["list", "backbones"],
        "pixelboard export --format md": ["export", "--project", str(project), "--format", "md"],
    }


def tiny_project(root: Path) -> Path:
    """A finished leaderboard to export: 3 classes x 4 generated images, grayscale20, majority class."""
    import numpy as np
    from PIL import Image

    import pixelboard

    rng = np.random.default_rng(0)
    for c in range(3):
        for i in range(4):
            folder = root / "images" / f"class{c}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    project = pixelboard.Project(root / "project")
    project.featurize(root / "images", backbones=["grayscale20"], workers=0, progress=False)
    project.leaderboard(blueprints=["majority"], blenders=[], folds=2, holdout_fraction=0.25, jobs=1, progress=False)
    return project.path


def wall_seconds(args: list[str], repeats: int) -> list[float]:
    run = [sys.executable, "-c", CLI, *args]
    subprocess.run(run, capture_output=True, check=True)  # warm-up: files in the page cache
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(run, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return times


def heavy_imports(args: list[str]) -> list[str]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", CLI, *args], capture_output=True, text=True,
                          check=True)
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return [name for name in HEAVY if name in imported]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    python_times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        python_times.append(time.perf_counter() - started)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        project = tiny_project(Path(tmp))
        for name, command in commands(project).items():
            times = wall_seconds(command, args.repeats)
            rows[name] = {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
                          "under_target": statistics.median(times) < TARGET_S, "imports": heavy_imports(command)}
    record = {"benchmark": "startup", "date": now(), "target_s": TARGET_S, "repeats": args.repeats,
              "python_start_median_s": round(statistics.median(python_times), 3), "commands": rows,
              "machine": {"cpu": cpu_name(), "load_average_1_5_15min": load_average()}, "versions": versions()}
    print(f"{'command':<32} {'median s':>9} {'min s':>7}  {'< 1 s':<6} heavy imports")
    print(f"{'python -c pass':<32} {record['python_start_median_s']:>9.3f}")
    for name, row in rows.items():
        print(f"{name:<32} {row['median_s']:>9.3f} {row['min_s']:>7.3f}  {'yes' if row['under_target'] else 'NO':<6} "
              f"{', '.join(row['imports']) or '-'}")
    print(f"wrote {write_result(RESULTS, record)}")
    return record


if __name__ == "__main__":
    main()
