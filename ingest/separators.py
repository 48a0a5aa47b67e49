"""Separator sheets (分隔页): printed before each document of a box, so that one long scan of
the whole box can be split into its documents.

A sheet carries a QR code with the household number and the document type, and the same
in large readable text for the person at the scanner. :func:`render_sheets` draws them
as an A4 PDF with ReportLab's QR widget; :func:`split` finds them in a long scan (a
multi-page PDF or TIFF) with zxing-cpp, a maintained barcode library
(``docs/dependencies.md``), and cuts the scan into one file per document. The separator
pages themselves are not stored.

Reading the scan happens where every upload is read: ``ingest.sources.normalize`` in its
bounded child process; the cutting runs in one too (``ingest.sandbox``).
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.exceptions import UnreadableInput
from ingest.printing import font_name
from ingest.sandbox import run_limited
from ingest.sources import Limits, normalize

PREFIX = "HUDANG-SEP"  # what a separator's QR code says first: HUDANG-SEP|1|household|type
VERSION = "1"


@dataclass(frozen=True)
class Sheet:
    """What one separator sheet says."""

    household: str
    type_code: str
    type_name: str  # 申请书, printed large beside the code

    @property
    def payload(self) -> str:
        return "|".join((PREFIX, VERSION, self.household, self.type_code))


def parse(text: str) -> tuple[str, str] | None:
    """(household, type code) of a separator's QR text; None for any other code."""
    parts = text.strip().split("|")
    if len(parts) != 4 or parts[0] != PREFIX or parts[1] != VERSION:
        return None
    household, type_code = parts[2].strip(), parts[3].strip()
    if not household or not type_code:
        return None
    return household, type_code


# -- printing ---------------------------------------------------------------------------------
def render_sheets(sheets: Sequence[Sheet]) -> bytes:
    """An A4 PDF, one separator sheet a page."""
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    font = font_name()
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    canvas.setTitle("分隔页 separator sheets")
    canvas.setAuthor("hudang")
    canvas.setCreator("hudang")
    width, height = A4
    for sheet in sheets:
        canvas.setFont(font, 22)
        canvas.drawCentredString(width / 2, height - 30 * mm, "文件分隔页 · SEPARATOR SHEET")
        canvas.setFont(font, 11)
        canvas.drawCentredString(width / 2, height - 40 * mm,
                                 "扫描时放在该件之前，本页不入库 · scan it before the document; "
                                 "it is not stored")
        side = 100 * mm  # large modules: read at 200 dpi, crooked, or from a fax
        widget = QrCodeWidget(sheet.payload, barLevel="M", barBorder=4)
        x0, y0, x1, y1 = widget.getBounds()
        drawing = Drawing(side, side, transform=[side / (x1 - x0), 0, 0, side / (y1 - y0),
                                                 0, 0])
        drawing.add(widget)
        renderPDF.draw(drawing, canvas, (width - side) / 2, height - 50 * mm - side)
        y = height - 70 * mm - side
        canvas.setFont(font, 34)
        canvas.drawCentredString(width / 2, y, sheet.household)
        canvas.setFont(font, 40)
        canvas.drawCentredString(width / 2, y - 22 * mm, sheet.type_name)
        canvas.setFont(font, 16)
        canvas.drawCentredString(width / 2, y - 34 * mm, sheet.type_code)
        canvas.showPage()
    canvas.save()
    return out.getvalue()


# -- finding and splitting ----------------------------------------------------------------------
@dataclass
class Part:
    """One document of a long scan: the pages after a separator (1-based, in the scan), up
    to the next one. ``household``/``type_code`` are None for pages before the first
    separator."""

    index: int  # 1, 2, ... in scan order
    household: str | None
    type_code: str | None
    pages: list[int] = field(default_factory=list)
    path: Path | None = None  # the part's own file, once cut

    @property
    def item(self) -> str:
        return f"#{self.index}"


def read_separator(raster_path: Path) -> tuple[str, str] | None:
    """(household, type code) if the page is a separator sheet."""
    import zxingcpp
    from PIL import Image

    with Image.open(raster_path) as image:
        grey = image.convert("L")
    attempts = [grey]
    if max(grey.size) > 1800:  # fine noise hides small modules less at half the size
        attempts.append(grey.reduce(2))
    for attempt in attempts:
        for code in zxingcpp.read_barcodes(attempt, formats=zxingcpp.BarcodeFormat.QRCode):
            found = parse(code.text)
            if found is not None:
                return found
    return None


def find_parts(path: Path, workdir: Path, limits: Limits
               ) -> tuple[list[Part], int, str, dict[str, str]]:
    """The documents of a long scan, the number of separator pages, the file's kind and its
    scanner tags."""
    probe = workdir / "probe"
    probe.mkdir()
    source = normalize(path, probe, limits)
    parts: list[Part] = []
    separators = 0
    for page in source.pages:
        found = read_separator(page.raster)
        if found is not None:
            separators += 1
            parts.append(Part(len(parts) + 1, found[0], found[1]))
            continue
        if not parts:
            parts.append(Part(1, None, None))
        parts[-1].pages.append(page.number)
    for page in source.pages:
        page.raster.unlink(missing_ok=True)
    return parts, separators, source.kind, source.scanner


def split(path: Path, workdir: Path, limits: Limits | None = None
          ) -> tuple[list[Part], int, dict[str, str]]:
    """Cut a long scan at its separator sheets into one file per document (in ``workdir``);
    the parts, the number of separator pages and the scan's scanner tags.

    The parts are written the same way every time (same pages, same bytes), so that a run
    again finds them stored already (the duplicate check by content hash)."""
    limits = limits or Limits()
    parts, separators, kind, scanner = find_parts(path, workdir, limits)
    if kind not in ("pdf", "tiff"):
        raise UnreadableInput(path, "a long scan to split at separator sheets is a PDF or a "
                                    "TIFF of many pages")
    if not separators:
        raise UnreadableInput(path, "no separator sheet was found in the scan; print them "
                                    "with 'hudang separators' and scan one before each "
                                    "document")
    wanted = [(p.index, p.pages) for p in parts if p.pages]
    names = run_limited(_cut_in_child, (path, kind, wanted, workdir), path=path,
                        seconds=limits.seconds, memory_bytes=limits.memory_bytes)
    for part in parts:
        if part.index in names:
            part.path = workdir / names[part.index]
    return parts, separators, scanner


def _cut_in_child(path: Path, kind: str, wanted: list[tuple[int, list[int]]],
                  workdir: Path) -> dict[int, str]:
    stem = path.stem[:60]
    names: dict[int, str] = {}
    if kind == "pdf":
        import pikepdf

        with pikepdf.open(path, password="") as src:
            for index, pages in wanted:
                out = pikepdf.Pdf.new()
                out.pages.extend(src.pages[n - 1] for n in pages)
                names[index] = f"{stem}-{index:03d}.pdf"
                out.save(workdir / names[index], deterministic_id=True)
        return names
    from PIL import Image

    with Image.open(path, formats=["TIFF"]) as im:
        frames = []
        for n in range(getattr(im, "n_frames", 1)):
            im.seek(n)
            frame = im.copy()
            # each frame keeps its own resolution and a lossless encoding of its own mode
            frame.encoderinfo = {"dpi": im.info.get("dpi") or (300, 300),
                                 "compression": "group4" if frame.mode == "1"
                                 else "tiff_deflate"}
            frames.append(frame)
    for index, pages in wanted:
        chosen = [frames[n - 1] for n in pages]
        names[index] = f"{stem}-{index:03d}.tif"
        first = chosen[0]
        first.save(workdir / names[index], format="TIFF", save_all=True,
                   append_images=chosen[1:], **first.encoderinfo)
    return names
