"""Write a model document's blocks as Markdown, HTML or DOCX, atomically.

- ``md``: the text, with each picture as ``<stem>_files/<name>.png`` beside it (relative links);
- ``html``: one self-contained page (pictures inline as ``data:`` URIs), the report's look;
- ``docx``: a Word document made with ``python-docx`` (the ``docx`` extra), pictures embedded.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

from pixelboard import atomic
from pixelboard.insights import report_html as h
from pixelboard.insights.document import Block, Heading, Paragraph, Picture, Steps, Table
from pixelboard.insights.figures import missing_extra


def write_document(blocks: list[Block], fmt: str, output: Path, title: str) -> list[Path]:
    """Write ``blocks`` to ``output``; returns every file written (the document last)."""
    output = Path(output)
    if fmt == "md":
        return write_markdown(blocks, output)
    if fmt == "html":
        atomic.write_text(output, render_html(blocks, title))
        return [output]
    if fmt == "docx":
        atomic.write_bytes(output, render_docx(blocks))
        return [output]
    raise ValueError(fmt)


# --- Markdown -------------------------------------------------------------------------------------------------
def _md_text(text) -> str:
    """Text as Markdown shows it, never as markup: a class name like ``<img onerror=...>`` or ``<script>``
    is escaped as the HTML outputs escape it (Markdown renderers pass raw HTML through)."""
    return html.escape(str(text), quote=False)


def _md_cell(text: str) -> str:
    return _md_text(text).replace("|", "\\|").replace("\n", " ")


def write_markdown(blocks: list[Block], output: Path) -> list[Path]:
    folder = output.parent / f"{output.stem}_files"
    lines, written = [], []
    for block in blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + _md_text(block.text), ""]
        elif isinstance(block, Paragraph):
            lines += [_md_text(block.text), ""]
        elif isinstance(block, Steps):
            lines += [f"{i}. {_md_text(item)}" for i, item in enumerate(block.items, start=1)] + [""]
        elif isinstance(block, Table):
            lines.append("| " + " | ".join(_md_cell(c) for c in block.headers) + " |")
            lines.append("| " + " | ".join("---" for _ in block.headers) + " |")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            lines.append("")
        elif isinstance(block, Picture):
            path = folder / f"{block.name}.png"
            atomic.write_bytes(path, block.png)
            written.append(path)
            caption = _md_text(block.caption).replace("[", "\\[").replace("]", "\\]")
            lines += [f"![{caption}]({folder.name}/{path.name})", "", f"*{caption}*", ""]
    atomic.write_text(output, "\n".join(lines))
    return written + [output]


# --- HTML -----------------------------------------------------------------------------------------------------
def render_html(blocks: list[Block], title: str) -> str:
    parts, nav = [], []
    for k, block in enumerate(blocks):
        if isinstance(block, Heading):
            anchor = f"s{k}"
            if block.level == 2:
                nav.append((anchor, block.text))
            level = min(block.level + 1, 6) if block.level > 1 else 2
            parts.append(f'<h{level} id="{anchor}">{h.esc(block.text)}</h{level}>')
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{h.esc(block.text)}</p>")
        elif isinstance(block, Steps):
            parts.append("<ol>" + "".join(f"<li>{h.esc(i)}</li>" for i in block.items) + "</ol>")
        elif isinstance(block, Table):
            parts.append(h.table(block.headers, block.rows, sortable=False))
        elif isinstance(block, Picture):
            parts.append(f'<figure>{h.chart(block.png, block.caption)}<figcaption class="note">'
                         f"{h.esc(block.caption)}</figcaption></figure>")
    body = '<section id="document">' + "\n".join(parts) + "</section>"  # one card on the report's page style
    return h.page(f"Model documentation — {title}", "pixelboard model documentation", nav, body)


# --- DOCX -----------------------------------------------------------------------------------------------------
def render_docx(blocks: list[Block]) -> bytes:
    try:
        import docx
        from docx.shared import Inches
    except ImportError:
        raise missing_extra("python-docx", "docx") from None
    document = docx.Document()
    for block in blocks:
        if isinstance(block, Heading):
            document.add_heading(block.text, level=min(block.level - 1, 4) if block.level > 1 else 0)
        elif isinstance(block, Paragraph):
            document.add_paragraph(block.text)
        elif isinstance(block, Steps):
            for item in block.items:
                document.add_paragraph(item, style="List Number")
        elif isinstance(block, Table):
            table = document.add_table(rows=1, cols=len(block.headers))
            table.style = "Table Grid"
            for cell, text in zip(table.rows[0].cells, block.headers):
                cell.text = str(text)
                for run in cell.paragraphs[0].runs:
                    run.bold = True
            for row in block.rows:
                for cell, text in zip(table.add_row().cells, row):
                    cell.text = str(text)
            document.add_paragraph()
        elif isinstance(block, Picture):
            document.add_picture(io.BytesIO(block.png), width=Inches(6.0))
            document.add_paragraph(block.caption, style="Caption")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
