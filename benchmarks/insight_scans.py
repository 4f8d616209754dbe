"""The report's data-quality scans (near-duplicates, outliers) at 2,000 / 20,000 / 70,000 real images.

    python benchmarks/insights.py --scan-sizes 2000,20000,70000 [--scan-input-size 64] [--exact-up-to 20000]

Real embeddings: every Fashion-MNIST image (train + test, 70,000) embedded once by efficientnet_lite0
(bundled ImageNet weights) through OpenVINO fp32 (the same rows as torch to 1e-6) at ``--scan-input-size``
pixels (64 by default: the 28-pixel images lose nothing, and the embedding keeps its 1,752 columns), kept
in ``--embeddings`` for reruns. At each size, the first n rows of a seeded permutation are scanned as the
report scans them (``near_duplicates`` within the set, ``outliers``), timed; where n <= ``--exact-up-to``,
both exactly and through the HNSW index (forced), with the index's recall of the exact near-duplicate
pairs and of the exact top-24 outliers. Written into the ``scans`` field of ``benchmarks/results/insights.json``.
Only the scans: a full report at 70,000 images needs a leaderboard at 70,000 (hours on 2 cores).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from common import load_average, machine, now, versions, write_result

from pixelboard.datasets import fashion_mnist
from pixelboard.insights import data_quality, neighbours

TARGET_SECONDS_70K = 300


def embeddings(path: Path, input_size: int, batch_size: int = 64) -> np.ndarray:
    if path.exists():
        return np.load(path)
    import torch
    from PIL import Image

    from pixelboard.featurizers import create_featurizer

    featurizer = create_featurizer("efficientnet_lite0", device="cpu", runtime="openvino", input_size=input_size)
    images = np.concatenate([fashion_mnist.load("train")[0], fashion_mnist.load("test")[0]])
    pre = featurizer.preprocessor
    started, blocks = time.perf_counter(), []
    for start in range(0, len(images), batch_size):
        arrays = np.stack([pre(Image.fromarray(img).convert("RGB")) for img in images[start:start + batch_size]])
        blocks.append(featurizer.embed(torch.from_numpy(arrays)))
    X = np.concatenate(blocks)
    print(f"embedded {len(X):,} images in {time.perf_counter() - started:.0f} s ({featurizer.entry_name()})", flush=True)
    np.save(path, X)
    return X


def timed(scan) -> tuple[float, object]:
    started = time.perf_counter()
    result = scan()
    return time.perf_counter() - started, result


def scan(X: np.ndarray, ids: list[str], exact_up_to: int | None) -> tuple[dict, list, list]:
    """Both scans with the index threshold ``exact_up_to`` (None: the library's); seconds and results."""
    saved = neighbours.EXACT_UP_TO
    neighbours.EXACT_UP_TO = saved if exact_up_to is None else exact_up_to
    try:
        dup_s, dups = timed(lambda: data_quality.near_duplicates(X, ids))
        out_s, outs = timed(lambda: data_quality.outliers(X, ids))
        pairs_s, pairs = timed(lambda: data_quality.near_duplicates(X, ids, limit=10 ** 7))  # every pair, for recall
    finally:
        neighbours.EXACT_UP_TO = saved
    return {"near_duplicates_seconds": round(dup_s, 2), "outliers_seconds": round(out_s, 2),
            "scans_seconds": round(dup_s + out_s, 2), "pairs_found": len(pairs)}, pairs, outs


def run(args) -> int:
    sizes = [int(s) for s in args.scan_sizes.split(",")]
    X_all = embeddings(args.embeddings, args.scan_input_size)
    order = np.random.default_rng(0).permutation(len(X_all))
    load_before = load_average()
    results = []
    for n in sizes:
        rows = order[:n]
        X, ids = X_all[rows], [f"fmnist_{i}" for i in rows]
        method = "hnsw" if neighbours.use_index(n) else "exact"
        entry = {"images": n, "method": method}
        default, pairs, outs = scan(X, ids, None)
        entry.update(default)
        if n <= args.exact_up_to:  # the other method too, and the index's recall against exact search
            other, other_pairs, other_outs = scan(X, ids, 0 if method == "exact" else 10 ** 9)
            exact_pairs, exact_outs = (pairs, outs) if method == "exact" else (other_pairs, other_outs)
            index_pairs, index_outs = (other_pairs, other_outs) if method == "exact" else (pairs, outs)
            exact_set = {(d.a, d.b) for d in exact_pairs}
            entry["other_method"] = {"method": "hnsw" if method == "exact" else "exact", **other}
            entry["index_recall"] = {
                "near_duplicate_pairs": round(len(exact_set & {(d.a, d.b) for d in index_pairs}) / max(len(exact_set), 1), 4),
                "top_outliers": round(len({o.image_id for o in exact_outs} & {o.image_id for o in index_outs})
                                      / max(len(exact_outs), 1), 4)}
        print(json.dumps(entry), flush=True)
        results.append(entry)
    exact = [e for e in results if e["method"] == "exact" or e.get("other_method", {}).get("method") == "exact"]
    if exact:  # exact all-pairs grows as n^2: the largest measured exact scan, scaled to the largest size
        big = max(exact, key=lambda e: e["images"])
        seconds = big["scans_seconds"] if big["method"] == "exact" else big["other_method"]["scans_seconds"]
        extrapolated = {"from_images": big["images"], "to_images": sizes[-1],
                        "exact_scans_seconds": round(seconds * (sizes[-1] / big["images"]) ** 2, 1)}
    record = json.loads(args.output.read_text()) if args.output.exists() else {"benchmark": "insights"}
    record["scans"] = {
        "date": now(), "embeddings": f"efficientnet_lite0-{args.scan_input_size}px-openvino (1752 columns), "
        "Fashion-MNIST train + test, seeded permutation", "exact_up_to": neighbours.EXACT_UP_TO,
        "hnsw": {"M": neighbours.HNSW_M, "ef_construction": neighbours.HNSW_EF_CONSTRUCTION,
                 "ef_search": neighbours.HNSW_EF_SEARCH, "threads": 1},
        "sizes": results, "exact_extrapolated_n_squared": extrapolated if exact else None,
        "target_seconds_at_70000": TARGET_SECONDS_70K, "load_average_before": load_before,
        "load_average_after": load_average(), "machine": machine(), "versions": versions(),
        "note": "the scans only (near_duplicates within the set + outliers), not a whole report",
    }
    write_result(args.output, record)
    print(f"-> {args.output}")
    return 0
