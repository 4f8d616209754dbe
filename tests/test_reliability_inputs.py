"""Reliability of featurize's inputs through the command line: every bad image, CSV, damaged file,
full disk or second process ends in one ``Error:`` line naming the culprit (exit 1 for data, 2 for
click's usage errors; no traceback), or is handled (exit 0). The hostile-project battery (planted
symlinks, traversal, injection, damaged records, full disks, ...) is tests/test_reliability.py.

What test_images.py, test_sources.py and test_featurize_*.py already drive is not repeated here.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import CLASSES, IMAGES_PER_CLASS, featurize_cli, generated_rgb, write_image
from pixelboard import atomic
from pixelboard.cli import main
from pixelboard.datasets.images import load_rgb
from pixelboard.errors import PixelboardError
from pixelboard.project import Project, check_name

N_IMAGES = len(CLASSES) * IMAGES_PER_CLASS
GRAY = ["--backbone", "grayscale20"]


def _one_line_error(result, code: int = 1) -> str:
    """Exit status ``code`` (1: a data error; 2: click's usage errors), no traceback, exactly one
    ``Error:`` line; returns that line."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit), result.exception
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` (a decompression bomb, without the bytes)."""
    buffer = io.BytesIO()
    Image.new("1", (1, 1)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def large_png(tmp_path_factory) -> Path:
    """A real 10,500 x 9,100 px (95.6 MP) 1-bit PNG: above Pillow's own 89 MP limit, quick to write."""
    path = tmp_path_factory.mktemp("large") / "scan.png"
    image = Image.new("1", (10_500, 9_100), 1)
    image.paste(0, (2_000, 1_000, 8_000, 4_000))
    image.save(path)
    return path


# --- 1. --max-pixels is the one limit ------------------------------------------------------------------
def test_large_scan_within_max_pixels_is_featurized_in_bounded_memory(tmp_path, large_png):
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "scan.png").symlink_to(large_png)
    write_image(folder / "small.png")
    result = featurize_cli("--images", folder, "--unlabelled", "--project", tmp_path / "p", *GRAY)
    assert result.exit_code == 0, result.output
    assert "2 rows" in result.stdout
    # With a target size the decoded scan is box-reduced at once: no 95 MP RGB copy is kept.
    shrunk = load_rgb(large_png, draft_size=(225, 225))
    assert shrunk.mode == "RGB" and 450 <= min(shrunk.size) < 1_000


def test_bomb_above_max_pixels_names_the_option(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    _png_header_only(folder / "bomb.png", 20_000, 20_000)
    write_image(folder / "fine.png")
    line = _one_line_error(featurize_cli("--images", folder, "--unlabelled", "--project", tmp_path / "p", *GRAY))
    assert "bomb.png" in line and "20000x20000" in line and "--max-pixels 250,000,000" in line
    # Raising --max-pixels moves the limit: the same file now gets as far as decoding (it has no pixel data).
    line = _one_line_error(featurize_cli("--images", folder, "--unlabelled", "--project", tmp_path / "p",
                                         "--max-pixels", 500_000_000, *GRAY))
    assert "bomb.png" in line and "oversized" not in line


# --- 2, 3, 8, 12: bad inputs, one table ------------------------------------------------------------------
def _flat(tmp_path, name: str, write) -> list:
    """An unlabelled folder with one good image and ``write(path)`` as ``name``."""
    folder = tmp_path / "flat"
    write_image(folder / "good.png", seed=1)
    write(folder / name)
    return ["--images", folder, "--unlabelled"]


def _save(image: Image.Image, **kwargs):
    return lambda path: image.save(path, **kwargs)


def _exif_rotated(path: Path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: viewers rotate it 90 degrees clockwise
    generated_rgb(4, (40, 30)).save(path, exif=exif.tobytes())


def _palette_with_transparency(path: Path):
    image = generated_rgb(5).convert("P")
    image.info["transparency"] = 0
    image.save(path)


def _csv(tmp_path, cf, text: str, *extra) -> list:
    path = cf.root / "labels.csv"
    path.write_text(text)
    return ["--images", cf.images, "--labels", path, *extra]


def _targets(cf, values) -> str:
    return "ID,target\n" + "".join(f"{i},{v}\n" for i, v in zip(cf.ids, values))


def _id_without_extension(tmp_path, cf):
    (cf.images / cf.ids[0]).rename(cf.images / "UPPER.PNG")
    ids = ["UPPER"] + list(cf.ids[1:])
    return _csv(tmp_path, cf, "ID,target\n" + "".join(f"{i},{t}\n" for i, t in zip(ids, cf.targets)))


def _ambiguous_id(tmp_path, cf):
    write_image(cf.images / "twin.png", seed=7)
    write_image(cf.images / "twin.jpg", seed=8)
    return _csv(tmp_path, cf, _targets(cf, cf.targets) + "twin,0\n")


CASES = [
    # (name, setup(tmp_path, competition_folder) -> featurize arguments, exit code, fragment of the output)
    ("zero-byte image", lambda t, cf: _flat(t, "empty.png", lambda p: p.write_bytes(b"")), 1, "empty.png (empty file"),
    ("16-bit png", lambda t, cf: _flat(t, "deep.png", _save(Image.fromarray(
        np.arange(1200, dtype=np.uint16).reshape(30, 40) * 50))), 0, "2 rows"),
    ("cmyk jpeg", lambda t, cf: _flat(t, "print.jpg", _save(generated_rgb(3).convert("CMYK"))), 0, "2 rows"),
    ("palette + transparency", lambda t, cf: _flat(t, "icon.png", _palette_with_transparency), 0, "2 rows"),
    ("exif-rotated jpeg", lambda t, cf: _flat(t, "phone.jpg", _exif_rotated), 0, "2 rows"),
    ("above --max-pixels", lambda t, cf: _flat(t, "huge.png", lambda p: _png_header_only(p, 30_000, 30_000)),
     1, "huge.png (oversized image 30000x30000"),
    ("absolute ID", lambda t, cf: _csv(t, cf, _targets(cf, cf.targets) + f"{cf.images / cf.ids[0]},1\n"),
     1, "IDs point outside"),
    ("no target column", lambda t, cf: _csv(t, cf, "ID\n" + "\n".join(cf.ids) + "\n"),
     1, "labels.csv has no target column 'target'"),
    ("no target column, --unlabelled", lambda t, cf: _csv(t, cf, "ID\n" + "\n".join(cf.ids) + "\n", "--unlabelled"),
     0, "unlabelled"),
    ("other target column", lambda t, cf: _csv(t, cf, _targets(cf, cf.targets).replace("target", "label", 1)),
     1, "--target-column"),
    *[(f"{word} target", lambda t, cf, word=word: _csv(t, cf, _targets(cf, [0, 1, 2, word] + list(cf.targets[4:]))),
       1, "empty 'target'") for word in ("NaN", "nan", "NA", "null", " ")],
    ("string class names", lambda t, cf: _csv(t, cf, _targets(cf, [CLASSES[v] for v in cf.targets])),
     0, "3 classes"),
    ("ID without extension finds X.PNG", _id_without_extension, 0, f"{N_IMAGES} rows"),
    ("ID matching two files", _ambiguous_id, 1, "twin (twin.jpg and twin.png)"),
    ("--set ../../X", lambda t, cf: _csv(t, cf, _targets(cf, cf.targets), "--set", "../../X"), 2, "not a plain name"),
    ("--set /tmp/x", lambda t, cf: _csv(t, cf, _targets(cf, cf.targets), "--set", "/tmp/x"), 2, "not a plain name"),
    ("--set .hidden", lambda t, cf: _csv(t, cf, _targets(cf, cf.targets), "--set", ".hidden"), 2, "not a plain name"),
    ("--backbone ''", lambda t, cf: _csv(t, cf, _targets(cf, cf.targets), "--backbone", ""), 1, "no backbone given"),
]


@pytest.mark.parametrize("setup, code, fragment", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_and_unusual_inputs(tmp_path, competition_folder, setup, code, fragment):
    args = setup(tmp_path, competition_folder)
    result = featurize_cli(*GRAY, *args, "--project", tmp_path / "p")
    if code:
        assert fragment in _one_line_error(result, code)
    else:
        assert result.exit_code == 0, result.output
        assert fragment in result.stdout
    assert not list(tmp_path.rglob("X*"))  # --set ../../X placed nothing outside the project


def test_labels_without_target_column_leave_the_project_alone(tmp_path, competition_folder):
    cf = competition_folder
    ids_only = cf.root / "ids.csv"
    ids_only.write_text("ID\n" + "\n".join(cf.ids[:3]) + "\n")
    project = tmp_path / "p"
    assert featurize_cli("--images", cf.images, "--labels", ids_only, "--unlabelled", "--project", project,
                         *GRAY).exit_code == 0
    manifest = (project / "datasets" / "test.json").read_bytes()
    line = _one_line_error(featurize_cli("--images", cf.images, "--labels", cf.train_csv, "--target-column", "class",
                                         "--project", project, *GRAY))
    assert "train.csv has no target column 'class'" in line and "--unlabelled" in line
    assert (project / "datasets" / "test.json").read_bytes() == manifest


def test_weights_given_a_csv_is_one_line(tmp_path, class_folder):
    csv = tmp_path / "train.csv"
    csv.write_text("ID,target\na,1\n")
    line = _one_line_error(featurize_cli("--images", class_folder, "--project", tmp_path / "p",
                                         "--backbone", "mobilenetv3_small", "--weights", csv))
    assert "train.csv is not a torch state_dict" in line and ".safetensors" in line


def test_check_name_guards_every_path_built_from_a_name(tmp_path):
    project = Project(tmp_path / "p")
    assert check_name("train-2.v1", "set") == "train-2.v1"
    for bad in ("../../X", "/tmp/x", "a/b", "..", ".x", "", "a b"):
        with pytest.raises(PixelboardError, match="not a plain name"):
            project.load_image_set(bad)
        with pytest.raises(PixelboardError, match="not a plain name"):
            project.run_dir(bad)


# --- 9. directory symlinks -------------------------------------------------------------------------------
def test_directory_symlinks_are_not_followed(tmp_path, class_folder):
    (class_folder / "cat" / "up").symlink_to("..", target_is_directory=True)  # a loop inside a class
    (class_folder / "again").symlink_to(class_folder, target_is_directory=True)  # a loop as a "class"
    outside = write_image(tmp_path / "elsewhere" / "linked.png", seed=50)
    (class_folder / "dog" / "linked.png").symlink_to(outside)  # a file symlink is an ordinary image
    result = featurize_cli("--images", class_folder, "--project", tmp_path / "p", *GRAY)
    assert result.exit_code == 0, result.output
    assert f"{N_IMAGES + 1} images" in result.stdout and "3 classes" in result.stdout


# --- 5. operating-system errors --------------------------------------------------------------------------
def test_unwritable_project_is_one_line_naming_the_file(tmp_path, class_folder, monkeypatch):
    """As root chmod does not stop writes, so the refusal of a read-only folder is simulated."""
    def refused(*args, dir=None, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", os.path.join(dir, ".x.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    project = tmp_path / "p"
    line = _one_line_error(featurize_cli("--images", class_folder, "--project", project, *GRAY))
    assert line == f"Error: cannot write {project / 'datasets' / 'train.json'}: Permission denied (errno 13)"


def test_full_disk_says_so_and_keeps_finished_work(tmp_path, class_folder, monkeypatch):
    project = tmp_path / "p"
    matrix = project / "embeddings" / "train" / "grayscale20.npy"
    real_replace = os.replace

    def full_at_the_matrix(src, dst, *args, **kwargs):
        if Path(dst) == matrix:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full_at_the_matrix)
    line = _one_line_error(featurize_cli("--images", class_folder, "--project", project, *GRAY))
    assert "no space left on " in line and "disk is full" in line and str(matrix) in line and "finished work is kept" in line
    monkeypatch.undo()
    assert not [p for p in project.rglob("*.tmp")]
    result = featurize_cli("--images", class_folder, "--project", project, *GRAY)
    assert result.exit_code == 0 and "0 computed" in result.stdout, result.output


# --- 7. file modes -----------------------------------------------------------------------------------------
def test_outputs_get_the_mode_of_a_plain_open(tmp_path, class_folder):
    umask = os.umask(0o022)
    os.umask(umask)
    project = tmp_path / "p"
    assert featurize_cli("--images", class_folder, "--project", project, *GRAY).exit_code == 0
    outputs = [p for p in project.rglob("*") if p.is_file() and p.name != ".lock"]
    assert len(outputs) >= 5
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in outputs} == {oct(0o666 & ~umask)}


# --- 6. damaged files ----------------------------------------------------------------------------------------
@pytest.fixture
def featurized(tmp_path, class_folder) -> Path:
    project = tmp_path / "p"
    assert featurize_cli("--images", class_folder, "--project", project, *GRAY).exit_code == 0
    return project


def _leaderboard(project):
    return CliRunner().invoke(main, ["leaderboard", "--quiet", "--project", str(project), "--jobs", "1"])


@pytest.mark.parametrize("damage", ["not json", "missing keys", "sidecar", "matrix"])
def test_damaged_project_files_are_one_line(featurized, damage):
    target = {"not json": featurized / "datasets" / "train.json",
              "missing keys": featurized / "datasets" / "train.json",
              "sidecar": featurized / "embeddings" / "train" / "grayscale20.json",
              "matrix": featurized / "embeddings" / "train" / "grayscale20.npy"}[damage]
    if damage == "missing keys":
        target.write_text('{"name": "train"}')
    else:
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    line = _one_line_error(_leaderboard(featurized))
    assert f"{target} is damaged" in line and "run `pixelboard featurize" in line


@pytest.mark.parametrize("part", [".json", ".npy"])
def test_damaged_cache_shard_names_only_its_own_files(featurized, class_folder, part):
    (shard,) = featurized.glob(f"cache/*/shard-*{part}")
    shard.write_bytes(b"\xff\xfe garbage")
    line = _one_line_error(featurize_cli("--images", class_folder, "--project", featurized, *GRAY))
    stem = shard.with_suffix("")
    assert f"{shard} is damaged" in line and f"delete {stem}.npy and {stem.name}.json" in line
    assert f"delete {shard.parent} " not in line  # never "throw the whole cache away"


def test_read_npy_refuses_pickles_and_archives(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with open(tmp_path / "archive.npy", "wb") as handle:
        np.savez(handle, a=np.ones(2))
    for name in ("objects.npy", "archive.npy"):
        with pytest.raises(PixelboardError, match=f"{name} is damaged"):
            atomic.read_npy(tmp_path / name)


# --- 11. two processes on one project ----------------------------------------------------------------------
HOLD_LOCK = "import sys, time\nfrom pixelboard.project import Project\n" \
            "with Project(sys.argv[1]).lock():\n    print('locked', flush=True)\n    time.sleep(float(sys.argv[2]))\n"


def _holder(project: Path, seconds: float) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(project), str(seconds)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


def test_second_process_waits_for_the_project_then_runs(tmp_path, class_folder):
    holder = _holder(tmp_path / "p", 2.0)
    try:
        result = featurize_cli("--images", class_folder, "--project", tmp_path / "p", *GRAY)
    finally:
        holder.wait(timeout=60)
    assert result.exit_code == 0, result.output
    assert f"waiting for another pixelboard process using {tmp_path / 'p'} (pid {holder.pid}" in result.stderr


def test_second_process_gives_up_after_the_timeout_naming_the_lock(tmp_path, class_folder, monkeypatch):
    monkeypatch.setattr("pixelboard.project.LOCK_TIMEOUT", 0.5)
    holder = _holder(tmp_path / "p", 60.0)
    try:
        line = _one_line_error(featurize_cli("--images", class_folder, "--project", tmp_path / "p", *GRAY))
    finally:
        holder.kill()
        holder.wait(timeout=60)
    assert f"pid {holder.pid}" in line and str(tmp_path / "p" / ".lock") in line
    assert not (tmp_path / "p" / "datasets").exists()  # it waited before touching anything


def test_a_reader_that_stops_early_is_not_an_error(tmp_path):
    """`pixelboard list backbones | head -1`: the closed pipe ends the command quietly, with no
    "Error:" line and no traceback (the command writes more than a pipe buffer holds, so the pipe
    really breaks)."""
    script = ("import click\n"
              "from pixelboard.commands.common import friendly_errors\n"
              "@click.command()\n@friendly_errors\n"
              "def big():\n    for i in range(200_000):\n        click.echo(f'line {i}')\n"
              "big()\n")
    (tmp_path / "big.py").write_text(script)
    shell = f"{sys.executable} {tmp_path / 'big.py'} 2>{tmp_path / 'err.txt'} | head -1; exit ${{PIPESTATUS[0]}}"
    result = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=120)
    assert result.stdout == "line 0\n"
    assert (tmp_path / "err.txt").read_text() == ""
    assert result.returncode == 1
