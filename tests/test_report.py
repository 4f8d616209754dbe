"""``pixelboard report``: one offline HTML page, every section built from the run's real arrays, rendered
in a real headless browser (Debian's chromium) without console errors.

The project (tests/insights_project.py) plants two flipped labels, a near-duplicate pair inside the
training set and a test image copied from a training image: the data-quality lists must find them.
Without chromium the browser tests skip locally and fail under CI=true (`.ci/run` installs it).
"""

from __future__ import annotations

import csv
import html
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from insights_project import FLIPPED, TEST_COPY, TRAIN_DUPLICATE, insights_project  # noqa: F401 (fixture)

import pixelboard
from pixelboard.cli import main
from pixelboard.errors import PixelboardError
from pixelboard.insights.report_models import distinct_rows

SECTIONS = ["leaderboard", "partition", "options", "timings", "activation-maps", "embedding-map", "data-quality",
            "label-issues", "near-duplicates", "outliers"]
MODEL_PARTS = ["confusion", "per-class", "roc", "confused-pairs", "misclassified"]


@pytest.fixture(scope="module")
def finished(insights_project):
    """The project, and the report built once with the default options (top 3 models)."""
    return insights_project, insights_project.report(progress=False, device="cpu")


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    message = "chromium is not installed (apt-get install -y chromium); `.ci/run` installs it"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def render(page: Path, tmp_path: Path, width: int = 1600, height: int = 1000,
           screenshot: Path | None = None) -> tuple[str, list[str]]:
    """The DOM after the page's scripts ran (or, with ``screenshot``, a PNG of the first screen), and the
    console lines chromium logged while loading it."""
    output = [f"--screenshot={screenshot}", "--hide-scrollbars"] if screenshot else ["--dump-dom"]
    result = subprocess.run(
        [chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
         f"--window-size={width},{height}", "--virtual-time-budget=5000", *output, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return result.stdout, console


class Links(HTMLParser):
    """Every src / href of a page, and every element id."""

    def __init__(self):
        super().__init__()
        self.urls, self.ids = [], []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.urls.append(value)
            if name == "id":
                self.ids.append(value)


def parsed(text: str) -> Links:
    links = Links()
    links.feed(text)
    return links


def test_report_has_every_section_and_finds_the_planted_problems(finished):
    project, result = finished
    page = result.path.read_text(encoding="utf-8")
    assert result.path == project.path / "runs" / "leaderboard" / "report.html"
    ids = set(parsed(page).ids)
    rows = project.load_leaderboard().rows
    # One section per distinct model: a blend with the same members and scores as a detailed one is skipped.
    # The recommended model first (it is the one beside the leaderboard), then the best distinct others.
    from pixelboard.insights.report import _recommended_first

    top3, repeats = distinct_rows(_recommended_first(rows), "macro_f1", 3)
    top3 = [r["id"] for r in top3]
    assert result.models == top3 and len(set(top3)) == 3
    for repeat, original in repeats.items():
        same = next(r for r in rows if r["id"] == original)
        again = next(r for r in rows if r["id"] == repeat)
        assert sorted(same["members"]) == sorted(again["members"]) and f"model-{repeat}" not in ids
        assert f"{repeat}" in page[page.index(f'<article id="model-{original}">'):]
    assert {"recommended", f"model-{rows[0]['id']}-confusion-share"} <= ids
    for section in SECTIONS + [f"model-{m}" for m in top3] + [f"model-{m}-{p}" for m in top3 for p in MODEL_PARTS]:
        assert section in ids, f"section {section} missing"

    issues = list(csv.DictReader(result.csv["label_issues"].open()))
    assert set(FLIPPED) <= {row["image_id"] for row in issues}
    flagged = {row["image_id"]: row for row in issues}
    assert flagged["c0_00.png"]["given"] == "class 1" and flagged["c0_00.png"]["suggested"] == "class 0"
    pairs = list(csv.DictReader(result.csv["near_duplicates"].open()))
    assert {(p["a"], p["b"], p["within"]) for p in pairs[:1]} == {(*TRAIN_DUPLICATE, "train")}
    assert (*TEST_COPY, "train-test") in {(p["a"], p["b"], p["within"]) for p in pairs}
    outliers = list(csv.DictReader(result.csv["outliers"].open()))
    assert len(outliers) == result.counts["outliers"] > 0 and set(outliers[0]) == {"image_id", "score"}
    maps = page[page.index('<section id="activation-maps">'):page.index('<section id="embedding-map">')]
    assert maps.count('<figure class="thumb map">') == 2 * 4 and "method: occlusion" in maps  # 2 per class
    for image_id in [*FLIPPED, *TRAIN_DUPLICATE]:  # listed with their thumbnails
        assert re.search(rf'<figure class="thumb[^"]*" title="{re.escape(image_id)}"><img src="data:image/png', page)


def test_report_is_self_contained_and_linked_from_the_leaderboard(finished):
    project, result = finished
    page = parsed(result.path.read_text(encoding="utf-8"))
    links = page.urls
    assert links, "no src/href at all"
    dangling = [url for url in links if url.startswith("#") and url[1:] not in page.ids]
    assert not dangling, f"links to sections that are not there: {dangling}"
    for url in links:  # pictures inline; links to anchors or to files beside the report, never the network
        assert url.startswith(("data:image/png;base64,", "#")) or url in (
            "leaderboard.html", "label_issues.csv", "near_duplicates.csv", "outliers.csv"), url
    assert sum(url.startswith("data:image/png") for url in links) > 20
    board = (result.path.parent / "leaderboard.html").read_text(encoding="utf-8")
    assert 'id="report-link" href="report.html"' in board
    # A later leaderboard run keeps the link (the report is still there). The same options: the session's
    # shared project must not change under the other tests.
    from insights_project import LEADERBOARD

    project.leaderboard(**LEADERBOARD)
    assert 'href="report.html"' in (result.path.parent / "leaderboard.html").read_text(encoding="utf-8")


def test_report_renders_in_headless_chromium_without_console_errors(finished, tmp_path):
    _, result = finished
    dom, console = render(result.path, tmp_path)
    assert not console, "console messages:\n" + "\n".join(console)
    ids = set(parsed(dom).ids)
    for section in SECTIONS + [f"model-{m}" for m in result.models]:
        assert section in ids, f"section {section} not in the rendered page"
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert 'data-ready="1"' in body, "the page's script did not run"
    assert 'data-broken-images="0"' in body, "pictures that did not decode: " + body
    assert int(re.search(r'data-images="(\d+)"', body).group(1)) > 20


# Measured in the page by chromium once it has loaded: boxes wider than they show (a section, an article, a
# part of one), sections drawn with no height, requests that left the page (resource timing: every fetch,
# image, style or script from a URL that is not a data: URI), and where the first screen ends.
MEASURE = """<script>
window.addEventListener("load", function () {
  const boxes = Array.from(document.querySelectorAll("section[id], article[id], div[id]"));
  document.body.dataset.boxes = String(boxes.length);
  document.body.dataset.overflow = boxes.filter(function (b) { return b.scrollWidth > b.clientWidth + 1; })
    .map(function (b) { return b.id + ":" + b.scrollWidth + ">" + b.clientWidth; }).join(" ");
  document.body.dataset.empty = boxes.filter(function (b) { return b.offsetHeight < 20; })
    .map(function (b) { return b.id; }).join(" ");
  document.body.dataset.requests = performance.getEntriesByType("resource").map(function (e) { return e.name; })
    .filter(function (n) { return !n.startsWith("data:"); }).join(" ");
  const bottom = function (id) { return Math.round(document.getElementById(id).getBoundingClientRect().bottom); };
  document.body.dataset.fold = String(window.innerHeight);
  document.body.dataset.leaderboardTop = String(Math.round(
    document.getElementById("leaderboard-table").getBoundingClientRect().top));
  document.body.dataset.matrixBottom = String(bottom("recommended"));
  const table = document.getElementById("leaderboard-table");
  const holdout = Array.from(table.tHead.rows[0].cells).find(function (c) { return c.textContent === "Holdout"; });
  document.body.dataset.holdoutShown = String(
    holdout.getBoundingClientRect().right <= table.parentElement.getBoundingClientRect().right + 1);
  document.body.dataset.measured = "1";
});
</script></body>"""


def measured(dom: str) -> dict[str, str]:
    body = re.search(r"<body([^>]*)>", dom).group(1)
    return {name: html.unescape(value) for name, value in re.findall(r'data-([a-z-]+)="([^"]*)"', body)}


@pytest.mark.parametrize("width", [1600, 1000])
def test_every_section_renders_without_overflow_or_requests(finished, tmp_path, width):
    """Every section and part has a height, nothing is wider than its box (wide tables scroll inside their
    own wrapper), no request leaves the page, and at 1600 px the leaderboard and the recommended model's
    confusion matrix are on the first screen."""
    _, result = finished
    copy = tmp_path / "measured.html"
    copy.write_text(result.path.read_text(encoding="utf-8").replace("</body>", MEASURE), encoding="utf-8")
    dom, console = render(copy, tmp_path, width=width)
    assert not console, console
    values = measured(dom)
    assert values.get("measured") == "1", "the measuring script did not run"
    assert int(values["boxes"]) > 20
    assert values["overflow"] == "", f"boxes wider than they show at {width} px: {values['overflow']}"
    assert values["empty"] == "", f"sections drawn empty: {values['empty']}"
    assert values["requests"] == "", f"requests that left the page: {values['requests']}"
    if width == 1600:
        assert int(values["leaderboard-top"]) < int(values["fold"]) / 2
        assert int(values["matrix-bottom"]) <= int(values["fold"]), "the confusion matrix is below the first screen"
        assert values["holdout-shown"] == "true", "the scores are scrolled out of the leaderboard's box"


def test_first_screen_screenshot(finished, tmp_path):
    """A real screenshot of the first screen: it is drawn (many colours: tables, the colour map), not blank."""
    from PIL import Image

    _, result = finished
    shot = tmp_path / "report.png"
    _, console = render(result.path, tmp_path, screenshot=shot)
    assert not console, console
    image = Image.open(shot).convert("RGB")
    assert image.size == (1600, 1000)
    colours = image.resize((400, 250)).getcolors(maxcolors=100_000)
    assert colours is not None and len(colours) > 500


def test_confused_pairs_show_ten_and_hide_the_rest(finished):
    """Top 10 pairs in view, every other behind a "show all" toggle (no section thousands of pixels tall)."""
    from dataclasses import replace

    from pixelboard.insights.metrics import ConfusedPair
    from pixelboard.insights.report_models import model_html
    from pixelboard.insights.run_data import load_run
    from pixelboard.insights.sections import model_section

    project, _ = finished
    data = load_run(project.files)
    section = model_section(data, data.rows[0])
    some_id = data.labels.ids[0]
    pairs = [ConfusedPair(f"t{k}", f"p{k}", 30 - k, [some_id] * 6) for k in range(25)]
    page = model_html(data, replace(section, insights=replace(section.insights, confused_pairs=pairs)))
    pairs_part = page[page.index("-confused-pairs"):page.index("-misclassified")]
    shown, hidden = pairs_part.split("<details", 1)
    assert "Most-confused pairs (top 10 of 25)" in shown and "show all 25 pairs (15 more)" in hidden
    assert shown.count("<tr><td") == 10 and hidden.count("<tr><td") == 15
    assert shown.count('<figure class="thumb') == 10 * 4  # 4 examples per pair, not all 6


def test_tables_filter_in_the_browser(finished, tmp_path):
    """The page's own filter box: typing a blueprint's name leaves only its rows."""
    _, result = finished
    page = result.path.read_text(encoding="utf-8")
    first = pixelboard.Project(result.path.parents[2]).load_leaderboard().rows[0]["label"]
    script = ("<script>window.addEventListener('load', function () {"
              "const box = document.querySelector('input.filter[data-table=\"timings-table\"]');"
              f"box.value = {first!r}; box.dispatchEvent(new Event('input'));"
              "const rows = Array.from(document.getElementById('timings-table').tBodies[0].rows);"
              "document.body.dataset.visible = rows.filter(r => !r.hidden).map(r => r.cells[1].textContent).join('|');"
              "});</script></body>")
    copy = tmp_path / "filtered.html"
    copy.write_text(page.replace("</body>", script), encoding="utf-8")
    dom, console = render(copy, tmp_path)
    assert not console, console
    visible = measured(dom)["visible"].split("|")
    assert visible and set(visible) == {first}


def test_leaderboard_table_sorts_in_the_browser(finished, tmp_path):
    """The page's own sort code, run by chromium: a click on "Holdout" orders the rows by it."""
    _, result = finished
    page = result.path.read_text(encoding="utf-8")
    click = ("<script>const t = document.getElementById('leaderboard-table');"
             "const col = Array.from(t.tHead.rows[0].cells).findIndex(c => c.textContent === 'Fit s');"
             "t.tHead.rows[0].cells[col].click();"
             "document.body.dataset.sorted = Array.from(t.tBodies[0].rows).map(r => r.cells[col].dataset.v).join('|');"
             "</script></body>")
    copy = tmp_path / "sorted.html"
    copy.write_text(page.replace("</body>", click), encoding="utf-8")
    dom, console = render(copy, tmp_path)
    assert not console, console
    values = [float(v) for v in re.search(r'data-sorted="([^"]*)"', dom).group(1).split("|")]
    by_rank = [r["fit_seconds"] for r in pixelboard.Project(result.path.parents[2]).load_leaderboard().rows]
    assert sorted(values) == sorted(by_rank) and values == sorted(values) and by_rank != values


def test_report_command_custom_output_and_errors(finished, tmp_path):
    project, _ = finished
    out = tmp_path / "elsewhere" / "team.html"
    run = CliRunner().invoke(main, ["report", "--project", str(project.path), "-o", str(out), "--models", "1",
                                    "--per-class", "1", "--device", "cpu", "--quiet"])
    assert run.exit_code == 0, run.output
    assert f"report: {out}" in run.stdout and "likely label errors" in run.stdout
    assert {p.name for p in out.parent.iterdir()} == {"team.html", "label_issues.csv", "near_duplicates.csv",
                                                      "outliers.csv"}
    ids = set(parsed(out.read_text(encoding="utf-8")).ids)
    leaderboard = project.load_leaderboard()
    other = next(r for r in leaderboard.rows if r["id"] != leaderboard.best["id"])
    assert f"model-{leaderboard.best['id']}" in ids and f"model-{other['id']}" not in ids  # --models 1: the recommended one
    board = (project.path / "runs" / "leaderboard" / "leaderboard.html").read_text(encoding="utf-8")
    link = Path(os.path.relpath(out, project.path / "runs" / "leaderboard")).as_posix()
    assert f'href="{link}"' in board  # the leaderboard page links to where the report went
    from pixelboard.leaderboard.export import write_tables

    write_tables(leaderboard.rows, "macro_f1", project.path / "runs" / "leaderboard", formats=("html",))  # back to report.html

    empty = CliRunner().invoke(main, ["report", "--project", str(tmp_path / "nothing")])
    assert empty.exit_code == 1 and empty.stderr.startswith("Error: no leaderboard in") and "Traceback" not in empty.output
    with pytest.raises(PixelboardError, match="models must be at least 1"):
        project.report(models=0)


def test_missing_images_are_one_line_errors(finished, tmp_path):
    project, _ = finished
    image = project.files.load_image_set("train").image_dir / "c3_07.png"
    hidden = image.rename(tmp_path / "c3_07.png")
    try:
        run = CliRunner().invoke(main, ["report", "--project", str(project.path), "--quiet"])
    finally:
        hidden.rename(image)
    assert run.exit_code == 1 and "Traceback" not in run.output
    assert re.fullmatch(r"Error: 1 image\(s\) of set 'train' are missing \(e\.g\. .*c3_07\.png\); .*\n", run.stderr)


def test_learning_curve_is_drawn_only_when_the_run_has_stages(finished):
    """A model's stages from ``learning_curve.json`` become its learning-curve section; no file, no section."""
    import json

    from pixelboard.insights.report import model_html
    from pixelboard.insights.run_data import load_run
    from pixelboard.insights.sections import model_section

    project, _ = finished
    data = load_run(project.files)
    leaf = next(r for r in data.rows if r["kind"] == "model" and r["blueprint"] == "lr_l2")
    other = next(r for r in data.rows if r["kind"] == "model" and r["blueprint"] == "majority")
    stages = [{"blueprint": leaf["blueprint"], "featurizer": leaf["featurizer"], "sample_pct": pct, "score": score}
              for pct, score in ((16.0, 0.5), (32.0, 0.71), (64.0, 0.9))]
    path = data.directory / "learning_curve.json"
    saved = path.read_text() if path.is_file() else None
    try:
        path.write_text(json.dumps({"metric": "macro_f1", "rows": stages}))
        drawn = model_section(data, leaf)
        assert drawn.learning_curve == {f"{leaf['label']} on {leaf['featurizer']}": [(16.0, 0.5), (32.0, 0.71),
                                                                                      (64.0, 0.9)]}
        page = model_html(data, drawn)
        assert f'id="model-{leaf["id"]}-learning-curve"' in page and "16% → 0.5000; 32% → 0.7100" in page
        assert "learning_curve" not in model_section(data, other).figures  # no stages of its own
        path.unlink()
        assert "-learning-curve" not in model_html(data, model_section(data, leaf))
    finally:
        if saved is not None:
            path.write_text(saved)


class VisibleText(HTMLParser):
    """The text a reader sees (no script, no style)."""

    def __init__(self):
        super().__init__()
        self.parts, self._hidden = [], 0

    def handle_starttag(self, tag, attrs):
        self._hidden += tag in ("script", "style")

    def handle_endtag(self, tag):
        self._hidden -= tag in ("script", "style")

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def test_text_names_no_internal_files_and_numbers_keep_their_precision(finished):
    _, result = finished
    page = result.path.read_text(encoding="utf-8")
    reader = VisibleText()
    reader.feed(page)
    text = " ".join(reader.parts)
    assert not re.findall(r"[\w-]+\.(?:json|csv|npy|log)\b", text), "internal file names in the report's text"
    assert not re.findall(r"\b\d+\.\d{5,}\b", text)  # no 0.123456789 or 64.00000
    assert "download all label issues (CSV)" in text
    numbers = re.findall(r'<td data-v="[^"]*" class="num">', page)
    assert len(numbers) > 50  # right-aligned numeric cells
    board = page[page.index('id="leaderboard-table"'):page.index("</table>", page.index('id="leaderboard-table"'))]
    holdout = re.findall(r'class="num">(\d+\.\d+)</td>', board)
    assert holdout and {len(v.split(".")[1]) for v in holdout} <= {2, 4}  # scores 4 digits, seconds 2


def test_the_report_details_the_recommended_model_first_and_shows_a_locked_holdout_as_a_dash():
    # Rank 1 can be a blend that does not beat its best member (not recommended), and screening rows'
    # Holdout is locked (None): the overview must show the recommended model, the table a dash.
    from pixelboard.insights.report import _recommended_first
    from pixelboard.insights.report_html import table

    blend = {"id": "B1", "kind": "blend", "beats_members": False}
    lr = {"id": "M1", "kind": "model"}
    stage = {"id": "M9", "kind": "stage"}
    assert [r["id"] for r in _recommended_first([blend, lr, stage])] == ["M1", "B1", "M9"]
    assert [r["id"] for r in _recommended_first([stage])] == ["M9"]  # nothing recommendable: as ranked
    html = table(["Model ID", "Holdout"], [["M9", None], ["M1", 0.85]])
    assert "None" not in html and ">\u2014</td>" in html and ">0.8500</td>" in html
