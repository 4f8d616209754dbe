"""``featurize_set`` and ``pixelboard featurize``: the embedding cache (hits, incremental, resume after an
interrupt, fingerprints), atomic outputs and augmentation rows. Bad images and one-line errors are in
test_featurize_errors.py; the command line itself and the run on real images in test_featurize_cli.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import (CLASSES, IMAGES_PER_CLASS, count_decodes, featurize_cli, no_temp_files, random_featurizer,
                      write_image)
from pixelboard import atomic
from pixelboard.datasets import read_image_set
from pixelboard.datasets.images import load_rgb
from pixelboard.errors import PixelboardError
from pixelboard.featurizers import create_featurizer
from pixelboard.featurizers.cache import EmbeddingStore
from pixelboard.featurizers.pipeline import FeaturizeOptions, featurize_set
from pixelboard.project import Project

N_IMAGES = len(CLASSES) * IMAGES_PER_CLASS


def _cnn(**options):
    return random_featurizer("mobilenetv3_small", **options)


def _run(project_dir, image_dir, featurizer, **options):
    """Featurize ``image_dir`` (folder-per-class) in-process, without worker processes."""
    image_set = read_image_set(image_dir, name="train")
    options = FeaturizeOptions(**{"workers": 0, "progress": False, **options})
    return featurize_set(Project(project_dir), image_set, featurizer, options)


def _embeddings(project_dir, featurizer, set_name="train"):
    return Project(project_dir).load_embeddings(set_name, featurizer.entry_name())


def _interrupt_at_batch(featurizer, n: int):
    """Make ``featurizer.embed`` raise KeyboardInterrupt on its ``n``-th batch; returns the original embed."""
    calls, embed = [], featurizer.embed

    def embed_then_interrupt(batch):
        calls.append(len(batch))
        if len(calls) == n:
            raise KeyboardInterrupt
        return embed(batch)

    featurizer.embed = embed_then_interrupt
    return embed


def _forbid_decoding(monkeypatch) -> None:
    def refuse(path, **kwargs):
        raise AssertionError(f"{path} decoded although it is cached")

    monkeypatch.setattr("pixelboard.featurizers.extract.load_rgb", refuse)


# --- the cache ----------------------------------------------------------------------------------------------
def test_second_run_decodes_nothing(tmp_path, class_folder, monkeypatch):
    featurizer = _cnn()
    first = _run(tmp_path / "p", class_folder, featurizer)
    assert (first.n_rows, first.n_computed, first.n_cached) == (N_IMAGES, N_IMAGES, 0)
    matrix = _embeddings(tmp_path / "p", featurizer).matrix.copy()
    assert matrix.shape == (N_IMAGES, featurizer.n_features) and matrix.dtype == np.float32
    np.testing.assert_allclose(matrix[:1], featurizer.transform([load_rgb(class_folder / "cat" / "0.png")]),
                               rtol=1e-5, atol=1e-5)

    _forbid_decoding(monkeypatch)
    second = _run(tmp_path / "p", class_folder, _cnn())
    assert (second.n_rows, second.n_computed, second.n_cached) == (N_IMAGES, 0, N_IMAGES)
    np.testing.assert_array_equal(_embeddings(tmp_path / "p", featurizer).matrix, matrix)


def test_cache_follows_content_not_names(tmp_path, class_folder, monkeypatch):
    featurizer = _cnn()
    _run(tmp_path / "p", class_folder, featurizer)
    moved = tmp_path / "renamed"
    shutil.copytree(class_folder, moved)
    (moved / "cat" / "0.png").rename(moved / "cat" / "zero.png")
    _forbid_decoding(monkeypatch)
    assert _run(tmp_path / "p", moved, featurizer).n_computed == 0


def test_new_images_are_computed_alone(tmp_path, class_folder, monkeypatch):
    featurizer = _cnn()
    _run(tmp_path / "p", class_folder, featurizer)
    before = _embeddings(tmp_path / "p", featurizer)
    write_image(class_folder / "dog" / "new1.png", seed=501)
    write_image(class_folder / "fox" / "new2.jpg", seed=502)
    decoded = count_decodes(monkeypatch)
    result = _run(tmp_path / "p", class_folder, featurizer)
    assert (result.n_computed, result.n_cached, result.n_rows) == (2, N_IMAGES, N_IMAGES + 2)
    assert sorted(p.name for p in decoded) == ["new1.png", "new2.jpg"]
    after = _embeddings(tmp_path / "p", featurizer)
    old_rows = [after.row_ids.index(i) for i in before.row_ids]
    np.testing.assert_array_equal(after.matrix[old_rows], before.matrix)


def test_edited_image_is_recomputed(tmp_path, class_folder, monkeypatch):
    featurizer = _cnn()
    _run(tmp_path / "p", class_folder, featurizer)
    write_image(class_folder / "cat" / "0.png", seed=777)  # same name, new content
    decoded = count_decodes(monkeypatch)
    assert _run(tmp_path / "p", class_folder, featurizer).n_computed == 1
    assert [p.name for p in decoded] == ["0.png"]


def test_fingerprint_change_makes_a_new_cache_entry(tmp_path, class_folder):
    project = tmp_path / "p"
    full = _cnn()
    _run(project, class_folder, full)
    low = _cnn(levels=["low"])
    result = _run(project, class_folder, low)
    assert result.n_computed == N_IMAGES
    entries = sorted(p.name for p in (project / "cache").iterdir())
    assert entries == sorted([full.fingerprint(), low.fingerprint()])
    assert Project(project).featurizer_names("train") == sorted([full.entry_name(), low.entry_name()])
    described = atomic.read_json(project / "cache" / low.fingerprint() / "featurizer.json")
    assert described["levels"] == ["low"]
    gray, gray_pad = create_featurizer("grayscale20"), create_featurizer("grayscale20", resize="pad")
    _run(project, class_folder, gray)
    assert _run(project, class_folder, gray_pad).n_computed == N_IMAGES
    assert len(list((project / "cache").iterdir())) == 4


def test_interrupted_run_resumes_where_it_stopped(tmp_path, class_folder):
    featurizer = _cnn()
    embed = _interrupt_at_batch(featurizer, 3)
    project = tmp_path / "p"
    with pytest.raises(KeyboardInterrupt):
        _run(project, class_folder, featurizer, batch_size=2)
    npy, sidecar = Project(project).embeddings_paths("train", featurizer.entry_name())
    assert not npy.exists() and not sidecar.exists()  # no half-written output
    no_temp_files(project)
    assert len(EmbeddingStore(project / "cache" / featurizer.fingerprint(), featurizer.n_features)) == 4

    featurizer.embed = embed
    resumed = _run(project, class_folder, featurizer, batch_size=2)
    assert (resumed.n_computed, resumed.n_cached) == (N_IMAGES - 4, 4)
    uninterrupted = _run(tmp_path / "fresh", class_folder, _cnn(), batch_size=2)
    assert uninterrupted.n_computed == N_IMAGES
    np.testing.assert_allclose(_embeddings(project, featurizer).matrix,
                               _embeddings(tmp_path / "fresh", featurizer).matrix, rtol=1e-6, atol=1e-6)
    no_temp_files(project)


def test_stat_index_rehashes_a_changed_file_and_does_not_read_an_unchanged_one(tmp_path, class_folder, monkeypatch):
    import os

    from pixelboard.featurizers import cache as cache_module

    featurizer = create_featurizer("grayscale20")
    files = sorted(class_folder.rglob("*.png")) + sorted(class_folder.rglob("*.jpg"))
    for n, path in enumerate(files):  # older than the racy-timestamp margin, like a user's files
        os.utime(path, ns=(1_600_000_000_000_000_000 + n, 1_600_000_000_000_000_000 + n))
    _run(tmp_path / "p", class_folder, featurizer)
    index = atomic.read_json(tmp_path / "p" / "file-index.json")["files"]
    assert len(index) == N_IMAGES
    # edit one file (same mtime, new size); touch another (same bytes, new mtime); leave the rest alone
    edited, touched = class_folder / "cat" / "0.png", files[-1]
    stat = edited.stat()
    write_image(edited, seed=777)
    os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert edited.stat().st_size != stat.st_size
    os.utime(touched, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    read = []
    original = cache_module.read_and_hash

    def counting_read_and_hash(path):
        read.append(Path(path))
        return original(path)

    monkeypatch.setattr("pixelboard.featurizers.extract.read_and_hash", counting_read_and_hash)
    decoded = count_decodes(monkeypatch)
    monkeypatch.setattr("pixelboard.featurizers.cache.image_key", lambda *a, **k: pytest.fail("hashed in the main process"))
    result = _run(tmp_path / "p", class_folder, featurizer)
    assert sorted(read) == sorted([edited, touched])  # only the changed stats are read, and each once
    assert [p.name for p in decoded] == ["0.png"]  # the touched file's bytes are cached: not decoded
    assert (result.n_computed, result.n_cached) == (1, N_IMAGES - 1)
    read.clear()
    _run(tmp_path / "p", class_folder, featurizer)  # both are remembered now (their mtimes are old)
    assert read == []
    (tmp_path / "p" / "file-index.json").write_text("{damaged")  # a shortcut only: ignored and rebuilt
    assert _run(tmp_path / "p", class_folder, featurizer).n_cached == N_IMAGES and len(read) == N_IMAGES


def test_batches_are_committed_together_and_interrupts_keep_them(tmp_path, class_folder, monkeypatch):
    commits = []
    original = EmbeddingStore._commit

    def counting_commit(self, keys, rows):
        commits.append(len(keys))
        return original(self, keys, rows)

    monkeypatch.setattr(EmbeddingStore, "_commit", counting_commit)
    featurizer = create_featurizer("grayscale20")
    _run(tmp_path / "p", class_folder, featurizer, batch_size=2, commit_seconds=60)
    assert commits == [N_IMAGES]  # one commit for every batch of the run, not 2 fsyncs per batch of 2
    cache = tmp_path / "p" / "cache" / featurizer.fingerprint()
    assert len(list(cache.glob("shard-*.npy"))) == 1

    commits.clear()
    interrupted = create_featurizer("grayscale20", resize="pad")
    _interrupt_at_batch(interrupted, 3)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "q", class_folder, interrupted, batch_size=2, commit_seconds=60)
    assert commits == [4]  # the two finished batches are committed on the way out


def test_cache_shards_are_compacted_and_a_keys_file_commits_a_shard(tmp_path, class_folder):
    featurizer = create_featurizer("grayscale20")
    _run(tmp_path / "p", class_folder, featurizer, batch_size=3)
    cache = tmp_path / "p" / "cache" / featurizer.fingerprint()
    assert len(list(cache.glob("shard-*.npy"))) == len(list(cache.glob("shard-*.json"))) == 1
    np.save(cache / "shard-orphan.npy", np.zeros((2, featurizer.n_features), np.float32))  # no keys file
    assert len(EmbeddingStore(cache, featurizer.n_features)) == N_IMAGES


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.npy"
    atomic.write_npy(target, np.ones(3))

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic.write_npy(target, np.zeros(5))
    monkeypatch.undo()
    np.testing.assert_array_equal(np.load(target), np.ones(3))  # the old file is intact
    no_temp_files(tmp_path)


def test_sidecar_describes_rows_levels_and_versions(tmp_path, competition_folder):
    featurizer = _cnn(levels=["low", "highest"])
    image_set = read_image_set(competition_folder.images, name="train", labels_csv=competition_folder.train_csv)
    featurize_set(Project(tmp_path / "p"), image_set, featurizer, FeaturizeOptions(workers=0, progress=False))
    embeddings = _embeddings(tmp_path / "p", featurizer)
    sidecar = embeddings.sidecar
    assert embeddings.row_ids == list(competition_folder.ids) == embeddings.sources
    assert embeddings.augmentations == [""] * len(competition_folder.ids)
    assert sidecar["fingerprint"] == featurizer.fingerprint() and sidecar["levels"] == ["low", "highest"]
    assert sidecar["level_slices"] == {"low": [0, 24], "highest": [24, 24 + 1024]}
    assert embeddings.level_columns(["highest"]).tolist() == list(range(24, 1048))
    assert sidecar["versions"]["torch"] and sidecar["versions"]["timm"] and sidecar["skipped"] == []
    with pytest.raises(PixelboardError, match="no level"):
        embeddings.level_columns(["medium"])


# --- augmentation -------------------------------------------------------------------------------------------
def test_augmented_rows_have_ids_sources_and_tags(tmp_path, class_folder):
    project = tmp_path / "p"
    result = featurize_cli("--images", class_folder, "--project", project, "--backbone", "grayscale20",
                  "--augment", "rot90,noise", "--augment-copies", "2")
    assert result.exit_code == 0, result.output
    embeddings = Project(project).load_embeddings("train", "grayscale20")
    image_ids = read_image_set(class_folder, name="train").ids
    assert len(embeddings.row_ids) == 4 * N_IMAGES  # original, rot90, noise#0, noise#1
    assert embeddings.row_ids[:N_IMAGES] == image_ids
    assert embeddings.row_ids[N_IMAGES] == f"{image_ids[0]}#rot90"
    assert embeddings.row_ids[2 * N_IMAGES:2 * N_IMAGES + 1] == [f"{image_ids[0]}#noise#0"]
    assert embeddings.sources == image_ids * 4
    assert embeddings.augmentations == [""] * N_IMAGES + ["rot90"] * N_IMAGES + ["noise#0"] * N_IMAGES + \
        ["noise#1"] * N_IMAGES
    assert embeddings.sidecar["augment"] == {"transforms": ["rot90", "noise"], "copies": 2, "seed": 0}
    rotated = load_rgb(class_folder / image_ids[0]).transpose(Image.Transpose.ROTATE_90)
    gray = create_featurizer("grayscale20")
    np.testing.assert_allclose(embeddings.matrix[N_IMAGES], gray.transform([rotated])[0], atol=1e-6)
    noise0, noise1 = embeddings.matrix[2 * N_IMAGES], embeddings.matrix[3 * N_IMAGES]
    assert not np.allclose(noise0, noise1) and not np.allclose(noise0, embeddings.matrix[0])

    # another seed redraws the random copies only; the exact transforms stay cached
    result = featurize_cli("--images", class_folder, "--project", project, "--backbone", "grayscale20",
                  "--augment", "rot90,noise", "--augment-copies", "2", "--seed", "1")
    assert result.exit_code == 0 and f"{2 * N_IMAGES:,} computed" in result.stdout, result.stdout


def test_random_transforms_give_different_but_repeatable_copies():
    from conftest import generated_rgb
    from pixelboard.featurizers.augment import TRANSFORMS, apply_tag

    photo = generated_rgb(3, (300, 200))
    page = np.full((200, 300, 3), 235, dtype=np.uint8)  # a scanned page: dark text lines on paper
    for top in range(20, 180, 24):
        page[top:top + 8, 20:280] = 25
    page = Image.fromarray(page)
    for name, transform in TRANSFORMS.items():
        # Augraphy's ink and paper effects act on ink and paper: they are tried on a page.
        img = page if name in ("ink", "lowink", "dirt", "photocopy") else photo
        first = np.asarray(apply_tag(img, f"{name}#0" if transform.random else name))
        again = np.asarray(apply_tag(img, f"{name}#0" if transform.random else name))
        np.testing.assert_array_equal(first, again)  # the same seed gives the same copy
        assert first.shape[2] == 3 and not np.array_equal(first, np.asarray(img)), name
        if transform.random:
            assert not np.array_equal(first, np.asarray(apply_tag(img, f"{name}#1"))), name
            assert not np.array_equal(first, np.asarray(apply_tag(img, f"{name}#0", seed=1))), name


def test_augraphy_copies_are_the_same_in_every_process():
    """Augraphy's photocopy draws Worley noise from numba's own generator, which seeding Python's and
    NumPy's leaves alone: two processes gave different copies of the same page, tag and seed for
    about one in six draws. Each draw in a fresh process must give the same pixels."""
    import subprocess
    import sys

    script = """
import hashlib, numpy as np
from PIL import Image
from pixelboard.featurizers.augment import apply_tag
page = np.full((160, 120, 3), 235, dtype=np.uint8)
for top in range(12, 150, 14):
    page[top:top + 5, 10:110] = 25
page = Image.fromarray(page)
print(" ".join(hashlib.md5(np.asarray(apply_tag(page, f"photocopy#{k}", 0, "k")).tobytes()).hexdigest()
               for k in range(16)))
"""
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    assert runs[0] == runs[1] and len(set(runs[0].split())) > 8


def test_kill_9_mid_featurize_then_rerun_gives_the_uninterrupted_embeddings(tmp_path):
    """SIGKILL (no chance to clean up) loses at most the batch in flight: the rerun computes only the
    rest, and its matrix equals a run that was never interrupted, bit for bit."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import write_image

    for n in range(96):
        write_image(tmp_path / "images" / f"c{n % 2}" / f"{n:03d}.png", seed=n, size=(40, 40))
    command = [sys.executable, "-m", "pixelboard.cli", "featurize", "--images", str(tmp_path / "images"),
               "--backbone", "efficientnet_lite0", "--random-weights", "--batch-size", "4", "--workers", "0",
               "--device", "cpu", "--quiet"]
    project = tmp_path / "project"
    # Batches are committed together every PIXELBOARD_COMMIT_SECONDS: short here, so the kill lands mid-run.
    env = {**os.environ, "PIXELBOARD_COMMIT_SECONDS": "0.3"}
    process = subprocess.Popen(command + ["--project", str(project)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and len(list(project.glob("cache/*/shard-*.json"))) < 3:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    shards = list(project.glob("cache/*/shard-*.json"))
    committed = sum(len(atomic.read_json(shard)) for shard in shards)  # rows: a commit may hold several batches
    matrices = list(project.glob("embeddings/*/*.npy"))  # (featurize.log is there from the start)
    assert len(shards) >= 3 and committed < 96 and not matrices, "the kill should land mid-run"
    resumed = subprocess.run(command + ["--project", str(project)], capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{96 - committed:,} computed, {committed:,} from cache" in resumed.stdout, resumed.stdout
    fresh = subprocess.run(command + ["--project", str(tmp_path / "fresh")], capture_output=True, text=True)
    assert fresh.returncode == 0, fresh.stderr
    name = "efficientnet_lite0-random"
    np.testing.assert_array_equal(Project(project).load_embeddings("train", name).matrix,
                                  Project(tmp_path / "fresh").load_embeddings("train", name).matrix)
