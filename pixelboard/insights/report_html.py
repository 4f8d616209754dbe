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
    """``(sort key, shown text)`` of a table value."""
    if isinstance(value, float):
        return ("", "") if math.isnan(value) else (repr(value), f"{value:.{digits}f}")
    if isinstance(value, bool):
        return (str(int(value)), "yes" if value else "")
    return (str(value), str(value))


def table(headers: Sequence[str], rows: Iterable[Sequence], *, table_id: str = "", sortable: bool = True,
          raw: Sequence[str] = (), digits: int = 4) -> str:
    """A table; columns named in ``raw`` hold ready HTML (thumbnails, links) as ``(sort key, html)``."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for header, value in zip(headers, row):
            if header in raw:
                key, shown = value
            else:
                key, text = cell(value, digits)
                shown = esc(text)
            cells.append(f'<td data-v="{esc(str(key))}">{shown}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    attrs = (f' id="{esc(table_id)}"' if table_id else "") + (' class="sortable"' if sortable else "")
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>"


def picture(png: bytes, alt: str, width: int | None = None) -> str:
    size = f' style="max-width:{width}px"' if width else ""
    return f'<img src="{data_uri(png)}" alt="{esc(alt)}"{size}>'


def thumb(png: bytes, caption: str, title: str = "", css: str = "") -> str:
    return (f'<figure class="thumb {esc(css)}" title="{esc(title or caption)}">{picture(png, title or caption)}'
            f"<figcaption>{caption}</figcaption></figure>")


def section(section_id: str, title: str, body: str, level: int = 2, tag: str = "section") -> str:
    return f'<{tag} id="{esc(section_id)}"><h{level}>{esc(title)}</h{level}>\n{body}\n</{tag}>'


def page(title: str, subtitle: str, nav: Sequence[tuple[str, str]], body: str) -> str:
    links = " · ".join(f'<a href="#{esc(i)}">{esc(t)}</a>' for i, t in nav)
    return _PAGE.format(title=esc(title), subtitle=subtitle, nav=links, body=body, script=_SCRIPT)


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
}
document.querySelectorAll("table.sortable").forEach(function (table) {
  Array.from(table.tHead.rows[0].cells).forEach(function (th, i) {
    th.addEventListener("click", function () { sortTable(table, i); });
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
body{{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 2rem 3rem;color:#1f2933;line-height:1.4}}
header{{position:sticky;top:0;background:#fff;border-bottom:1px solid #e4e7eb;padding:.6rem 0;z-index:2}}
h1{{margin:.4rem 0;font-size:1.5rem}} h2{{margin-top:2.2rem;border-bottom:2px solid #e4e7eb;padding-bottom:.2rem}}
h3{{margin-top:1.6rem}} h4{{margin:1.2rem 0 .4rem}} nav{{font-size:13px}} nav a{{color:#2f6fb0;text-decoration:none}}
.sub{{color:#52606d;font-size:13px;margin:0}} .note{{color:#52606d;font-size:13px}}
table{{border-collapse:collapse;font-size:13px;margin:.4rem 0 1rem}}
th,td{{padding:4px 9px;border-bottom:1px solid #e4e7eb;text-align:left;vertical-align:middle}}
table.sortable th{{cursor:pointer;user-select:none}} th{{background:#f5f7fa}} th:hover{{background:#e4e7eb}}
tr.top{{background:#f0fff4}} .badge{{background:#2f855a;color:#fff;border-radius:8px;padding:1px 7px;font-size:11px}}
.pics{{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}} .pics img{{max-width:100%;height:auto}}
.gallery{{display:flex;flex-wrap:wrap;gap:.5rem}}
figure.thumb{{margin:0;width:96px;text-align:center;font-size:11px;color:#3e4c59;overflow-wrap:anywhere}}
figure.thumb img{{width:72px;height:72px;object-fit:contain;border:1px solid #cbd2d9;background:#f5f7fa}}
figure.wide{{width:150px}} figure.wide img{{width:140px;height:140px}}
figure.error img{{border:2px solid #d64545}} td figure.thumb{{display:inline-block}}
.pair{{margin:.6rem 0 1rem}} .pair b{{font-size:14px}}
</style></head>
<body>
<header><h1>{title}</h1><p class="sub">{subtitle}</p><nav>{nav}</nav></header>
{body}
<script>{script}</script>
</body></html>
"""
