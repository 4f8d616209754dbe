"""``read_image_set``: folder-per-class, competition CSV (+ meta.csv), unlabelled sets, and one-line errors."""

from __future__ import annotations

import pytest

from conftest import CLASSES, IMAGES_PER_CLASS, write_image
from pixelboard.datasets import ImageSet, read_image_set
from pixelboard.errors import PixelboardError


def _error(*args, **kwargs) -> str:
    with pytest.raises(PixelboardError) as info:
        read_image_set(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- the three input forms ----------------------------------------------------------------------------
def test_folder_per_class(class_folder):
    image_set = read_image_set(class_folder, name="train")
    assert image_set.labelled and image_set.name == "train"
    assert len(image_set.ids) == len(CLASSES) * IMAGES_PER_CLASS
    assert image_set.ids[:2] == ["cat/0.png", "cat/1.jpg"]
    assert image_set.files == image_set.ids
    assert image_set.labels == [c for c in CLASSES for _ in range(IMAGES_PER_CLASS)]
    assert all(path.is_file() for path in image_set.paths())
    assert image_set.image_dir == class_folder.resolve()


def test_folder_per_class_ignores_hidden_and_non_image_files(class_folder):
    (class_folder / "cat" / "notes.txt").write_text("x")
    (class_folder / "cat" / ".thumb.png").write_bytes(b"")
    (class_folder / ".cache").mkdir()
    write_image(class_folder / ".cache" / "x.png")
    write_image(class_folder / "dog" / "nested" / "deep.png", seed=99)  # nested files keep their class
    image_set = read_image_set(class_folder, name="train")
    assert len(image_set.ids) == len(CLASSES) * IMAGES_PER_CLASS + 1
    assert image_set.labels[image_set.ids.index("dog/nested/deep.png")] == "dog"


def test_competition_csv_with_extensions_and_meta(competition_folder):
    cf = competition_folder
    image_set = read_image_set(cf.images, name="train", labels_csv=cf.train_csv, meta_csv=cf.meta_csv)
    assert image_set.ids == list(cf.ids)
    assert image_set.files == list(cf.ids)
    assert image_set.labels == list(cf.targets) and all(isinstance(t, int) for t in image_set.labels)
    assert image_set.class_names == {str(t): name for t, name in enumerate(CLASSES)}


def test_competition_csv_ids_without_extension(competition_folder):
    cf = competition_folder
    bare = [i.removesuffix(".jpg") for i in cf.ids]
    csv = cf.root / "bare.csv"
    csv.write_text("ID,target\n" + "".join(f"{i},{t}\n" for i, t in zip(bare, cf.targets)))
    image_set = read_image_set(cf.images, name="train", labels_csv=csv)
    assert image_set.ids == bare  # IDs stay as written: the submission uses them
    assert image_set.files == list(cf.ids)


def test_configurable_columns_string_targets_and_groups(competition_folder):
    cf = competition_folder
    csv = cf.root / "custom.csv"
    rows = [f"{i},{CLASSES[t]},g{n // 2}\n" for n, (i, t) in enumerate(zip(cf.ids, cf.targets))]
    csv.write_text("image,label,patient\n" + "".join(rows))
    image_set = read_image_set(cf.images, name="train", labels_csv=csv, id_column="image", target_column="label",
                               group_column="patient")
    assert image_set.labels == [CLASSES[t] for t in cf.targets]
    assert image_set.groups == [f"g{n // 2}" for n in range(len(cf.ids))]


def test_ids_keep_leading_zeros(tmp_path):
    write_image(tmp_path / "img" / "007.png")
    (tmp_path / "t.csv").write_text("ID,target\n007,1\n")
    image_set = read_image_set(tmp_path / "img", name="train", labels_csv=tmp_path / "t.csv")
    assert image_set.ids == ["007"] and image_set.files == ["007.png"] and image_set.labels == [1]


def test_meta_csv_may_use_the_custom_target_column(competition_folder):
    cf = competition_folder
    csv = cf.root / "custom.csv"
    csv.write_text("ID,label\n" + "".join(f"{i},{t}\n" for i, t in zip(cf.ids, cf.targets)))
    meta = cf.root / "meta2.csv"
    meta.write_text("label,class_name\n0,zero\n1,one\n2,two\n")
    image_set = read_image_set(cf.images, name="train", labels_csv=csv, target_column="label", meta_csv=meta)
    assert image_set.class_names == {"0": "zero", "1": "one", "2": "two"}


def test_unlabelled_folder_flat_and_nested(tmp_path):
    write_image(tmp_path / "test" / "b.png", seed=1)
    write_image(tmp_path / "test" / "a.jpg", seed=2)
    write_image(tmp_path / "test" / "sub" / "c.webp", seed=3)
    image_set = read_image_set(tmp_path / "test", name="test", unlabelled=True)
    assert not image_set.labelled
    assert image_set.ids == ["a.jpg", "b.png", "sub/c.webp"]


def test_csv_of_ids_only_is_a_test_set(competition_folder):
    cf = competition_folder
    csv = cf.root / "test.csv"
    csv.write_text("ID\n" + "".join(f"{i}\n" for i in cf.ids[:5]))
    image_set = read_image_set(cf.images, name="test", labels_csv=csv, unlabelled=True)
    assert not image_set.labelled and image_set.ids == list(cf.ids[:5])
    message = _error(cf.images, name="train", labels_csv=csv)  # without --unlabelled it is a mistake
    assert "test.csv" in message and "'target'" in message and "--unlabelled" in message


def test_unlabelled_flag_ignores_the_target_column(competition_folder):
    cf = competition_folder
    image_set = read_image_set(cf.images, name="test", labels_csv=cf.train_csv, unlabelled=True)
    assert not image_set.labelled and len(image_set.ids) == len(cf.ids)


def test_image_set_round_trips_through_its_dict(competition_folder):
    cf = competition_folder
    image_set = read_image_set(cf.images, name="train", labels_csv=cf.train_csv, meta_csv=cf.meta_csv)
    assert ImageSet.from_dict(image_set.to_dict()) == image_set


# --- errors: one line naming the file or value ----------------------------------------------------------
def test_missing_directory(tmp_path):
    assert "not found" in _error(tmp_path / "nowhere", name="train")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "no images" in _error(tmp_path / "empty", name="train")
    assert "no images" in _error(tmp_path / "empty", name="test", unlabelled=True)
    (tmp_path / "empty" / "cat").mkdir()  # class folders without images
    assert "no images" in _error(tmp_path / "empty", name="train")


def test_loose_images_without_labels_csv(tmp_path):
    write_image(tmp_path / "img" / "a.png")
    message = _error(tmp_path / "img", name="train")
    assert "--labels" in message and "--unlabelled" in message


def test_loose_images_mixed_with_class_folders(class_folder):
    write_image(class_folder / "stray.png")
    assert "stray.png" in _error(class_folder, name="train")


def test_missing_csv(competition_folder):
    cf = competition_folder
    assert "nope.csv" in _error(cf.images, name="train", labels_csv=cf.root / "nope.csv")


def test_unknown_ids(competition_folder):
    cf = competition_folder
    csv = cf.root / "t.csv"
    csv.write_text(cf.train_csv.read_text() + "ghost,1\nphantom.png,2\n")
    message = _error(cf.images, name="train", labels_csv=csv)
    assert "ghost" in message and "phantom.png" in message and "t.csv" in message and "2 ID(s)" in message


def test_duplicate_ids(competition_folder):
    cf = competition_folder
    csv = cf.root / "t.csv"
    csv.write_text(cf.train_csv.read_text() + f"{cf.ids[3]},0\n")
    message = _error(cf.images, name="train", labels_csv=csv)
    assert "duplicate" in message and cf.ids[3] in message


@pytest.mark.parametrize("bad_id", ["../secret.png", "sub/../../secret.png", "/etc/hostname"])
def test_ids_escaping_the_image_folder(competition_folder, bad_id):
    cf = competition_folder
    write_image(cf.root / "secret.png")
    csv = cf.root / "t.csv"
    csv.write_text(f"ID,target\n{cf.ids[0]},0\n{bad_id},1\n")
    message = _error(cf.images, name="train", labels_csv=csv)
    assert "outside" in message and bad_id in message


def test_missing_columns_name_what_the_csv_has(competition_folder):
    cf = competition_folder
    message = _error(cf.images, name="train", labels_csv=cf.train_csv, id_column="image")
    assert "'image'" in message and "'ID'" in message and "train.csv" in message
    message = _error(cf.images, name="train", labels_csv=cf.train_csv, group_column="patient")
    assert "'patient'" in message


def test_meta_csv_without_class_name(competition_folder):
    cf = competition_folder
    cf.meta_csv.write_text("target,name\n0,cat\n")
    assert "'class_name'" in _error(cf.images, name="train", labels_csv=cf.train_csv, meta_csv=cf.meta_csv)


def test_empty_target_names_the_line(competition_folder):
    cf = competition_folder
    lines = cf.train_csv.read_text().splitlines()
    lines[3] = lines[3].split(",")[0] + ","
    cf.train_csv.write_text("\n".join(lines) + "\n")
    assert "line 4" in _error(cf.images, name="train", labels_csv=cf.train_csv)


def test_csv_with_header_only(competition_folder):
    cf = competition_folder
    cf.train_csv.write_text("ID,target\n")
    assert "no rows" in _error(cf.images, name="train", labels_csv=cf.train_csv)
