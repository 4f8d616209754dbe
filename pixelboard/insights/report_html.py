"""The report as one self-contained HTML page: inline CSS, PNG pictures as ``data:`` URIs, and one small
script (sortable tables; it also records on the page whether every picture decoded). No network, no
CDN, no server: the file opens from the file system.

Every section has a stable ``id`` (``leaderboard``, ``partition``, ``options``, ``timings``,
``model-<ID>`` with ``model-<ID>-confusion`` / ``-per-class`` / ``-roc`` / ``-learning-curve`` /
``-confused-pairs`` / ``-misclassified``, ``activation-maps``, ``embedding-map``, ``data-quality``
with ``label-issues`` / ``near-duplicates`` / ``outliers``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence

from pixelboard.insights.figures import data_uri

esc = html.escape


def cell(value, digits: int = 4) -> tuple[str, str]:
    """``(sort key, shown text)`` of a table value; None is a value withheld (a locked Holdout): a dash."""
    if value is None:
        return ("", "\u2014")
    if isinstance(value, bool):
        return (str(int(value)), "yes" if value else "")
    if isinstance(value, float):
        return ("", "") if math.isnan(value) else (repr(value), f"{value:,.{digits}f}")
    if isinstance(value, int):
        return (str(value), f"{value:,}")
    return (str(value), str(value))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def table(headers: Sequence[str], rows: Iterable[Sequence], *, table_id: str = "", sortable: bool = True,
          raw: Sequence[str] = (), digits: int | dict[str, int] = 4, filterable: bool | None = None) -> str:
    """A table; columns named in ``raw`` hold ready HTML (thumbnails, links) as ``(sort key, html)``.

    Numbers are right-aligned in tabular figures: ints as ints, floats with one precision per column
    (``digits``, per column name or for all). ``filterable`` (default: sortable tables of more than 8 rows) adds a search box.
    """
    rows = [list(r) for r in rows]
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for header, value in zip(headers, row):
            numeric = _is_number(value)
            if header in raw:
                key, shown = value
            else:
                key, text = cell(value, digits.get(header, 4) if isinstance(digits, dict) else digits)
                shown = esc(text)
            css = ' class="num"' if numeric else ' class="long"' if header not in raw and len(str(value)) > 24 else ""
            cells.append(f'<td data-v="{esc(str(key))}"{css}>{shown}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    attrs = (f' id="{esc(table_id)}"' if table_id else "") + (' class="sortable"' if sortable else "")
    markup = f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>"
    if filterable is None:
        filterable = sortable and len(rows) > 8
    search = (f'<input type="search" class="filter" placeholder="filter rows" aria-label="filter rows" '
              f'data-table="{esc(table_id)}">' if filterable and table_id else "")
    return f'{search}<div class="scroll">{markup}</div>'


def picture(png: bytes, alt: str, width: int | None = None) -> str:
    size = f' style="max-width:{width}px"' if width else ""
    return f'<img src="{data_uri(png)}" alt="{esc(alt)}"{size}>'


def chart(png: bytes, alt: str) -> str:
    """A figure drawn at 2x (``figures.SCALE``): shown at half its pixel size, sharp on high-DPI screens."""
    from pixelboard.insights.figures import SCALE, png_size

    width, height = png_size(png)
    return (f'<img class="chart" src="{data_uri(png)}" alt="{esc(alt)}" width="{width // SCALE}" '
            f'height="{height // SCALE}">')


def thumb(png: bytes, caption: str, title: str = "", css: str = "") -> str:
    return (f'<figure class="thumb {esc(css)}" title="{esc(title or caption)}">{picture(png, title or caption)}'
            f"<figcaption>{caption}</figcaption></figure>")


def section(section_id: str, title: str, body: str, level: int = 2, tag: str = "section") -> str:
    return f'<{tag} id="{esc(section_id)}"><h{level}>{esc(title)}</h{level}>\n{body}\n</{tag}>'


def page(title: str, subtitle: str, nav: Sequence[tuple[str, str]], body: str) -> str:
    links = "".join(f'<a href="#{esc(i)}">{esc(t)}</a>' for i, t in nav)
    return _PAGE.format(title=esc(title), subtitle=subtitle, nav=links, body=body, script=_SCRIPT)


# Hand-written (about 40 lines) rather than a table library: the page must work offline from a file,
# with no CDN and no network request, and stay one self-contained file.
_SCRIPT = """
function cellKey(td) { return td.dataset.v !== undefined ? td.dataset.v : td.textContent; }
function sortTable(table, col) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const ascending = !(table.dataset.sortCol === String(col) && table.dataset.sortDir === "asc");
  rows.sort(function (a, b) {
    const x = cellKey(a.cells[col]), y = cellKey(b.cells[col]);
    const nx = parseFloat(x), ny = parseFloat(y);
    let c;
    if (x === "" || y === "") { c = (x === "") - (y === ""); return c; }
    c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
    return ascending ? c : -c;
  });
  rows.forEach(function (r) { body.appendChild(r); });
  table.dataset.sortCol = String(col);
  table.dataset.sortDir = ascending ? "asc" : "desc";
  Array.from(table.tHead.rows[0].cells).forEach(function (th, i) {
    th.classList.toggle("asc", i === col && ascending); th.classList.toggle("desc", i === col && !ascending);
  });
}
document.querySelectorAll("table.sortable").forEach(function (table) {
  Array.from(table.tHead.rows[0].cells).forEach(function (th, i) {
    th.addEventListener("click", function () { sortTable(table, i); });
  });
});
document.querySelectorAll("input.filter").forEach(function (input) {
  const table = document.getElementById(input.dataset.table);
  input.addEventListener("input", function () {
    const words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
    Array.from(table.tBodies[0].rows).forEach(function (row) {
      const text = row.textContent.toLowerCase();
      row.hidden = !words.every(function (w) { return text.includes(w); });
    });
  });
});
window.addEventListener("load", function () {
  const images = Array.from(document.images);
  const broken = images.filter(function (img) { return !(img.complete && img.naturalWidth > 0); });
  document.body.dataset.images = String(images.length);
  document.body.dataset.brokenImages = String(broken.length);
  document.body.dataset.ready = "1";
});
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
*{{box-sizing:border-box}}
body{{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2933;line-height:1.4;
background:#f5f7fa}}
header{{position:sticky;top:0;background:#fff;border-bottom:1px solid #e4e7eb;padding:.5rem 1.5rem;z-index:2}}
main{{padding:0 1.5rem 3rem;max-width:2000px}}
h1{{margin:.2rem 0;font-size:1.35rem}} h2{{margin:0 0 .6rem;font-size:1.15rem}} h3{{margin:.2rem 0 .5rem;font-size:1.05rem}}
h4{{margin:.8rem 0 .4rem;font-size:.95rem}}
nav{{font-size:13px;display:flex;flex-wrap:wrap;gap:.2rem 1rem}} nav a{{color:#2f6fb0;text-decoration:none}}
.sub{{color:#52606d;font-size:13px;margin:0}} .note{{color:#52606d;font-size:13px}}
main>section,main>.grid>section,article{{background:#fff;border:1px solid #e4e7eb;border-radius:6px;padding:1rem;
margin:1rem 0;min-width:0}}
.grid{{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,460px),1fr));align-items:start}}
.grid>*{{min-width:0}} .grid>section,.grid>div{{margin:0}}
.overview{{grid-template-columns:minmax(0,1fr) minmax(0,440px);margin-top:1rem}}
@media (max-width:1100px){{.overview{{grid-template-columns:minmax(0,1fr)}}}}
.wide{{grid-column:1/-1}}
.scroll{{overflow-x:auto;max-width:100%}}
table{{border-collapse:collapse;font-size:13px;margin:.2rem 0 .8rem}}
th,td{{padding:4px 6px;border-bottom:1px solid #e4e7eb;text-align:left;vertical-align:middle}}
td.num{{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}} th{{white-space:nowrap}} td.long{{min-width:9rem}}
table.sortable th{{cursor:pointer;user-select:none}} th{{background:#f5f7fa;position:sticky;top:0}}
th:hover{{background:#e4e7eb}} th.asc::after{{content:" \\25B2"}} th.desc::after{{content:" \\25BC"}}
input.filter{{font:inherit;font-size:13px;padding:3px 7px;margin:.2rem 0;border:1px solid #cbd2d9;border-radius:4px;width:16rem;max-width:100%}}
.badge{{background:#2f855a;color:#fff;border-radius:8px;padding:1px 7px;font-size:11px}}
.pics{{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}} img.chart{{max-width:100%;height:auto}}
.gallery{{display:flex;flex-wrap:wrap;gap:.5rem}}
figure.thumb{{margin:0;width:96px;text-align:center;font-size:11px;color:#3e4c59;overflow-wrap:anywhere}}
figure.thumb img{{width:72px;height:72px;object-fit:contain;border:1px solid #cbd2d9;background:#f5f7fa}}
figure.map{{width:150px}} figure.map img{{width:140px;height:140px}}
figure.error img{{border:2px solid #d64545}} td figure.thumb{{display:inline-block}}
.pairs td{{white-space:normal}} .pairs td figure.thumb{{width:60px}} .pairs td figure.thumb img{{width:52px;height:52px}}
details>summary{{cursor:pointer;color:#2f6fb0;font-size:13px;margin:.3rem 0}}
.colourbar{{display:flex;align-items:center;gap:.5rem;font-size:12px;color:#52606d;margin:.3rem 0}}
.colourbar span.bar{{display:inline-block;width:180px;height:12px;border:1px solid #cbd2d9}}
</style></head>
<body>
<header><h1>{title}</h1><p class="sub">{subtitle}</p><nav>{nav}</nav></header>
<main>
{body}
</main>
<script>{script}</script>
</body></html>
"""
