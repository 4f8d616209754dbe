"""Read a labelled or unlabelled image set from a folder or a competition-style CSV.

Three inputs, one result (:class:`ImageSet`):
- a folder with one sub-folder per class (the label is the sub-folder name);
- the competition format: an image folder plus a CSV with ``ID,target`` columns (names
  configurable) and an optional ``meta.csv`` with ``target,class_name``;
- unlabelled images for a test set (``unlabelled=True``): a flat or nested folder, or a CSV of IDs.

Directory symlinks are never followed (a link to a parent folder would repeat every image, or
loop); symlinks to files are ordinary images. Every file of a folder read as a whole is used or
named: one warning line lists what was left out (not an image, a broken symbolic link).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from pixelboard.datasets.images import IMAGE_EXTENSIONS, is_image_file
from pixelboard.errors import PixelboardError
from pixelboard.logs import SAY

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # pandas is imported only to read a CSV: `pixelboard export` must not pay for it
    import pandas as pd


@dataclass
class ImageSet:
    """Image IDs in a fixed row order, their files, and (for training sets) their labels."""

    name: str
    image_dir: Path
    ids: list[str]
    files: list[str]  # relative to image_dir, POSIX separators
    labels: list | None = None  # raw target values (int or str), one per ID
    class_names: dict[str, str] = field(default_factory=dict)  # str(target) -> readable name
    groups: list[str] | None = None  # rows sharing a group stay on one side of every split

    @property
    def labelled(self) -> bool:
        return self.labels is not None

    def paths(self) -> list[Path]:
        return [self.image_dir / f for f in self.files]

    def without_files(self, files: set[str]) -> "ImageSet":
        """The same set minus the rows of ``files`` (e.g. images skipped as unreadable)."""
        keep = [i for i, f in enumerate(self.files) if f not in files]
        pick = lambda values: None if values is None else [values[i] for i in keep]  # noqa: E731
        return ImageSet(self.name, self.image_dir, pick(self.ids), pick(self.files), pick(self.labels),
                        dict(self.class_names), pick(self.groups))

    def to_dict(self) -> dict:
        return {"name": self.name, "image_dir": str(self.image_dir), "ids": self.ids, "files": self.files,
                "labels": self.labels, "class_names": self.class_names, "groups": self.groups}

    @classmethod
    def from_dict(cls, data: dict) -> "ImageSet":
        """Inverse of :meth:`to_dict`; a missing key raises ``KeyError`` (``Project`` reports the file)."""
        return cls(name=data["name"], image_dir=Path(data["image_dir"]), ids=list(data["ids"]),
                   files=list(data["files"]), labels=data.get("labels"),
                   class_names=dict(data.get("class_names") or {}), groups=data.get("groups"))


def read_image_set(images: str | os.PathLike, *, name: str, labels_csv: str | os.PathLike | None = None,
                   id_column: str = "ID", target_column: str = "target", group_column: str | None = None,
                   meta_csv: str | os.PathLike | None = None, unlabelled: bool = False) -> ImageSet:
    """Dispatch on the input form; every problem is a one-line :class:`PixelboardError`."""
    image_dir = Path(images).expanduser().resolve()
    if not image_dir.is_dir():
        raise PixelboardError(f"image directory not found: {images}")
    if labels_csv is not None:
        return _read_csv_set(image_dir, Path(labels_csv), name=name, id_column=id_column,
                             target_column=None if unlabelled else target_column,
                             group_column=group_column, meta_csv=meta_csv)
    if unlabelled:
        return _read_flat_folder(image_dir, name=name)
    return _read_folder_per_class(image_dir, name=name)


def _read_folder_per_class(image_dir: Path, *, name: str) -> ImageSet:
    class_dirs = sorted(p for p in image_dir.iterdir()
                        if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    loose = [p.name for p in image_dir.iterdir() if p.is_file() and is_image_file(p)]
    if loose and not class_dirs:
        raise PixelboardError(
            f"{image_dir} holds images but no class sub-folders: pass --labels CSV for labels, "
            "or --unlabelled for a test set")
    if loose:
        raise PixelboardError(f"{image_dir} mixes class sub-folders with loose images (e.g. {loose[0]}); "
                              "move every image into its class folder")
    ids, labels = [], []
    for class_dir in class_dirs:
        for file in _list_images(class_dir):
            ids.append(file.relative_to(image_dir).as_posix())
            labels.append(class_dir.name)
    if not ids:
        raise PixelboardError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {image_dir}")
    return ImageSet(name=name, image_dir=image_dir, ids=ids, files=list(ids), labels=labels)


def _read_flat_folder(image_dir: Path, *, name: str) -> ImageSet:
    ids = [p.relative_to(image_dir).as_posix() for p in _list_images(image_dir)]
    if not ids:
        raise PixelboardError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {image_dir}")
    return ImageSet(name=name, image_dir=image_dir, ids=ids, files=list(ids))


def _list_images(directory: Path) -> list[Path]:
    """The images under ``directory``; what else it holds is named in one warning line (nothing is
    dropped silently: a folder predict would otherwise write a shorter submission without a word)."""
    files, broken = _walk_files(directory)
    images = sorted(p for p in files if is_image_file(p))
    other = sorted(p for p in files if not is_image_file(p) and not p.name.startswith("."))
    left_out = [*(f"{p.relative_to(directory).as_posix()} (not an image)" for p in other),
                *(f"{p.relative_to(directory).as_posix()} (broken symbolic link)" for p in broken)]
    if left_out:
        log.warning(f"left out {len(left_out)} file(s) under {directory}: {_some(left_out)} "
                    f"(images are {', '.join(IMAGE_EXTENSIONS)})", extra=SAY)
    return images


def _walk_files(directory: Path) -> tuple[list[Path], list[Path]]:
    """Every file under ``directory`` (symlinks to files included), never entering a directory symlink;
    and the symbolic links that lead nowhere."""
    found, broken = [], []
    for folder, subdirs, files in os.walk(directory, followlinks=False):
        for name in files:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                found.append(Path(path))
            elif os.path.islink(path) and not os.path.exists(path):
                broken.append(Path(path))
    return found, broken


def _read_csv_set(image_dir: Path, csv_path: Path, *, name: str, id_column: str, target_column: str | None,
                  group_column: str | None, meta_csv: str | os.PathLike | None) -> ImageSet:
    table = _read_csv(csv_path)
    _require_columns(table, csv_path, [id_column] + ([group_column] if group_column else []))
    if target_column is not None and target_column not in table.columns:
        raise PixelboardError(
            f"{csv_path} has no target column {target_column!r} (it has {', '.join(map(repr, table.columns))}): "
            "name the label column with --target-column, or pass --unlabelled for a test set")
    labelled = target_column is not None
    ids = [str(v).strip() for v in table[id_column]]
    duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
    if duplicates:
        raise PixelboardError(f"{csv_path}: duplicate IDs in column {id_column!r}: {_some(duplicates)}")
    files = _resolve_files(image_dir, ids, csv_path)
    labels = None
    if labelled:
        column = table[target_column]
        missing = column.isna() | column.str.strip().str.lower().isin(MISSING_TARGETS)
        if missing.any():
            first = int(missing.to_numpy().nonzero()[0][0])
            shown = "" if column.isna().iloc[first] else f" ({column.iloc[first].strip()!r})"
            raise PixelboardError(f"{csv_path}: empty {target_column!r}{shown} at line {first + 2} "
                                  f"({int(missing.sum())} row(s) without a label): label them or leave them out")
        labels = [_plain(v) for v in column]
    groups = [str(g) for g in table[group_column]] if group_column else None
    class_names = _read_meta(Path(meta_csv), target_column or "target") if meta_csv else {}
    return ImageSet(name=name, image_dir=image_dir, ids=ids, files=files, labels=labels,
                    class_names=class_names, groups=groups)


# Spellings of "no value" that spreadsheets and pandas write into a target column; never class names.
MISSING_TARGETS = ("", "nan", "na", "n/a", "null")


def _read_csv(path: Path) -> "pd.DataFrame":
    import pandas as pd

    if not path.is_file():
        raise PixelboardError(f"CSV file not found: {path}")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except Exception as exc:  # pandas raises several parser error types
        raise PixelboardError(f"cannot read CSV {path}: {str(exc).splitlines()[0]}") from None
    if table.empty:
        raise PixelboardError(f"CSV file has no rows: {path}")
    return table


def _require_columns(table: "pd.DataFrame", path: Path, columns: list[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise PixelboardError(f"{path}: missing column(s) {', '.join(map(repr, missing))}; "
                              f"it has {', '.join(map(repr, table.columns))} (see --id-column/--target-column)")


def _resolve_files(image_dir: Path, ids: list[str], csv_path: Path) -> list[str]:
    """Map each ID to a file inside ``image_dir``: the ID itself, or the ID plus an image extension
    (of any case: ``x`` finds ``x.PNG``). An ID that fits two files (``x.png`` and ``x.jpg``) is an error."""
    escaping = [i for i in ids if not _inside(image_dir, i)]
    if escaping:
        raise PixelboardError(f"{csv_path}: IDs point outside {image_dir} (an ID is a path relative to it, "
                              f"without '..'): {_some(escaping)}")
    present = {p.relative_to(image_dir).as_posix() for p in _walk_files(image_dir)[0]}
    by_stem: dict[str, list[str]] = {}  # "sub/x" -> image files named "sub/x.<ext>", any case
    for file in sorted(present):
        suffix = PurePosixPath(file).suffix
        if suffix.lower() in IMAGE_EXTENSIONS:
            by_stem.setdefault(file[: -len(suffix)], []).append(file)
    files, unknown, ambiguous = [], [], []
    for image_id in ids:
        if image_id in present:
            matches = [image_id]
        else:
            matches = by_stem.get(image_id, [])
            suffix = PurePosixPath(image_id).suffix
            if not matches and suffix.lower() in IMAGE_EXTENSIONS:  # "x.jpg" finds "x.JPG"
                matches = [f for f in by_stem.get(image_id[: -len(suffix)], [])
                           if PurePosixPath(f).suffix.lower() == suffix.lower()]
        if not matches:
            unknown.append(image_id)
        elif len(matches) > 1:
            ambiguous.append(f"{image_id} ({' and '.join(matches)})")
        files.append(matches[0] if matches else None)
    if unknown:
        raise PixelboardError(f"{csv_path}: {len(unknown)} ID(s) have no image in {image_dir}: {_some(unknown)}")
    if ambiguous:
        raise PixelboardError(f"{csv_path}: {len(ambiguous)} ID(s) match more than one image in {image_dir}: "
                              f"{_some(ambiguous)}; write the extension in the ID, or remove the extra file")
    return files


def _read_meta(path: Path, target_column: str) -> dict[str, str]:
    table = _read_csv(path)
    key = target_column if target_column in table.columns else "target"
    _require_columns(table, path, [key, "class_name"])
    names: dict[str, str] = {}
    for target, name in zip(table[key], table["class_name"]):
        if names.setdefault(str(target), str(name)) != str(name):
            raise PixelboardError(f"{path} gives target {str(target)!r} two names ({names[str(target)]!r} and "
                                  f"{str(name)!r}): keep one row per target")
    return names


def _inside(root: Path, image_id: str) -> bool:
    """Lexically, so ``../x`` and absolute IDs are refused but a symlinked image file is fine."""
    if os.path.isabs(image_id):
        return False
    candidate = os.path.normpath(os.path.join(root, image_id))
    return os.path.commonpath([root, candidate]) == str(root)


def _plain(value: str):
    """CSV targets are read as text; give integers back as int so a submission keeps the same label space."""
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return text


def _some(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" ... and {len(items) - limit} more" if len(items) > limit else "")
