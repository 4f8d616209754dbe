"""A portable model bundle (``model.pbz``): one file to predict with on another machine.

The bundle is a zip archive of a :class:`~pixelboard.fitted.FittedModel` folder with its members
nested, plus ``bundle.json`` (format version, where it came from, library versions). It holds data
only: JSON and skops files whose types are checked against a trusted list when loaded, so opening a
bundle never runs code from it. Featurizer weights are not copied: each featurizer specification
names its weights (the pip-installed EfficientNet-Lite0 file, a hub id, or a file path) and the
fingerprint the embeddings must reproduce, so different weights are refused rather than used.
"""

from __future__ import annotations

import io
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath

from pixelboard import atomic
from pixelboard.errors import PixelboardError
from pixelboard.fitted import FittedModel
from pixelboard.versions import library_versions

BUNDLE_FORMAT = 1
_MAX_BUNDLE_BYTES = 2 << 30  # a bundle's unpacked size: far above real models, far below a zip bomb


def export_bundle(model: FittedModel, out: str | Path, source: dict | None = None) -> Path:
    """Write ``model`` (and its members) as one zip file at ``out``, atomically."""
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        model.save(folder, nest_members=True)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("bundle.json", _json({"format": "pixelboard-bundle", "format_version": BUNDLE_FORMAT,
                                                   "model": model.model_id, "label": model.label,
                                                   "trained_on": model.trained_on, "source": source or {},
                                                   "versions": library_versions(),
                                                   "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, "model/" + path.relative_to(folder).as_posix())
        atomic.write_bytes(out, buffer.getvalue())
    return out


def load_bundle(path: str | Path) -> FittedModel:
    """Read a bundle written by :func:`export_bundle`; a damaged or foreign file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise PixelboardError(f"bundle not found: {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            _check_members(path, members)
            with tempfile.TemporaryDirectory() as tmp:
                archive.extractall(tmp)
                try:
                    meta = atomic.read_json(Path(tmp) / "bundle.json")
                    model = None
                    if isinstance(meta, dict) and meta.get("format_version") == BUNDLE_FORMAT:
                        model = FittedModel.load(Path(tmp) / "model")
                except PixelboardError as exc:
                    raise PixelboardError(_inside_bundle(str(exc), tmp, path)) from None
                if not isinstance(meta, dict) or meta.get("format") != "pixelboard-bundle":
                    raise PixelboardError(f"{path} is not a pixelboard model bundle")
                if meta.get("format_version") != BUNDLE_FORMAT:
                    raise PixelboardError(f"{path} has bundle format {meta.get('format_version')!r}; this "
                                          f"pixelboard reads format {BUNDLE_FORMAT}")
                return model
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as exc:
        raise PixelboardError(f"{path} is not a readable model bundle ({exc})") from None
    except FileNotFoundError as exc:
        raise PixelboardError(f"{path} is incomplete: {Path(exc.filename or '').name or 'a file'} is missing") from None


def _inside_bundle(message: str, tmp: str, path: Path) -> str:
    """A model error about the unpacked temporary folder, said of the bundle: ``model.pbz:model/x.skops``
    instead of a deleted ``/tmp/...`` path, and the advice that fits a bundle (export it again)."""
    message = message.replace(str(Path(tmp)) + "/", f"{path}:").replace(str(Path(tmp)), str(path))
    for advice in ("; re-run", ": delete it", ": run `", " — start a new run"):
        message = message.split(advice)[0]
    return f"{message}; the bundle is damaged or was changed: export it again (`pixelboard export-model`)"


def _check_members(path: Path, members: list[zipfile.ZipInfo]) -> None:
    """Only plain relative files, within a size bound, each with a valid checksum."""
    names = {m.filename for m in members}
    if "bundle.json" not in names:
        raise PixelboardError(f"{path} is not a pixelboard model bundle (no bundle.json)")
    for member in members:
        parts = PurePosixPath(member.filename).parts
        if member.filename.startswith("/") or ".." in parts or "\\" in member.filename:
            raise PixelboardError(f"{path} holds an unsafe path {member.filename!r}; refusing to open it")
    if sum(m.file_size for m in members) > _MAX_BUNDLE_BYTES:
        raise PixelboardError(f"{path} unpacks to more than {_MAX_BUNDLE_BYTES >> 30} GiB; refusing to open it")


def _json(obj: dict) -> str:
    import json

    return json.dumps(obj, indent=2)
