"""Page types by rule: what a page's text runs, fonts and ink say it is (no hand labels).

Used by ``document_pages.py``, which builds the labelled page set of ``benchmarks/documents.py``.

How labelled: by rules on each page's text runs and their fonts (``pdftohtml -xml``) and on its ink
(a 24-dpi grey raster); no hand labels. The first rule that holds labels the page; a page that no
rule claims (mixed or ambiguous content) is left out:

===================  ========================================================================
class                rule
===================  ========================================================================
slides               any page of a slide deck: a landscape PDF, or a beamer/seminar example
title_page           page 1 of a portrait PDF whose largest font is at least 1.4x the body
                     size, with at most 120 words (a cover: title, author, date)
first_page           the same with at least 250 words (title block + abstract or text)
table_of_contents    past page 1 and in the first 20% of the PDF: a "Contents" (or "List of
                     Figures/Tables") heading on this page or on the run of pages it
                     continues, and at least 40% of its text lines end in a page number
index                in the last 40%: an "Index" heading here or on the run it continues, and at
                     least 45% of lines end in page numbers or lists of them
bibliography         a "References"/"Bibliography" heading here or on the run it continues, and
                     at least 25% of lines hold a year (19xx/20xx) or start with a [label]
(left out)           pages of a change log ("Change History", "Version history")
source_code          at least 60% of the characters set in a monospaced font, at least 600
figure               ink outside every text run covers at least 12% of the page (in 4x4-pixel
                     blocks at 24 dpi): plots, drawings, diagrams; at least 20 words
math                 at least 120 words, at least 10% of the characters (and at least 150) in
                     math fonts (CMMI, CMSY, CMEX, LM Math, ...), under 30% monospace
table                at least 120 words; at least 40% of text lines split into 3 or more cells,
                     3 of whose left edges recur on other lines; under 30% monospace
prose                at least 350 words, under 3% monospace, under 2% math characters, under
                     3% non-text ink
===================  ========================================================================
"""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("title_page", "first_page", "table_of_contents", "index", "bibliography", "source_code", "figure", "math",
           "table", "prose", "slides")
PRESENTATIONS = re.compile(r"beamerexample|semsamp")  # slide decks (landscape) and the beamer handout print

MONO = re.compile(r"^(cm|sf|cmsl|cmb|ec|tc|sl)?i?tt|mono|courier|inconsolata|lettergothic|consol|typewriter|"
                  r"txtt|txbtt|luximono|plexmono", re.I)
MATH = re.compile(r"cmmi|cmsy|cmex|cmbsy|msam|msbm|math|stix|xits|eurm|eufm|txsy|txmi|pazomath|fourier-math|"
                  r"lcircle|standardsym|^symbol", re.I)
ENDS_IN_NUMBER = re.compile(r"\.\s?\.\s?[.\s]*[\divxlc]+$|\s[\divxlc]{1,4}$|^\d{1,4}$", re.I)  # unambiguous: linear
NUMBER_LIST = re.compile(r"\d+(?:[–-]\d+)?(?:,\s?\d+(?:[–-]\d+)?)+$|\.\s?\.\s?[.\s]*\d+$|\s\d{1,4}$|^\d+$")
YEAR_OR_LABEL = re.compile(r"\b(19|20)\d\d\b|^\[[^\]]{1,12}\]")
VERSION = re.compile(r"\bv\d+(\.\d+)*[a-z]?\b|\bGeneral:|\d{4}/\d\d/\d\d")
HEADINGS = {
    "table_of_contents": re.compile(r"^(\d+\s+)?((table of )?contents|list of (figures|tables))$", re.I),
    "index": re.compile(r"^(\d+\s+|[A-Z]\s+|appendix [A-Z]:?\s+)?(\w+ )?index$", re.I),
    "bibliography": re.compile(r"^(\d+\s+|[A-Z]\s+)?(references|bibliography|literature|works cited)$", re.I),
    "change_history": re.compile(r"^(\d+\s+|[A-Z]\s+)?(change|version|revision) history$|^changes$", re.I),
}


@dataclass
class PageText:
    """One page as ``pdftohtml -xml`` reads it: its text lines (runs merged along a line) and font shares."""

    number: int
    width: int
    height: int
    lines: list[str] = field(default_factory=list)
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)  # text runs: left, top, width, height
    cells: list[list[int]] = field(default_factory=list)  # per line: the left edges of its cells
    chars: int = 0
    mono: int = 0
    math: int = 0
    words: int = 0
    max_size: float = 0.0
    sizes: Counter = field(default_factory=Counter)  # font size -> characters


def page_count(pdf: Path) -> int:
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", out, re.M).group(1))


def page_size(pdf: Path) -> tuple[float, float]:
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    w, h = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+)", out, re.M).groups()
    return float(w), float(h)


def read_pages(pdf: Path, first: int, last: int) -> list[PageText]:
    """Pages ``first..last`` (1-based, inclusive) of ``pdf`` with their lines, boxes and font shares."""
    raw = subprocess.run(["pdftohtml", "-xml", "-i", "-stdout", "-q", "-f", str(first), "-l", str(last), str(pdf)],
                         capture_output=True, check=True).stdout
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", "", raw.decode("utf-8", errors="replace"))
    try:
        root = ET.fromstring(text)
    except ET.ParseError:  # a few PDFs carry text poppler cannot escape: such a document is skipped
        return []
    fonts: dict[str, tuple[str, float]] = {}
    pages = []
    for page in root.iter("page"):
        for spec in page.iter("fontspec"):
            fonts[spec.get("id")] = (spec.get("family", "").split("+")[-1], float(spec.get("size", 0)))
        info = PageText(int(page.get("number")), int(float(page.get("width"))), int(float(page.get("height"))))
        runs = []
        for text in page.iter("text"):
            content = "".join(text.itertext())
            if not content.strip():
                continue
            family, size = fonts.get(text.get("font"), ("", 0.0))
            box = tuple(int(float(text.get(k))) for k in ("left", "top", "width", "height"))
            runs.append((box, content, family, size))
            n = len(content.strip())
            info.chars += n
            info.mono += n if MONO.search(re.sub(r"\d+$", "", family)) else 0
            info.math += n if MATH.search(family) else 0
            info.words += len(content.split())
            info.sizes[size] += n
            info.max_size = max(info.max_size, size)
            info.boxes.append(box)
        info.lines, info.cells = _lines(runs)
        pages.append(info)
    return pages


def _lines(runs: list) -> tuple[list[str], list[list[int]]]:
    """Runs whose vertical centres lie within 5 px form a line; a gap wider than 1.5x the run height
    splits the line into cells (a table's columns, or an index's columns)."""
    runs = sorted(runs, key=lambda r: (r[0][1] + r[0][3] / 2, r[0][0]))
    rows: list[list] = []
    for run in runs:
        centre = run[0][1] + run[0][3] / 2
        if rows and abs(rows[-1][0][0][1] + rows[-1][0][0][3] / 2 - centre) <= 5:
            rows[-1].append(run)
        else:
            rows.append([run])
    lines, cells = [], []
    for row in rows:
        row.sort(key=lambda r: r[0][0])
        segments, edges = [[row[0][1]]], [row[0][0][0]]
        for prev, run in zip(row, row[1:]):
            gap = run[0][0] - (prev[0][0] + prev[0][2])
            if gap > 1.5 * max(run[0][3], prev[0][3], 8):
                segments.append([run[1]])
                edges.append(run[0][0])
            else:
                segments[-1].append(run[1])
        for segment in segments:  # each cell is a line of its own for the line rules (index columns)
            lines.append(" ".join(s.strip() for s in segment))
        cells.append(edges)
    return lines, cells


def _share(lines: list[str], pattern: re.Pattern) -> float:
    useful = [line for line in lines if len(line) >= 2]
    return sum(bool(pattern.search(line)) for line in useful) / len(useful) if useful else 0.0


def _tabular(page: PageText) -> float:
    """Share of lines with 3+ cells of which 3+ left edges recur (within 6 px) on at least 3 other lines."""
    multi = [edges for edges in page.cells if len(edges) >= 3]
    if not page.cells or len(multi) < 5:
        return 0.0
    all_edges = np.sort(np.concatenate([np.asarray(edges) for edges in multi]))
    def recurring(edges):
        e = np.asarray(edges)
        near = np.searchsorted(all_edges, e + 6, side="right") - np.searchsorted(all_edges, e - 6, side="left")
        return int((near >= 4).sum()) >= 3
    return sum(recurring(edges) for edges in multi) / len(page.cells)


def _has_heading(page: PageText, kind: str) -> bool:
    return any(HEADINGS[kind].match(line.strip()) for line in page.lines)


def render_gray(pdf: Path, first: int, last: int, workdir: Path) -> dict[int, np.ndarray]:
    """Pages ``first..last`` as 24-dpi grey arrays (one pdftoppm call), by page number."""
    for old in workdir.glob("ink-*.pgm"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "24", "-gray", "-f", str(first), "-l", str(last), str(pdf),
                    str(workdir / "ink")], check=True, capture_output=True)
    out = {}
    for path in workdir.glob("ink-*.pgm"):
        out[int(path.stem.rsplit("-", 1)[1])] = np.asarray(Image.open(path))
        path.unlink()
    return out


def non_text_ink(gray: np.ndarray, page: PageText) -> float:
    """Share of the page (in 4x4-pixel blocks at 24 dpi) holding ink outside every text run (grown by 2 px)."""
    ink = gray < 200
    sy, sx = ink.shape[0] / page.height, ink.shape[1] / page.width
    mask = np.zeros_like(ink)
    for left, top, width, height in page.boxes:
        mask[max(0, int(top * sy) - 2):int((top + height) * sy) + 3,
             max(0, int(left * sx) - 2):int((left + width) * sx) + 3] = True
    outside = ink & ~mask
    # Blocks holding any non-text ink, so the thin lines of a drawing count by the area they span.
    h, w = (outside.shape[0] // 4) * 4, (outside.shape[1] // 4) * 4
    blocks = outside[:h, :w].reshape(h // 4, 4, w // 4, 4).any(axis=(1, 3))
    return float(blocks.mean())


def label_document(pdf: Path, pages: list[PageText], n_pages: int, landscape: bool,
                   grays: dict[int, np.ndarray]) -> dict[int, tuple[str, dict]]:
    """page number -> (class, the measures its rule read), by the rules of the module's docstring."""
    labels: dict[int, tuple[str, dict]] = {}
    body = Counter()
    for page in pages:
        body.update(page.sizes)
    body_size = body.most_common(1)[0][0] if body else 0
    runs = {kind: False for kind in HEADINGS}  # inside a TOC/index/bibliography/change-log run
    for page in pages:
        at = page.number / n_pages
        numbered, listed = _share(page.lines, ENDS_IN_NUMBER), _share(page.lines, NUMBER_LIST)
        dated, versioned = _share(page.lines, YEAR_OR_LABEL), _share(page.lines, VERSION)
        mono = page.mono / page.chars if page.chars else 0.0
        math = page.math / page.chars if page.chars else 0.0
        measures = {"chars": page.chars, "words": page.words, "mono": round(mono, 3), "math": round(math, 3),
                    "numbered": round(numbered, 3), "listed": round(listed, 3), "dated": round(dated, 3),
                    "versioned": round(versioned, 3)}
        line_rules = {"table_of_contents": at <= 0.2 and page.number > 1 and numbered >= 0.4,
                      "index": at >= 0.6 and listed >= 0.45,
                      "bibliography": dated >= 0.25,
                      "change_history": versioned >= 0.1}
        headed = {kind for kind in HEADINGS if _has_heading(page, kind)}
        for kind in HEADINGS:  # a heading opens a run, closing the others; a run goes on while its pages keep the rule
            runs[kind] = kind in headed or (not headed and runs[kind] and line_rules[kind])
        if page.chars < 80:
            continue
        if landscape or PRESENTATIONS.search(pdf.name):
            labels[page.number] = ("slides", measures)
            continue
        if page.number == 1:
            if body_size and page.max_size >= 1.4 * body_size and (page.words <= 120 or page.words >= 250):
                measures.update(max_size=page.max_size, body_size=body_size)
                labels[page.number] = ("title_page" if page.words <= 120 else "first_page", measures)
            continue
        if runs["change_history"]:
            continue  # a change log: too few whole pages of it to make a class, and not to be mistaken for others
        kind = next((k for k in ("table_of_contents", "index", "bibliography") if runs[k] and line_rules[k]), None)
        if kind:
            labels[page.number] = (kind, measures)
            continue
        if mono >= 0.6 and page.chars >= 600:
            labels[page.number] = ("source_code", measures)
            continue
        tabular = _tabular(page)
        ink = non_text_ink(grays[page.number], page) if page.number in grays else 0.0
        measures.update(tabular=round(tabular, 3), ink=round(ink, 3))
        if ink >= 0.12 and page.words >= 20:
            labels[page.number] = ("figure", measures)
            continue
        if page.words < 120:
            continue
        if math >= 0.10 and page.math >= 150 and mono < 0.3:
            labels[page.number] = ("math", measures)
        elif tabular >= 0.4 and mono < 0.3:
            labels[page.number] = ("table", measures)
        elif page.words >= 350 and mono < 0.03 and math < 0.02 and ink < 0.03:
            labels[page.number] = ("prose", measures)
    return labels

