"""Printable reports: CSV for spreadsheets, A4 PDF with the Chinese text embedded, and charts.

One table model (:class:`Sheet`) renders both ways, so the screen's CSV and PDF
say the same thing. PDFs are drawn with ReportLab (``docs/dependencies.md``):
platypus tables that repeat their header on every page and wrap Chinese text,
a subset of the first installed CJK font (``ingest.fonts``) embedded with its
Unicode map, so the text can be searched and extracted. Charts are ReportLab
drawings, placed in the PDF and served to the screen as SVG from the same
drawing.

Nothing here reads the catalogue: callers pass text that is already masked.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from xml.sax.saxutils import escape

from ingest.fonts import fonts_available

FONT = "HudangCJK"
# CSS font names for SVG charts shown in a browser (the PDF embeds its own font)
SVG_FONTS = "'WenQuanYi Zen Hei', 'WenQuanYi Micro Hei', 'Noto Sans CJK SC', sans-serif"


@dataclass(frozen=True)
class Sheet:
    """A report as a table: a title, lines under it, column names and rows of text."""

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    lines: Sequence[str] = ()  # region, date, totals: printed under the title
    widths: Sequence[float] | None = None  # relative column widths
    landscape: bool = False
    notes: Sequence[str] = ()  # printed after the table


@dataclass(frozen=True)
class Cover:
    """A dossier's cover (案卷封面): a title and (label, value) lines."""

    title: str
    facts: Sequence[tuple[str, str]] = field(default_factory=tuple)
    notes: Sequence[str] = ()  # paragraphs under the facts (a certificate's statement)


def _defuse(cell: str) -> str:
    # a spreadsheet runs a cell that starts with = + - @ as a formula
    return "'" + cell if cell[:1] in ("=", "+", "-", "@") else cell


def render_csv(sheet: Sheet) -> bytes:
    """UTF-8 with a BOM (spreadsheet programs then read Chinese right), formulas defused."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(sheet.header)
    for row in sheet.rows:
        writer.writerow([_defuse(str(c)) for c in row])
    return out.getvalue().encode("utf-8")


@lru_cache(maxsize=1)
def font_name() -> str:
    """Register the first installed CJK font with ReportLab (once) and return its name."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    path = fonts_available()[0]
    pdfmetrics.registerFont(TTFont(FONT, path, subfontIndex=0) if path.endswith(".ttc")
                            else TTFont(FONT, path))
    return FONT


def _styles():
    from reportlab.lib.styles import ParagraphStyle

    name = font_name()
    return {
        "title": ParagraphStyle("title", fontName=name, fontSize=16, leading=22,
                                alignment=1, spaceAfter=6),
        "cover": ParagraphStyle("cover", fontName=name, fontSize=26, leading=34,
                                alignment=1, spaceAfter=30),
        "line": ParagraphStyle("line", fontName=name, fontSize=9, leading=13, alignment=1),
        "cell": ParagraphStyle("cell", fontName=name, fontSize=8.5, leading=11,
                               wordWrap="CJK"),
        "head": ParagraphStyle("head", fontName=name, fontSize=9, leading=12, wordWrap="CJK"),
        "fact": ParagraphStyle("fact", fontName=name, fontSize=13, leading=20, wordWrap="CJK"),
        "note": ParagraphStyle("note", fontName=name, fontSize=8.5, leading=12),
    }


def _paragraph(text: str, style):
    from reportlab.platypus import Paragraph

    # platypus reads markup: people's text is escaped, never interpreted
    return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)


def _table(sheet: Sheet, width: float, styles):
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    weights = list(sheet.widths or [1] * len(sheet.header))
    total = sum(weights)
    widths = [width * w / total for w in weights]
    data = [[_paragraph(h, styles["head"]) for h in sheet.header]]
    data += [[_paragraph(c, styles["cell"]) for c in row] for row in sheet.rows]
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.9, 0.9, 0.9)),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    return table


def render_pdf(sheet: Sheet, *, footer: str, chart=None, cover: Cover | None = None) -> bytes:
    """An A4 PDF of ``sheet`` (after ``cover`` when given, and ``chart`` above the table);
    every page carries ``footer`` (who printed it, when) and its page number."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.units import mm
    from reportlab.platypus import PageBreak, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = _styles()
    size = landscape(A4) if sheet.landscape else A4
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=size, leftMargin=15 * mm, rightMargin=15 * mm,
                            topMargin=15 * mm, bottomMargin=18 * mm, title=sheet.title,
                            author="hudang", creator="hudang")

    def page(canvas, _doc):
        canvas.saveState()
        canvas.setFont(font_name(), 8)
        canvas.drawString(15 * mm, 9 * mm, footer)
        canvas.drawRightString(size[0] - 15 * mm, 9 * mm, f"第 {canvas.getPageNumber()} 页")
        canvas.restoreState()

    story = []
    if cover is not None:
        # a cover with a statement under its facts (a certificate) starts higher on the page
        story += [Spacer(1, (12 if cover.notes else 40) * mm),
                  _paragraph(cover.title, styles["cover"])]
        facts = Table([[_paragraph(k, styles["fact"]), _paragraph(v, styles["fact"])]
                       for k, v in cover.facts], colWidths=[45 * mm, 100 * mm])
        facts.setStyle(TableStyle([("LINEBELOW", (1, 0), (1, -1), 0.5, "#888888"),
                                   ("VALIGN", (0, 0), (-1, -1), "BOTTOM")]))
        story.append(facts)
        for note in cover.notes:
            story += [Spacer(1, 6 * mm), _paragraph(note, styles["fact"])]
        story.append(PageBreak())
    story.append(_paragraph(sheet.title, styles["title"]))
    story += [_paragraph(line, styles["line"]) for line in sheet.lines]
    story.append(Spacer(1, 4 * mm))
    if chart is not None:
        story += [chart, Spacer(1, 4 * mm)]
    story.append(_table(sheet, doc.width, styles))
    if sheet.notes:
        story.append(Spacer(1, 3 * mm))
        story += [_paragraph(n, styles["note"]) for n in sheet.notes]
    doc.build(story, onFirstPage=page, onLaterPages=page)
    return out.getvalue()


@dataclass(frozen=True)
class Bar:
    label: str
    values: Sequence[int]  # one per series, stacked


def bar_chart(title: str, series: Sequence[str], bars: Sequence[Bar], width: float = 480,
              height: float = 250):
    """A stacked bar chart (one bar per region) as a ReportLab drawing, with a legend."""
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.charts.legends import Legend
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.lib import colors

    name = font_name()
    palette = [colors.Color(0.27, 0.51, 0.71), colors.Color(0.84, 0.37, 0.30),
               colors.Color(0.55, 0.7, 0.35), colors.Color(0.6, 0.5, 0.7)]
    drawing = Drawing(width, height)
    drawing.add(String(width / 2, height - 14, title, fontName=name, fontSize=11,
                       textAnchor="middle"))
    chart = VerticalBarChart()
    chart.x, chart.y = 40, 50
    chart.width, chart.height = width - 160, height - 85
    chart.data = [tuple(b.values[i] for b in bars) for i in range(len(series))] or [(0,)]
    chart.categoryAxis.style = "stacked"
    chart.categoryAxis.categoryNames = [b.label for b in bars] or [""]
    chart.categoryAxis.labels.fontName = name
    chart.categoryAxis.labels.fontSize = 8
    chart.categoryAxis.labels.angle = 30 if len(bars) > 6 else 0
    chart.categoryAxis.labels.boxAnchor = "ne" if len(bars) > 6 else "n"
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontName = name
    chart.valueAxis.labels.fontSize = 8
    top = max([sum(b.values) for b in bars] or [0])
    chart.valueAxis.valueMax = max(top, 1) * 1.15
    chart.valueAxis.valueStep = max(1, round(max(top, 1) / 5))
    for i in range(len(series)):
        chart.bars[i].fillColor = palette[i % len(palette)]
        chart.bars[i].strokeColor = None
    drawing.add(chart)
    legend = Legend()
    legend.x, legend.y = width - 110, height - 40
    legend.fontName, legend.fontSize = name, 9
    legend.colorNamePairs = [(palette[i % len(palette)], s) for i, s in enumerate(series)]
    drawing.add(legend)
    return drawing


def chart_svg(drawing) -> bytes:
    """The drawing as an SVG document for the screen (an ``<img>``: CSP allows no inline
    SVG styles in the page itself)."""
    from reportlab.graphics import renderSVG

    svg = renderSVG.drawToString(drawing)
    return svg.replace(f"font-family: {FONT}", f"font-family: {SVG_FONTS}").encode("utf-8")
