"""Synthetic boxes for digitisation tests: small scanned pages with the faults the scan
quality checks look for (150 dpi, blank, scanned twice, greyscale with a red seal, skewed),
separator sheets printed then scanned again (crooked, 200 dpi, greyscale, fax-quality
bitonal), long scans and manifests.

Pages are small (A6) and carry two or three printed lines, so that OCR of a whole box
stays quick; everything is drawn from a seed, so the same call gives the same bytes.
"""
from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from ingest.fonts import cjk_font
from ingest.synthetic import scan_look

A6_MM = (105, 148)
PAPER = (247, 245, 238)
INK = (22, 22, 26)
SEAL = (212, 38, 48)
FAX_DPI = (204, 98)  # a fax's standard resolution: coarse across the lines


def _pixels(mm: float, dpi: float) -> int:
    return max(1, round(mm / 25.4 * dpi))


def note_page(lines: Sequence[str], *, dpi: int = 300, seed: int = 0, seal: bool = False,
              skew: float | None = None) -> Image.Image:
    """An A6 page (RGB) with ``lines`` printed on it, scanned (light noise and skew); a red
    round seal over the last line with ``seal``; ``skew`` degrees instead of a slight one."""
    rng = random.Random(seed)
    size = (_pixels(A6_MM[0], dpi), _pixels(A6_MM[1], dpi))
    page = Image.new("RGB", size, PAPER)
    draw = ImageDraw.Draw(page)
    font = cjk_font(max(12, round(dpi * 0.16)))  # about 11.5 pt
    x, y = _pixels(12, dpi), _pixels(18, dpi)
    for line in lines:
        draw.text((x, y), line, font=font, fill=INK)
        y += round(font.size * 1.9)
    if seal:
        r = _pixels(16, dpi)
        cx, cy = size[0] - _pixels(32, dpi), y - round(font.size * 1.2)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=SEAL, width=max(2, r // 10))
        star = r // 3
        draw.regular_polygon((cx, cy, star), 5, fill=SEAL)
    if skew is None:
        return scan_look(page, rng)  # a slight skew, below the limit
    turned = page.rotate(skew, resample=Image.Resampling.BILINEAR, fillcolor=(214, 214, 210))
    return rescanned(turned, seed)


def blank_page(*, dpi: int = 300, seed: int = 0) -> Image.Image:
    """An empty A6 page as a scanner sees it: paper, noise, a little dust."""
    size = (_pixels(A6_MM[0], dpi), _pixels(A6_MM[1], dpi))
    return scan_look(Image.new("RGB", size, PAPER), random.Random(seed))


def rescanned(image: Image.Image, seed: int) -> Image.Image:
    """The same paper scanned a second time: the same page, fresh noise (no new skew)."""
    rng = random.Random(seed)
    noise = Image.effect_noise(image.size, 6).convert("L")
    grain = Image.merge("RGB", (noise, noise, noise))
    return Image.blend(image.convert("RGB"), grain, 0.03 + rng.random() * 0.01)


def separator_scans(pdf: bytes, *, dpi: int = 200, angle: float = 2.0,
                    mode: str = "L") -> list[tuple[Image.Image, tuple[float, float]]]:
    """The sheets of a separator PDF printed and scanned again: at ``dpi``, turned by
    ``angle`` degrees, in ``mode`` ("L" greyscale, "RGB", or "fax": bitonal at 204 x 98
    dpi). Each with the resolution to save it at."""
    import pypdfium2 as pdfium

    out = []
    document = pdfium.PdfDocument(pdf)
    try:
        for index in range(len(document)):
            page = document[index]
            image = page.render(scale=dpi / 72).to_pil().convert("L")
            page.close()
            image = image.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True,
                                 fillcolor=235)
            if mode == "fax":
                image = image.resize((round(image.width * FAX_DPI[0] / dpi),
                                      round(image.height * FAX_DPI[1] / dpi)),
                                     Image.Resampling.BOX)
                out.append((image.point(lambda v: 255 if v > 150 else 0).convert("1"),
                            FAX_DPI))
            else:
                out.append((image.convert(mode), (dpi, dpi)))
    finally:
        document.close()
    return out


def save_tiff(path: Path, pages: Sequence[tuple[Image.Image, tuple[float, float]]], *,
              make: str | None = None, model: str | None = None,
              software: str | None = None) -> Path:
    """A multi-page TIFF, each page at its own resolution, lossless; the scanner's tags
    (Make, Model, Software) on the first page when given."""
    frames = []
    for image, dpi in pages:
        frame = image.copy()
        frame.encoderinfo = {"dpi": dpi, "compression": "group4" if frame.mode == "1"
                             else "tiff_deflate"}
        frames.append(frame)
    first = frames[0]
    info = dict(first.encoderinfo)
    tags = {271: make, 272: model, 305: software}
    if any(tags.values()):
        from PIL.TiffImagePlugin import ImageFileDirectory_v2

        ifd = ImageFileDirectory_v2()
        for number, value in tags.items():
            if value:
                ifd[number] = value
        info["tiffinfo"] = ifd
    first.save(path, format="TIFF", save_all=True, append_images=frames[1:], **info)
    return path


def write_manifest(path: Path, rows: Sequence[dict[str, object]]) -> Path:
    """``manifest.csv`` with the columns ``hudang ingest-box`` reads."""
    columns = ["file", "household_no", "doc_type", "seq", "date", "title", "pages"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in columns})
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def save_pdf(path: Path, pages: Sequence[tuple[Image.Image, tuple[float, float], str]], *,
             producer: str | None = None) -> Path:
    """A PDF of scanned page images, each at its resolution, with an invisible text layer
    (``text``; "" for none) as a scanner's own OCR makes: pages with one need no OCR at
    ingest, which keeps tests of whole boxes quick."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen.canvas import Canvas

    from ingest.printing import font_name

    canvas = Canvas(str(path), pageCompression=1, invariant=1)
    if producer:
        canvas.setProducer(producer)
    for image, (xdpi, ydpi), text in pages:
        width, height = image.width / xdpi * 72, image.height / ydpi * 72
        canvas.setPageSize((width, height))
        canvas.drawImage(ImageReader(image), 0, 0, width, height)
        if text:
            layer = canvas.beginText(20, height - 40)
            layer.setTextRenderMode(3)  # invisible, as an OCR layer
            layer.setFont(font_name(), 10)
            for line in text.splitlines():
                layer.textLine(line)
            canvas.drawText(layer)
        canvas.showPage()
    canvas.save()
    return path
