"""A labelled set of real document pages: 11 page types, grouped by the package each page comes from.

    python benchmarks/document_pages.py [--root /tmp/pixelboard-document-pages] [--per-class 80]

Not a benchmark itself: ``benchmarks/documents.py`` builds the set through :func:`build` and trains on it.

Datasheet
---------
What: pages of real PDF manuals, package documentation, statistics articles (R vignettes) and slide
decks, rasterized by poppler's ``pdftoppm`` so that the longer side is 800 px (a letter or A4 page:
about 620 x 800 px, ~72 dpi), RGB PNG. No page is synthesized or edited: every image is a page as
its authors typeset it.

From where: the PDFs that the Debian 12 (bookworm) packages of :data:`DEBIAN_PACKAGES` install (LaTeX
package manuals and the beamer/seminar example decks of ``texlive-latex-recommended-doc`` and its
dependencies, the R manuals, GLPK, Asymptote, gnuplot and Octave manuals, and the vignettes of R
and of the R packages installed), read in place by :data:`SOURCE_GLOBS`. A file reached under two
paths, or two files with the same bytes, count once; translations, print versions of a kept deck,
fillers and logos are left out (:data:`LEFT_OUT`); a PDF longer than 230 pages is read on its
first 150 and last 80 pages only.

Licences: each page keeps the licence of its document, as its Debian package's copyright file
states: mostly the LaTeX Project Public License, GNU GPL/FDL (R, GLPK, gnuplot, Octave, Asymptote)
and other free licences. The set is built on the user's machine and not redistributed.

Groups: a page's group is the folder its PDF ships in, i.e. one package's documentation
(``booktabs``, ``mdwtools``, ``r-doc-pdf``, ``survival``): documents by the same authors in the same
house style never straddle a train/test split.

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

Each class takes at most ``max_per_group`` pages of one group (default 8), round-robin over the
groups, and ``per_class`` pages in all (default 80), drawn with a seed. ``pages.csv`` lists ID,
target (the class index), class_name, group, document, page and the measures the rule read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

FORMAT_VERSION = 3
CLASSES = ("title_page", "first_page", "table_of_contents", "index", "bibliography", "source_code", "figure", "math",
           "table", "prose", "slides")
# apt-get install these (the R packages pull in the others whose vignettes are read: coin, Rcpp, lme4, ...).
DEBIAN_PACKAGES = ("poppler-utils", "texlive-latex-recommended-doc", "r-doc-pdf", "glpk-doc", "asymptote-doc",
                   "gnuplot-doc", "octave-doc", "r-cran-zoo", "r-cran-sandwich", "r-cran-strucchange", "r-cran-vcd",
                   "r-cran-coin", "r-cran-lmtest", "r-cran-party", "r-cran-aer", "r-cran-quantreg", "r-cran-multcomp",
                   "r-cran-mvtnorm", "r-cran-survival", "r-cran-matrix")
SOURCE_GLOBS = ("/usr/share/doc/texlive-doc/**/*.pdf", "/usr/share/doc/r-doc-pdf/**/*.pdf",
                "/usr/share/doc/glpk-doc/*.pdf", "/usr/share/doc/asymptote/*.pdf", "/usr/share/doc/gnuplot/*.pdf",
                "/usr/share/doc/octave/*.pdf", "/usr/lib/R/library/*/doc/*.pdf", "/usr/lib/R/site-library/*/doc/*.pdf")
HEAD_PAGES, TAIL_PAGES = 150, 80  # a longer PDF is read on these pages only
PRESENTATIONS = re.compile(r"beamerexample|semsamp")  # slide decks (landscape) and the beamer handout print
LEFT_OUT = re.compile(r"dummy|example-(arabic|chinese|japanese|korean|thai)|logo|outline|pixel|refcard|RefCard|"
                      r"fullrefman|^test\.pdf|anysize|gmpl_|print-version")
# left out: fillers, one-glyph logos, non-Latin samples, translations and other versions of a kept document

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


def source_documents() -> list[Path]:
    """The PDFs of :data:`SOURCE_GLOBS`, each file once (resolved path, then content), sorted."""
    seen_paths, seen_hashes, out = set(), set(), []
    for pattern in SOURCE_GLOBS:
        base, _, rest = pattern.partition("*")
        for path in sorted(Path(base).glob("*" + rest)) if Path(base).is_dir() else []:
            real = path.resolve()
            if real in seen_paths or LEFT_OUT.search(path.name) or not real.is_file():
                continue
            seen_paths.add(real)
            digest = hashlib.sha256(real.read_bytes()).hexdigest()
            if digest not in seen_hashes:
                seen_hashes.add(digest)
                out.append(path)
    return out


def document_name(pdf: Path) -> str:
    """A readable document name: its folder and file stem (``booktabs-booktabs``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{source_name(pdf)}-{pdf.stem}").strip("-")


def source_name(pdf: Path) -> str:
    """The group of a document: the folder it ships in, i.e. one package's documentation (``booktabs``,
    ``mdwtools``, ``r-doc-pdf``): documents by the same authors in the same style never straddle a split."""
    parts = [p for p in pdf.parent.parts if p not in ("/", "usr", "share", "doc", "texlive-doc", "latex", "generic",
                                                      "xelatex", "manual")]
    return "-".join(parts[-1:])


def scan(cache: Path, progress: bool = True) -> pd.DataFrame:
    """Every labelled page of every source document (cached in ``cache/labels.json``)."""
    path = cache / "labels.json"
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored.get("format") == FORMAT_VERSION:
            return pd.DataFrame(stored["pages"])
    workdir = cache / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    documents = source_documents()
    for i, pdf in enumerate(documents):
        n = page_count(pdf)
        width, height = page_size(pdf)
        ranges = [(1, n)] if n <= HEAD_PAGES + TAIL_PAGES else [(1, HEAD_PAGES), (n - TAIL_PAGES + 1, n)]
        pages = [p for first, last in ranges for p in read_pages(pdf, first, last)]
        if not pages:
            continue
        grays = {k: v for first, last in ranges for k, v in render_gray(pdf, first, last, workdir).items()}
        labels = label_document(pdf, pages, n, width > height, grays)
        for number, (label, measures) in sorted(labels.items()):
            rows.append({"document": document_name(pdf), "group": source_name(pdf), "path": str(pdf), "page": number,
                         "pages": n, "class_name": label, **{f"m_{k}": v for k, v in measures.items()}})
        if progress:
            counts = Counter(label for label, _ in labels.values())
            print(f"[{i + 1}/{len(documents)}] {document_name(pdf)}: {n} pages, {dict(counts)}", flush=True)
    shutil.rmtree(workdir, ignore_errors=True)
    path.write_text(json.dumps({"format": FORMAT_VERSION, "pages": rows}))
    return pd.DataFrame(rows)


def select(labelled: pd.DataFrame, per_class: int, max_per_group: int, seed: int) -> pd.DataFrame:
    """At most ``max_per_group`` pages of a group (one package's documents) per class, then
    ``per_class`` per class, round-robin over the groups (seeded)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for name in CLASSES:
        pages = labelled[labelled["class_name"] == name]
        shuffled = pages.iloc[rng.permutation(len(pages))]
        capped = shuffled.groupby("group").head(max_per_group)
        # Spread the class over as many groups as possible: round-robin over groups, in a seeded order.
        group_order = {g: k for k, g in enumerate(rng.permutation(sorted(capped["group"].unique())))}
        order = capped.assign(turn=capped.groupby("group").cumcount(), tie=capped["group"].map(group_order))
        chosen.append(order.sort_values(["turn", "tie"]).head(per_class).drop(columns=["turn", "tie"]))
    return pd.concat(chosen).sort_values(["class_name", "document", "page"]).reset_index(drop=True)


def render(pdf: str, page: int, out: Path, longest: int = 800) -> None:
    """One page as an RGB PNG whose longer side is ``longest`` pixels (poppler's pdftoppm)."""
    stem = out.with_suffix("")
    subprocess.run(["pdftoppm", "-png", "-scale-to", str(longest), "-f", str(page), "-l", str(page), "-singlefile",
                    pdf, str(stem)], check=True, capture_output=True)
    with Image.open(out) as img:
        if img.mode != "RGB":
            img.convert("RGB").save(out)


def build(root: Path = Path("/tmp/pixelboard-document-pages"), per_class: int = 80, max_per_group: int = 8,
          seed: int = 0, longest: int = 800, progress: bool = True) -> pd.DataFrame:
    """The page set under ``root``: ``pages/<ID>.png``, ``pages.csv`` (ID, target, class_name, group,
    document, page), ``meta.csv`` (target, class_name). Cached: a second call with the same
    parameters renders nothing."""
    root.mkdir(parents=True, exist_ok=True)
    params = {"format": FORMAT_VERSION, "per_class": per_class, "max_per_group": max_per_group, "seed": seed,
              "longest": longest}
    manifest = root / "pages.csv"
    stamp = root / "params.json"
    if manifest.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == params:
        return pd.read_csv(manifest)
    missing = [tool for tool in ("pdftoppm", "pdftohtml", "pdfinfo") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"{', '.join(missing)} not found: apt-get install {' '.join(DEBIAN_PACKAGES)}")
    labelled = scan(root, progress=progress)
    if not labelled.empty:
        labelled["group"] = [source_name(Path(p)) for p in labelled["path"]]  # also for scans cached before it was kept
    if labelled.empty:
        raise SystemExit(f"no source PDFs found: apt-get install {' '.join(DEBIAN_PACKAGES)}")
    chosen = select(labelled, per_class, max_per_group, seed)
    folder = root / "pages"
    folder.mkdir(exist_ok=True)
    ids = []
    for i, row in enumerate(chosen.itertuples()):
        image_id = f"{row.document}-p{row.page:04d}.png"
        if not (folder / image_id).is_file():
            render(row.path, row.page, folder / image_id, longest)
        ids.append(image_id)
        if progress and (i + 1) % 100 == 0:
            print(f"rendered {i + 1}/{len(chosen)} pages", flush=True)
    frame = chosen.assign(ID=ids, target=[CLASSES.index(c) for c in chosen["class_name"]])
    frame = frame[["ID", "target", "class_name", "group", "document", "page", "pages", "path"]
                  + [c for c in frame.columns if c.startswith("m_")]]
    frame.to_csv(manifest, index=False)
    pd.DataFrame({"target": range(len(CLASSES)), "class_name": CLASSES}).to_csv(root / "meta.csv", index=False)
    stamp.write_text(json.dumps(params))
    return frame


def datasheet(frame: pd.DataFrame) -> dict:
    """The datasheet of a built set, for a results JSON (the module docstring has the full rules)."""
    per_class = {name: {"pages": int((frame["class_name"] == name).sum()),
                        "groups": int(frame.loc[frame["class_name"] == name, "group"].nunique()),
                        "documents": int(frame.loc[frame["class_name"] == name, "document"].nunique())}
                 for name in CLASSES}
    return {
        "what": "real pages of PDF manuals, LaTeX package documentation, R vignettes (statistics articles) and slide "
                "decks, rasterized with pdftoppm (longer side 800 px, RGB PNG); 11 page types; nothing synthesized",
        "from_where": f"PDFs installed by the Debian 12 packages {', '.join(DEBIAN_PACKAGES[1:])} (and their "
                      "dependencies), read in place; poppler-utils renders and reads them",
        "licences": "each page keeps its document's licence (Debian copyright files): mostly LPPL, GNU GPL/FDL and "
                    "other free licences; built locally, not redistributed",
        "grouping": "the folder a PDF ships in (one package's documentation): no document or house style straddles "
                  "a split",
        "labelling": "rules on each page's text runs, fonts and non-text ink (pdftohtml -xml, 24-dpi raster), no hand "
                     "labels; the first rule that holds wins, unclaimed pages are left out; at most 8 pages of a group "
                     "per class, round-robin over groups (rules: benchmarks/document_pages.py)",
        "rules": {
            "slides": "any page of a slide deck (landscape PDF, or beamer/seminar example)",
            "title_page": "page 1, largest font >= 1.4x body size, <= 120 words",
            "first_page": "page 1, largest font >= 1.4x body size, >= 250 words",
            "table_of_contents": "first 20% of the PDF, 'Contents' or 'List of Figures/Tables' heading (on the page "
                                 "or opening its run), >= 40% of lines end in a page number",
            "index": "last 40%, 'Index' heading (page or run), >= 45% of lines end in page numbers",
            "bibliography": "'References'/'Bibliography' heading (page or run), >= 25% of lines hold a year or "
                            "start with [label]",
            "source_code": ">= 60% of characters monospaced, >= 600 characters",
            "figure": ">= 12% of the page covered by non-text ink, >= 20 words",
            "math": ">= 10% (and >= 150) characters in math fonts, < 30% monospace, >= 120 words",
            "table": ">= 40% of lines with 3+ cells whose left edges recur, < 30% monospace, >= 120 words",
            "prose": ">= 350 words, < 3% monospace, < 2% math, < 3% non-text ink",
        },
        "pages": int(len(frame)), "groups": int(frame["group"].nunique()),
        "documents": int(frame["document"].nunique()), "classes": per_class,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/pixelboard-document-pages"))
    parser.add_argument("--per-class", type=int, default=80)
    parser.add_argument("--max-per-group", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    frame = build(args.root, args.per_class, args.max_per_group, args.seed)
    print(json.dumps(datasheet(frame), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
