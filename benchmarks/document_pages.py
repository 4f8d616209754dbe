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

How labelled: by rules on each page's text, fonts and ink, no hand labels (``page_labels.py``
holds the rules and their table).

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
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from page_labels import CLASSES, label_document, page_count, page_size, read_pages, render_gray

FORMAT_VERSION = 3
# apt-get install these (the R packages pull in the others whose vignettes are read: coin, Rcpp, lme4, ...).
DEBIAN_PACKAGES = ("poppler-utils", "texlive-latex-recommended-doc", "r-doc-pdf", "glpk-doc", "asymptote-doc",
                   "gnuplot-doc", "octave-doc", "r-cran-zoo", "r-cran-sandwich", "r-cran-strucchange", "r-cran-vcd",
                   "r-cran-coin", "r-cran-lmtest", "r-cran-party", "r-cran-aer", "r-cran-quantreg", "r-cran-multcomp",
                   "r-cran-mvtnorm", "r-cran-survival", "r-cran-matrix")
SOURCE_GLOBS = ("/usr/share/doc/texlive-doc/**/*.pdf", "/usr/share/doc/r-doc-pdf/**/*.pdf",
                "/usr/share/doc/glpk-doc/*.pdf", "/usr/share/doc/asymptote/*.pdf", "/usr/share/doc/gnuplot/*.pdf",
                "/usr/share/doc/octave/*.pdf", "/usr/lib/R/library/*/doc/*.pdf", "/usr/lib/R/site-library/*/doc/*.pdf")
HEAD_PAGES, TAIL_PAGES = 150, 80  # a longer PDF is read on these pages only
LEFT_OUT = re.compile(r"dummy|example-(arabic|chinese|japanese|korean|thai)|logo|outline|pixel|refcard|RefCard|"
                      r"fullrefman|^test\.pdf|anysize|gmpl_|print-version")
# left out: fillers, one-glyph logos, non-Latin samples, translations and other versions of a kept document


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
                     "per class, round-robin over groups (rules: benchmarks/page_labels.py)",
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
