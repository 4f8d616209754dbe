"""``pixelboard featurize`` on bad input: unreadable images (stop, or skip and record them) and one-line
errors for wrong folders, CSVs, backbones, levels and weights."""

from __future__ import annotations

from conftest import CLASSES, IMAGES_PER_CLASS, count_decodes, featurize_cli, no_temp_files
from pixelboard.featurizers import create_featurizer
from pixelboard.featurizers.cache import EmbeddingStore
from pixelboard.project import Project

N_IMAGES = len(CLASSES) * IMAGES_PER_CLASS


def _one_line_error(result) -> str:
    """Exit status 1 (a data error; 2 is click's usage errors), no traceback, exactly one ``Error:`` line; returns that line."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, (KeyError, AttributeError))
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


# --- bad images ---------------------------------------------------------------------------------------------
def _add_bad_images(folder):
    (folder / "cat" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    good = (folder / "dog" / "1.jpg").read_bytes()
    (folder / "dog" / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (folder / "fox" / "readme.jpg").write_text("not an image\n")
    return ["cat/corrupt.png", "dog/truncated.jpg", "fox/readme.jpg"]


def test_bad_images_stop_the_run_with_one_line_naming_them_all(tmp_path, class_folder):
    bad = _add_bad_images(class_folder)
    project = tmp_path / "p"
    result = featurize_cli("--images", class_folder, "--project", project, "--backbone", "grayscale20")
    line = _one_line_error(result)
    assert "3 unreadable image(s)" in line and all(name in line for name in bad)
    assert "truncated" in line and "not an image file" in line and "--skip-bad-images" in line
    assert not (project / "embeddings" / "train" / "grayscale20.npy").exists()
    assert not (project / "embeddings" / "train" / "grayscale20.json").exists()
    no_temp_files(project)
    gray = create_featurizer("grayscale20")
    assert len(EmbeddingStore(project / "cache" / gray.fingerprint(), gray.n_features)) == N_IMAGES  # good ones kept


def test_skip_bad_images_records_them_and_goes_on(tmp_path, class_folder, monkeypatch):
    bad = _add_bad_images(class_folder)
    (class_folder / "cat" / "empty1.png").write_bytes(b"")  # identical bad files: every one is named
    (class_folder / "dog" / "empty2.png").write_bytes(b"")
    bad += ["cat/empty1.png", "dog/empty2.png"]
    project = tmp_path / "p"
    result = featurize_cli("--images", class_folder, "--project", project, "--backbone", "grayscale20", "--skip-bad-images")
    assert result.exit_code == 0, result.output
    assert all(f"skipped {name}:" in result.stderr for name in bad)
    embeddings = Project(project).load_embeddings("train", "grayscale20")
    assert len(embeddings.row_ids) == N_IMAGES and not set(bad) & set(embeddings.row_ids)
    skipped = {entry["file"]: entry["reason"] for entry in embeddings.sidecar["skipped"]}
    assert sorted(skipped) == sorted(bad) and skipped["cat/empty1.png"].startswith("empty file")
    decoded = count_decodes(monkeypatch)  # rerun: the good images come from the cache, the bad are tried again
    result = featurize_cli("--images", class_folder, "--project", project, "--backbone", "grayscale20", "--skip-bad-images")
    assert result.exit_code == 0 and "0 computed" in result.stdout and "5 bad skipped" in result.stdout
    # (files just written are hashed again in the decode workers, so the two identical empty files,
    # whose content is not known beforehand, may each be tried)
    assert {p.relative_to(class_folder).as_posix() for p in decoded} == set(bad) and 4 <= len(decoded) <= 5


# --- one-line errors ----------------------------------------------------------------------------------------
def test_input_errors_are_one_line(tmp_path, competition_folder):
    cf = competition_folder
    (tmp_path / "empty").mkdir()
    unknown = cf.root / "unknown.csv"
    unknown.write_text("ID,target\nnothere,1\n")
    duplicate = cf.root / "duplicate.csv"
    duplicate.write_text(f"ID,target\n{cf.ids[0]},1\n{cf.ids[0]},2\n")
    escaping = cf.root / "escaping.csv"
    escaping.write_text("ID,target\n../train.csv,1\n")
    common = ["--project", tmp_path / "p", "--backbone", "grayscale20"]
    cases = [
        (["--images", tmp_path / "nowhere"], "image directory not found"),
        (["--images", tmp_path / "empty"], "no images"),
        (["--images", cf.images], "--labels"),
        (["--images", cf.images, "--labels", unknown], "nothere"),
        (["--images", cf.images, "--labels", duplicate], "duplicate IDs"),
        (["--images", cf.images, "--labels", escaping], "outside"),
        (["--images", cf.images, "--labels", cf.train_csv, "--id-column", "image"], "missing column"),
        (["--images", cf.images, "--labels", cf.train_csv, "--augment", "rot90", "--unlabelled"], "--augment"),
        (["--images", cf.images, "--labels", cf.train_csv, "--augment", "twirl"], "unknown transform"),
        (["--images", cf.images, "--labels", cf.train_csv, "--augment", "damage+twirl"], "unknown transform(s) twirl"),
        (["--images", cf.images, "--labels", cf.train_csv, "--augment", "damage+"], "empty transform name in 'damage+'"),
    ]
    for args, expected in cases:
        assert expected in _one_line_error(featurize_cli(*args, *common)), args


def test_backbone_and_level_errors_are_one_line(tmp_path, class_folder):
    result = featurize_cli("--images", class_folder, "--project", tmp_path / "p", "--backbone", "grayscale20,resnet9000")
    assert "unknown backbone 'resnet9000'" in _one_line_error(result)
    assert not (tmp_path / "p").exists()  # names are checked before any work
    result = featurize_cli("--images", class_folder, "--project", tmp_path / "p", "--backbone", "mobilenetv3_small",
                  "--random-weights", "--levels", "low,ultra")
    assert "unknown level(s) ultra" in _one_line_error(result)
    result = featurize_cli("--images", class_folder, "--project", tmp_path / "p", "--backbone", "mobilenetv3_small",
                  "--weights", tmp_path / "missing.pth")
    assert "weights file not found" in _one_line_error(result)
