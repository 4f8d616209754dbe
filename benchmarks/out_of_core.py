"""Out-of-core featurize: first run, no-change rerun and peak RSS on real Fashion-MNIST PNG files.

    python benchmarks/out_of_core.py [--images 5000] [--backbone grayscale20] [--label after]
                                     [--pythonpath DIR]   # run another copy of pixelboard (the "before" code)

``featurize_s`` is the ``featurize`` call after the imports (``imports_s``, torch included). Each run
is its own process (``pixelboard.Project(...).featurize``), so its peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is its own. The figures of one label are merged into
``benchmarks/results/out_of_core.json`` beside the other labels, with the load average at the time:
the machine is shared, so compare labels measured close together.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import load_average, machine

from pixelboard.datasets import fashion_mnist

RESULTS = Path(__file__).resolve().parent / "results" / "out_of_core.json"

CHILD = r"""
import json, resource, sys, time
started = time.perf_counter()
import pixelboard, pixelboard.featurizers.pipeline, pixelboard.datasets  # imports (torch) timed apart
imported = time.perf_counter()
project, images, backbone = sys.argv[1:4]
results = pixelboard.Project(project).featurize(images, backbones=backbone, random_weights=backbone != "grayscale20",
                                                device="cpu", progress=False)
done = time.perf_counter()
print(json.dumps({"featurize_s": round(done - imported, 3), "process_s": round(done - started, 3),
                  "imports_s": round(imported - started, 3),
                  "computed": results[0].n_computed, "cached": results[0].n_cached,
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def run_once(project: Path, images: Path, backbone: str, pythonpath: str | None) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, str(project), str(images), backbone], env=env,
                         capture_output=True, text=True, check=True)
    record = json.loads(out.stdout.strip().splitlines()[-1])
    record["wall_s"] = round(time.perf_counter() - started, 3)
    record["load_average_1_5_15min"] = load_average()
    return record


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--backbone", default="grayscale20")
    parser.add_argument("--label", default="after")
    parser.add_argument("--pythonpath", default=None, help="directory holding another pixelboard package")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        images, labels = fashion_mnist.load("test")
        chosen = fashion_mnist.balanced_subset(labels, per_class=-(-args.images // 10), seed=0)[:args.images]
        folder = fashion_mnist.write_class_folders(Path(tmp) / "images", images[chosen], labels[chosen])
        time.sleep(2.5)  # the files are older than any racy-timestamp margin, as a user's files would be
        project = Path(tmp) / "project"
        first = run_once(project, folder, args.backbone, args.pythonpath)
        rerun = run_once(project, folder, args.backbone, args.pythonpath)
    record = {"images": args.images, "backbone": args.backbone, "first_run": first, "no_change_rerun": rerun,
              "rerun_over_first_featurize": round(rerun["featurize_s"] / first["featurize_s"], 4),
              "machine": machine(), "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    results = json.loads(args.output.read_text()) if args.output.is_file() else {}
    results.setdefault("runs", {})[f"{args.label}/{args.backbone}/{args.images}"] = record
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
