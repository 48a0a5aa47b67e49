"""Labels for cabinets, boxes and folders: A4 sheets, eight labels a page, drawn with ReportLab.

Each label says what the container is (柜、盒、袋), its code in large type, a few lines
(title, region, what it holds) and the code again as a Code 128 barcode, which a USB
scanner reads back as typed text. Chinese text is drawn in the first installed CJK font,
embedded as a subset with its Unicode map (``ingest.printing.font_name``), so the PDF's
text can be extracted and checked.

Nothing here reads the catalogue: ``ingest.locations`` decides what a label says (a
folder's label names the household and its head, never an ID number).
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from ingest.printing import font_name

COLUMNS, ROWS = 2, 4  # labels per A4 page
LABEL_W_MM, LABEL_H_MM = 95.0, 66.0
GAP_MM = 4.0


@dataclass(frozen=True)
class Label:
    kind: str  # cabinet / box / folder
    heading: str  # 低保档案盒
    big: str  # the code, or a folder's household number
    code: str  # what the barcode says
    lines: Sequence[str] = field(default_factory=tuple)


def _fit(text: str, font: str, size: float, width: float) -> float:
    """The largest size up to ``size`` at which ``text`` fits ``width``."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    while size > 7 and stringWidth(text, font, size) > width:
        size -= 0.5
    return size


def _barcode(code: str, width: float):
    """Code 128 of ``code``, as wide as fits ``width`` (bars never thinner than 0.25 mm)."""
    from reportlab.graphics.barcode.code128 import Code128
    from reportlab.lib.units import mm

    bar = 0.38 * mm
    while True:
        barcode = Code128(code, barWidth=bar, barHeight=13 * mm, humanReadable=False)
        if barcode.width <= width or bar <= 0.25 * mm:
            return barcode
        bar -= 0.02 * mm


def _draw(canvas, label: Label, x: float, y: float, w: float, h: float) -> None:
    from reportlab.lib.units import mm

    font = font_name()
    inner = w - 10 * mm
    canvas.setLineWidth(0.8)
    canvas.roundRect(x, y, w, h, 3 * mm)
    top = y + h - 9 * mm
    canvas.setFont(font, 11)
    canvas.drawString(x + 5 * mm, top, label.heading)
    size = _fit(label.big, font, 20, inner)
    canvas.setFont(font, size)
    canvas.drawString(x + 5 * mm, top - 10 * mm, label.big)
    line_y = top - 17 * mm
    for line in list(label.lines)[:3]:
        canvas.setFont(font, _fit(line, font, 10, inner))
        canvas.drawString(x + 5 * mm, line_y, line)
        line_y -= 5 * mm
    barcode = _barcode(label.code, inner)
    barcode.drawOn(canvas, x + (w - barcode.width) / 2, y + 8 * mm)
    canvas.setFont(font, 9)
    canvas.drawCentredString(x + w / 2, y + 3.5 * mm, label.code)


def render_labels(labels: Sequence[Label]) -> bytes:
    """An A4 PDF with ``labels`` in reading order, eight a page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    canvas.setTitle("标签 labels")
    canvas.setAuthor("hudang")
    canvas.setCreator("hudang")
    w, h = LABEL_W_MM * mm, LABEL_H_MM * mm
    left = (A4[0] - COLUMNS * w - (COLUMNS - 1) * GAP_MM * mm) / 2
    top = A4[1] - (A4[1] - ROWS * h - (ROWS - 1) * GAP_MM * mm) / 2
    per_page = COLUMNS * ROWS
    for i, label in enumerate(labels):
        if i and i % per_page == 0:
            canvas.showPage()
        slot = i % per_page
        column, row = slot % COLUMNS, slot // COLUMNS
        x = left + column * (w + GAP_MM * mm)
        y = top - (row + 1) * h - row * GAP_MM * mm
        _draw(canvas, label, x, y, w, h)
    canvas.showPage()
    canvas.save()
    return out.getvalue()
