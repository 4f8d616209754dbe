"""The project's reliability battery: hostile projects, files and options, one table.

Every case plants something (a symlink where the project writes, a path out of the project in a
record, a control character or formula prefix in a name, a truncated or wrong-typed record, a full
disk, an unbounded option ...) into a copy of one small trained project, runs one command, and the
runner asserts, for all of them alike:

- the exit code: 0 handled, 1 a data error, 2 click's usage error, 130 interrupted;
- an error is exactly one ``Error:`` line that names the file or value at fault, no traceback;
- nothing outside the project changed (a sentinel folder, the images, the working directory);
- nothing finished is lost (manifests, embeddings, cache rows, fitted rows, unless the case damaged them).

Cases that already held before stay here so that they keep holding. Bad images and CSVs, locks
and file modes: tests/test_reliability_inputs.py; kill -9 resume: tests/test_leaderboard.py.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from click.testing import CliRunner
from joblib import cpu_count

from conftest import generated_rgb, write_image
from pixelboard.cli import main

CLASSES = ("<img src=x onerror=alert(1)>", "=1+2", "@fox")  # hostile class names, as folder names
PER_CLASS = 6
FIRST = CLASSES[0]


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@dataclass
class Env:
    """One case's world: ``project`` (a copy of the trained one), its images, ``outside`` (a sentinel
    folder no command may touch) and ``tmp`` (the test's folder, also the working directory)."""

    tmp: Path
    project: Path
    images: Path
    outside: Path

    @property
    def run(self) -> Path:
        return self.project / "runs" / "leaderboard"

    def leaderboard(self, *extra):
        return ["leaderboard", "--quiet", "--project", self.project, "--jobs", "1", "--folds", "2", "--mode", "quick",
                "--blueprints", "majority,lr_l2,mlp,lightgbm", "--blenders", "avg", *extra]

    def featurize(self, *extra, images=None):
        return ["featurize", "--quiet", "--workers", "0", "--project", self.project, "--images",
                images or self.images, "--backbone", "grayscale20", *extra]

    def predict(self, *extra, images=None):
        return ["predict", "--quiet", "--workers", "0", "--project", self.project, "--images",
                images or self.images / FIRST, "--out", self.tmp / "submission.csv", *extra]

    def victim(self) -> Path:
        return self.outside / "victim.txt"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """Featurized (grayscale20), a quick 2-fold leaderboard with an average blend, the blend deployed (the L2 LR is
    the baseline there, which joins no blend unless greedy picks it: the MLP and LightGBM are the blend)."""
    base = tmp_path_factory.mktemp("trained")
    images = base / "images"
    for c, name in enumerate(CLASSES):
        for n in range(PER_CLASS):
            write_image(images / name / (f"{'-' if n == 0 else ''}{n}.png"), seed=10 * c + n, size=(24, 20))
    project = base / "p"
    env = Env(base, project, images, base / "outside")
    for command in (env.featurize(), env.leaderboard(), ["deploy", "--project", project, "--model", "blend",
                                                         "--jobs", "1"]):
        result = _cli(*command)
        assert result.exit_code == 0, result.output
    return project, images


@pytest.fixture
def env(trained, tmp_path, monkeypatch) -> Env:
    project, images = trained
    shutil.copytree(project, tmp_path / "p", symlinks=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("untouched\n")
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return Env(tmp_path, tmp_path / "p", images, outside)


# --- the runner's checks ---------------------------------------------------------------------------------------
FINISHED = ("datasets/*.json", "embeddings/*/*.npy", "embeddings/*/*.json", "cache/*/*", "runs/*/models/*/*.npy",
            "runs/*/models/*/model/*", "runs/*/models/*/deployed/*", "runs/*/partition/*")


def _snapshot(folder: Path, skip: Path | None = None) -> dict[str, tuple]:
    """Every entry under ``folder`` (not following links), with its size and modification time."""
    found = {}
    for path in [folder, *folder.rglob("*")]:
        if skip is not None and (path == skip or skip in path.parents):
            continue
        st = os.lstat(path)  # a folder by its presence (its time changes with any entry made and removed)
        found[str(path.relative_to(folder))] = (st.st_mode,) if path.is_dir() and not path.is_symlink() else (
            st.st_mode, st.st_size, st.st_mtime_ns)
    return found


def _finished(project: Path) -> dict[str, bytes]:
    return {str(p.relative_to(project)): p.read_bytes() for pattern in FINISHED for p in project.glob(pattern)
            if p.is_file() and not p.is_symlink()}


def _error_line(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit), result.exception
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Env], list]  # plants the fault; returns the command line to run
    code: int  # the exit code
    says: str  # in the one Error line (code 1, 2), in the output (code 0), on stderr (130)
    check: Callable | None = None  # (env, result) -> None: the case's own assertions
    damages: tuple[str, ...] = ()  # project files the case breaks or replaces: not "finished work"
    writes: tuple[str, ...] = ("submission.csv",)  # files a command may write outside the project (in tmp)


def run_case(case: Case, env: Env):
    before_outside = _snapshot(env.tmp, skip=env.project)
    images_before = _snapshot(env.images)
    finished = {k: v for k, v in _finished(env.project).items() if not any(
        k == d or k.startswith(d.rstrip("/") + "/") for d in case.damages)}
    command = case.setup(env)
    planted = _snapshot(env.tmp, skip=env.project)
    result = _cli(*command)
    if case.code in (1, 2):
        line = _error_line(result, case.code)
        assert case.says in line, line
    elif case.code == 130:
        assert result.exit_code == 130 and case.says in result.stderr, result.output
    else:
        assert result.exit_code == 0, result.output
        assert case.says in result.output, result.output
    assert "Traceback" not in result.output
    after = _snapshot(env.tmp, skip=env.project)
    changed = {k for k in set(planted) | set(after) if planted.get(k) != after.get(k)}
    assert changed <= set(case.writes) | {"cwd"}, f"written outside the project: {sorted(changed)}"
    assert _snapshot(env.images) == images_before
    assert env.victim().read_text() == "untouched\n"
    assert not [k for k in before_outside if k not in after and k not in case.writes]
    now = _finished(env.project)
    lost = [k for k, data in finished.items() if k not in now or (k.endswith((".npy", ".skops")) and now[k] != data)]
    assert not lost, f"finished work lost: {lost}"
    assert not list(env.project.rglob("*.tmp")), "a temporary was left behind"
    if case.check:
        case.check(env, result)
    return result


# --- plants ----------------------------------------------------------------------------------------------------
def _link(env: Env, relative: str, target: Path | None = None) -> Path:
    path = env.project / relative
    if path.exists() or path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target or env.victim())
    return path


def _edit_json(env: Env, relative: str, change: Callable[[dict], object]) -> None:
    path = env.project / relative
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def _write(env: Env, relative: str, data: bytes | str) -> None:
    path = env.project / relative
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def _truncate(env: Env, relative: str) -> None:
    path = env.project / relative
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)])


def _then(*steps):
    """Run each step (callables of env) and return the last one's value: setup = plant + command."""
    def setup(env):
        value = None
        for step in steps:
            value = step(env)
        return value
    return setup


def _is_regular(relative: str):
    def check(env, result):
        path = env.project / relative
        assert path.is_file() and not path.is_symlink()
    return check


def _member_path(env: Env, sub: str) -> list:
    if sub == "model":  # the fold models' blend, not its deployed refit (which predict would prefer)
        (env.run / "deployed.json").unlink()
    _edit_json(env, f"runs/leaderboard/models/B1/{sub}/model.json",
               lambda m: {**m, "members": ["../../../../x/models/M2", *m["members"][1:]]})
    return env.predict(*(["--model", "B1"] if sub == "model" else []))


# --- injection -------------------------------------------------------------------------------------------------
INJECTED = "2026-12-04 00:00:00 ERROR   pixelboard: forged"


def _newline_folder(env: Env) -> Path:
    folder = env.tmp / "newline"
    write_image(folder / "good.png", seed=1, size=(24, 20))
    (folder / f"bad\n{INJECTED}.png").write_bytes(b"")
    return folder


def _no_forged_line(env, result):
    lines = [*result.stderr.splitlines(), *result.stdout.splitlines(),
             *(env.project / "embeddings" / "unseen" / "featurize.log").read_text().splitlines()]
    assert not [line for line in lines if line.startswith(INJECTED)]
    assert any("bad\\n" + INJECTED in line for line in lines)


def _markdown_escaped(env, result):
    (document,) = (env.run / "documents").glob("*.md")
    text = document.read_text(encoding="utf-8")
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text


def _csv_cells_are_text(env, result):
    cells = [cell for name in ("label_issues.csv", "near_duplicates.csv", "outliers.csv")
             for row in csv.reader(io.StringIO((env.run / name).read_text(encoding="utf-8"))) for cell in row[:3]]
    assert any(cell.startswith("'=1+2") for cell in cells)  # the class names and file IDs are there, neutralised
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "@") or (cell[:1] == "-" and not _number(cell))]
    page = (env.run / "report.html").read_text(encoding="utf-8")
    assert "<img src=x onerror" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- tracebacks ------------------------------------------------------------------------------------------------
def _non_utf8_folder(env: Env) -> list:
    folder = env.tmp / "bytes"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.png"), "wb") as handle:
        generated_rgb(3, (24, 20)).save(handle, format="PNG")
    write_image(folder / "plain.png", seed=2, size=(24, 20))
    return env.predict(images=folder)


def _submission_names_the_bytes(env, result):
    data = (env.tmp / "submission.csv").read_bytes()
    assert b"caf\xe9.png" in data and b"plain.png" in data


# --- silent drops ----------------------------------------------------------------------------------------------
def _mixed_folder(env: Env) -> list:
    folder = env.tmp / "mixed"
    write_image(folder / "a.png", seed=1, size=(24, 20))
    frames = [generated_rgb(s, (24, 20)).convert("P") for s in (2, 3)]
    frames[0].save(folder / "moving.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    (folder / "notes.txt").write_text("not an image")
    (folder / "gone.png").symlink_to(env.tmp / "nowhere.png")
    return env.predict(images=folder)


def _every_file_used_or_named(env, result):
    rows = (env.tmp / "submission.csv").read_text().splitlines()[1:]
    assert sorted(row.split(",")[0] for row in rows) == ["a.png", "moving.gif"]
    warning = [line for line in result.stderr.splitlines() if line.startswith("left out 2 file(s)")]
    assert len(warning) == 1 and "notes.txt (not an image)" in warning[0] and "gone.png (broken symbolic link)" in warning[0]


# --- namespaces --------------------------------------------------------------------------------------------------
def _run_config_is_a_run(env, result):
    config = json.loads((env.run / "config.json").read_text())
    assert config["options"]["run"] == "leaderboard"
    assert json.loads((env.project / "datasets" / "config.json").read_text())["name"] == "config"


def _old_layout(env: Env) -> list:
    (env.project / "runs" / "leaderboard").rename(env.project / "leaderboard")
    (env.project / "runs").rmdir()
    return env.predict()


def _moved(env, result):
    assert (env.run / "ranking.json").is_file() and not (env.project / "leaderboard").exists()


# --- full disk ---------------------------------------------------------------------------------------------------
def _no_space_to_reserve(env: Env) -> list:
    def refuse(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    env.monkeypatch.setattr(os, "posix_fallocate", refuse)
    return env.featurize("--set", "more")


def _short_write(env: Env) -> list:
    def short(*args, **kwargs):  # what numpy says when the disk fills mid-array (errno unset)
        raise OSError("6000 requested and 1520 written")

    env.monkeypatch.setattr(np, "save", short)
    return env.leaderboard("--run", "fresh")


def _orphans(env: Env) -> list:
    folder = env.project / "embeddings" / "more"
    folder.mkdir()
    (folder / ".grayscale20.npy.999999999.abc123.tmp").write_bytes(b"x" * 1000)  # its writer is gone
    old = folder / ".grayscale20.npy.k2j3h4.tmp"  # an older pixelboard's, two days old
    old.write_bytes(b"x" * 1000)
    os.utime(old, (old.stat().st_atime - 2 * 86400,) * 2)
    return env.featurize("--set", "more")


# --- bundles -----------------------------------------------------------------------------------------------------
def _bundle(env: Env, damage: Callable[[str, bytes], list[tuple[str, bytes]]]) -> list:
    plain = env.tmp / "plain.pbz"
    assert _cli("export-model", "--project", env.project, "--out", plain).exit_code == 0
    hostile = env.tmp / "model.pbz"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(hostile, "w") as dst:
        for item in src.infolist():
            for name, data in damage(item.filename, src.read(item)):
                dst.writestr(name, data)
    return env.predict("--bundle", hostile)


def _garbled_estimator(name, data):
    return [(name, b"garbage" if name.endswith("estimator_0.skops") else data)]


def _zip_slip(name, data):
    return [(name, data), *([("../../outside/evil.skops", b"x")] if name == "bundle.json" else [])]


def _names_the_bundle(env, result):
    assert "/tmp/tmp" not in result.stderr and "model.pbz:model/" in result.stderr


# --- conventions ------------------------------------------------------------------------------------------------
def _meta_two_names(env: Env) -> list:
    folder = env.tmp / "comp"
    for n in range(6):
        write_image(folder / "images" / f"{n}.png", seed=n, size=(24, 20))
    (folder / "train.csv").write_text("ID,target\n" + "".join(f"{n}.png,{n % 2}\n" for n in range(6)))
    (folder / "meta.csv").write_text("target,class_name\n0,cat\n1,dog\n0,kitten\n")
    return env.featurize("--labels", folder / "train.csv", "--meta", folder / "meta.csv", "--set", "comp",
                         images=folder / "images")


def _interrupt(env: Env) -> list:
    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    env.monkeypatch.setattr("pixelboard.leaderboard.runner.run_leaderboard", stop)
    return env.leaderboard("--run", "stopped")


def _jobs_capped(env, result):
    log = (env.project / "runs" / "many" / "run.log").read_text()
    assert f"jobs={min(1000, cpu_count())}," in log


def _nothing_left(*relative):
    def check(env, result):
        for name in relative:
            assert not (env.tmp / name).exists(), name
    return check


def _pickled_array(env: Env) -> list:
    np.save(env.run / "models" / "M2" / "oof.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return env.leaderboard()


def _absent_project(env: Env) -> list:
    return [*env.leaderboard()[:3], env.tmp / "none", *env.leaderboard()[4:]]


CASES = [
    # --- writes and reads outside the project
    Case("run.log is a symlink", lambda e: (_link(e, "runs/leaderboard/run.log"), e.leaderboard())[1], 1,
         "run.log is a symbolic link", damages=("runs/leaderboard/run.log",)),
    Case("featurize.log is a symlink", lambda e: (_link(e, "embeddings/train/featurize.log"), e.featurize())[1], 1,
         "featurize.log is a symbolic link"),
    Case("a run folder links out", lambda e: (_link(e, "runs/other", e.outside), e.leaderboard("--run", "other"))[1],
         1, "leads outside the project"),
    Case("ranking.json is a symlink (held)", lambda e: (_link(e, "runs/leaderboard/ranking.json"), e.leaderboard())[1],
         0, "new model(s) fitted", _is_regular("runs/leaderboard/ranking.json"), damages=("runs/leaderboard/ranking.json",)),
    Case("manifest is a symlink (held)", lambda e: (_link(e, "datasets/train.json"), e.featurize())[1], 0,
         "grayscale20:", _is_regular("datasets/train.json"), damages=("datasets/train.json",)),
    Case("deployed blend member ../", lambda e: _member_path(e, "deployed"), 1,
         "names an invalid file '../../../../x/models/M2'"),
    Case("blend member ../", lambda e: _member_path(e, "model"), 1, "names an invalid file '../../../../x/models/M2'",
         damages=("runs/leaderboard/models/B1/deployed",)),
    Case("estimator file ../ (held)", lambda e: (_edit_json(e, "runs/leaderboard/models/M2/model/model.json", lambda m: {
        **m, "estimators": ["../../../../../outside/e.skops"]}), e.predict("--model", "M2"))[1], 1, "names an invalid file"),
    Case("deployed.json model ../", lambda e: (_edit_json(e, "runs/leaderboard/deployed.json", lambda d: {
        **d, "model": "../../../x"}), e.predict())[1], 1, "'../../../x' is not a model id"),
    Case("ranking id ../", lambda e: (_edit_json(e, "runs/leaderboard/ranking.json", lambda r: {
        **r, "ids": ["../../x"]}), e.predict("--model", "best"))[1], 1, "'../../x' is not a model id"),
    # --- injection
    Case("file name with a newline (skipped)", lambda e: e.featurize("--skip-bad-images", "--set", "unseen",
         "--unlabelled", images=_newline_folder(e)), 0, "1 rows", _no_forged_line),
    Case("file name with a newline (error)", lambda e: e.featurize("--set", "unseen", "--unlabelled",
         images=_newline_folder(e)), 1, "bad\\n" + INJECTED),
    Case("class names in the Markdown document", lambda e: ["document", "--project", e.project, "--format", "md",
         "--quiet"], 0, "documented", _markdown_escaped),
    Case("class and file names in the report's CSVs", lambda e: ["report", "--project", e.project, "--quiet"], 0,
         "data quality", _csv_cells_are_text),
    # --- tracebacks
    Case("non-UTF-8 file name in predict", _non_utf8_folder, 0, "predicted 2 images", _submission_names_the_bytes),
    Case("featurize --seed -1", lambda e: e.featurize("--seed", "-1"), 2, "'--seed'"),
    Case("leaderboard --seed 2**40", lambda e: e.leaderboard("--seed", str(2**40)), 2, "'--seed'"),
    Case("ranking.json {} then predict best", lambda e: (_write(e, "runs/leaderboard/ranking.json", "{}"),
         e.predict("--model", "best"))[1], 1, "ranking.json is damaged (not a ranking: no 'metric' field)"),
    Case("config.json null then report", lambda e: (_write(e, "runs/leaderboard/config.json", "null"),
         ["report", "--project", e.project, "--quiet"])[1], 1, "config.json is damaged (not a run config: a JSON null"),
    Case("partition.json version only", lambda e: (_write(e, "runs/leaderboard/partition/partition.json",
         '{"format_version": 2}'), e.leaderboard())[1], 1, "partition.json is damaged (not a saved partition: no 'n_rows'",
         damages=("runs/leaderboard/partition/partition.json",)),
    # --- names that were the project's own folders
    Case("--run datasets", lambda e: e.leaderboard("--run", "datasets"), 0, "runs/datasets/leaderboard.csv"),
    Case("--set config, then the run", _then(lambda e: _cli(*e.featurize("--set", "config")), lambda e: e.leaderboard()),
         0, "new model(s) fitted", _run_config_is_a_run),
    Case("--set ranking", lambda e: e.featurize("--set", "ranking"), 0, "grayscale20:",
         lambda e, r: json.loads((e.run / "ranking.json").read_text())["ids"]),
    Case("a project of the old layout", _old_layout, 0, "predicted", _moved),
    # --- full disk
    Case("full disk under a memory map", _no_space_to_reserve, 1, "no space left on "),
    Case("full disk in np.save", _short_write, 1, ".npy): free some space"),
    Case("orphaned temporaries", _orphans, 0, "grayscale20:"),  # the runner: no *.tmp left in the project
    # --- bundles
    Case("damaged bundle names the .pbz", lambda e: _bundle(e, _garbled_estimator), 1, "model.pbz:model/",
         _names_the_bundle, writes=("plain.pbz", "model.pbz")),
    Case("zip-slip bundle (held)", lambda e: _bundle(e, _zip_slip), 1, "unsafe path", writes=("plain.pbz", "model.pbz")),
    # --- silent drops
    Case("gif, text file and broken link in a folder", _mixed_folder, 0, "predicted 2 images",
         _every_file_used_or_named),
    # --- unbounded options
    Case("--augment-copies 1000000", lambda e: e.featurize("--augment", "noise", "--augment-copies", "1000000"), 2,
         "'--augment-copies'"),
    Case("--jobs 1000", lambda e: e.leaderboard("--jobs", "1000", "--run", "many"), 0, "new model(s)", _jobs_capped),
    Case("meta.csv gives a target two names", _meta_two_names, 1, "meta.csv gives target '0' two names ('cat' and "
         "'kitten')"),
    # --- a failed command leaves nothing behind; exit codes
    Case("leaderboard in an empty folder", _absent_project, 1, "no image set 'train'", _nothing_left("none")),
    Case("predict --bundle in an empty folder", lambda e: ["predict", "--images", e.images / FIRST, "--bundle",
         "missing.pbz"], 1, "bundle not found: missing.pbz", _nothing_left("cwd/pixelboard-project")),
    Case("predict --bundle away from any project", lambda e: (_cli("export-model", "--project", e.project, "--out",
         e.tmp / "model.pbz"), ["predict", "--quiet", "--workers", "0", "--images", e.images / FIRST, "--bundle",
         e.tmp / "model.pbz", "--out", e.tmp / "submission.csv"])[1], 0, "predicted 6 images",
         _nothing_left("cwd/pixelboard-project"), writes=("model.pbz", "submission.csv")),
    Case("failed run leaves no run folder", lambda e: e.leaderboard("--set", "nope", "--run", "x"), 1,
         "no image set 'nope'", lambda e, r: not (e.project / "runs" / "x").exists() or pytest.fail("runs/x left")),
    Case("Ctrl-C", _interrupt, 130, "Interrupted: finished work is saved"),
    # --- planted pickles (held)
    Case("pickled oof.npy", _pickled_array, 1, "oof.npy is damaged", damages=("runs/leaderboard/models/M2/oof.npy",)),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_case(case, env, monkeypatch):
    env.monkeypatch = monkeypatch
    run_case(case, env)


# --- every record kind: truncated, empty, wrong-typed ----------------------------------------------------------
RECORDS = {  # record -> the command that reads it
    "datasets/train.json": "leaderboard",
    "embeddings/train/grayscale20.json": "leaderboard",
    "runs/leaderboard/ids.json": "leaderboard",
    "runs/leaderboard/partition/partition.json": "leaderboard",
    "runs/leaderboard/ranking.json": "predict --model best",
    "runs/leaderboard/config.json": "deploy",
    "runs/leaderboard/deployed.json": "predict",
    "runs/leaderboard/models/M2/result.json": "predict --model M2",
    "runs/leaderboard/models/M2/model/model.json": "predict --model M2",
}
DAMAGE = {"truncated": _truncate, "empty": lambda e, r: _write(e, r, b""),
          "null": lambda e, r: _write(e, r, "null"), "a list": lambda e, r: _write(e, r, "[1]")}


def _command(env: Env, name: str) -> list:
    word, *extra = name.split()
    if word == "leaderboard":
        return env.leaderboard(*extra)
    if word == "deploy":
        return ["deploy", "--project", env.project, "--jobs", "1"]
    return env.predict(*extra)


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("record", RECORDS)
def test_every_damaged_record_is_one_line_naming_it(env, record, damage):
    case = Case(f"{record} {damage}", lambda e: (DAMAGE[damage](e, record), _command(e, RECORDS[record]))[1],
                1, f"{env.project / record} is damaged", damages=(record,))
    run_case(case, env)


# --- "delete it and run again" is true: done ---------------------------------------------------------------------
ADVICE = {  # damaged file -> the command that reports it
    "runs/leaderboard/models/M2/oof.npy": "leaderboard",
    "runs/leaderboard/models/M2/holdout.npy": "leaderboard",
    "runs/leaderboard/partition/group_fold.npy": "leaderboard",
    "runs/leaderboard/partition/partition.json": "leaderboard",
    "runs/leaderboard/ranking.json": "predict --model best",
    "runs/leaderboard/config.json": "deploy",
    "runs/leaderboard/ids.json": "leaderboard",
    "runs/leaderboard/models/M2/result.json": "predict --model M2",
    "runs/leaderboard/models/M2/model/estimator_0.skops": "predict --model M2",
    "embeddings/train/grayscale20.npy": "leaderboard",
}


@pytest.mark.parametrize("record", ADVICE)
def test_delete_it_and_run_again_recovers(env, record):
    _truncate(env, record)
    line = _error_line(_cli(*_command(env, ADVICE[record])), 1)
    assert f"{env.project / record} " in line and "delete it and run `pixelboard " in line, line
    (env.project / record).unlink()  # as the message says ...
    again = line.split("delete it and run `pixelboard ")[1].split("`")[0].split()[0]
    first = _cli(*(_command(env, again) if again != "featurize" else env.featurize()))
    assert first.exit_code == 0, first.output  # ... and run the command it names again
    assert (env.project / record).is_file()
    assert _cli(*_command(env, ADVICE[record])).exit_code == 0  # the command that failed now works


# --- a planted symbolic link at every kind of file the project writes ------------------------------------------
LINKED = "is a symbolic link: pixelboard reads and writes its files only as plain files inside the project"
FEATURIZED = ("embeddings/train", "datasets/train.json")
WRITTEN = {  # a file the project writes -> the command that writes it again, its exit code, what else it rewrites
    ".lock": ("leaderboard", 1, ()),
    "file-index.json": ("featurize --augment hflip", 0, FEATURIZED),
    "datasets/train.json": ("featurize", 0, ()),
    "embeddings/train/grayscale20.npy": ("featurize --augment hflip", 0, FEATURIZED),
    "embeddings/train/grayscale20.json": ("featurize --augment hflip", 0, FEATURIZED),
    "runs/leaderboard/ids.json": ("leaderboard", 1, ()),
    "runs/leaderboard/config.json": ("leaderboard", 0, ()),
    "runs/leaderboard/ranking.json": ("leaderboard", 0, ()),
    "runs/leaderboard/leaderboard.html": ("leaderboard", 0, ()),
    "runs/leaderboard/learning_curve.json": ("leaderboard", 0, ()),
    "runs/leaderboard/deployed.json": ("deploy", 0, ("runs/leaderboard/models",)),
    "runs/leaderboard/models/M2/result.json": ("leaderboard", 1, ()),
    "runs/leaderboard/models/M2/oof.npy": ("leaderboard", 1, ()),
    "datasets/test.json": ("predict", 1, ()),
}


@pytest.mark.parametrize("relative", WRITTEN)
def test_a_planted_link_is_never_followed(env, relative):
    """Written: the link is replaced by the project's own file; read first: refused in one line. Never
    is the file it points to read or written."""
    name, code, rewrites = WRITTEN[relative]
    word, *extra = name.split()
    command = env.featurize(*extra) if word == "featurize" else _command(env, name)
    case = Case(f"link at {relative}", lambda e: (_link(e, relative), command)[1], code,
                f"{env.project / relative} {LINKED}" if code else "", damages=(relative, *rewrites))
    run_case(case, env)
    path = env.project / relative
    assert path.is_symlink() if code else not path.is_symlink() and path.is_file()


# --- the escaping helpers the outputs share ---------------------------------------------------------------------
@pytest.mark.parametrize("raw, shown", [
    ("a\nb", "a\\nb"), ("a\rb", "a\\rb"), ("tab\there", "tab\\there"), ("\x1b[31mred", "\\x1b[31mred"),
    ("bidi\u202egnp.exe", "bidi\\u202egnp.exe"), ("line\u2028sep", "line\\u2028sep"),
    (os.fsdecode(b"caf\xe9.png"), "caf\\xe9.png"), ("plain é 猫.png", "plain é 猫.png")])
def test_printable_escapes_what_could_rewrite_a_line(raw, shown):
    from pixelboard.logs import printable

    assert printable(raw) == shown


@pytest.mark.parametrize("raw, written", [("=1+2", "'=1+2"), ("+fox", "'+fox"), ("-x.png", "'-x.png"),
                                          ("@fox", "'@fox"), ("\tx", "'\tx"), ("cat", "cat"), ("a=b", "a=b")])
def test_csv_text_cells_never_start_a_formula(tmp_path, raw, written):
    from pixelboard.insights.data_quality import LabelIssue, write_csv

    path = write_csv([LabelIssue(raw, raw, "cat", -0.5)], tmp_path / "issues.csv")
    (row,) = list(csv.reader(io.StringIO(path.read_text())))[1:]
    assert row[:3] == [written, written, "cat"] and float(row[3]) == -0.5  # numbers stay numbers
