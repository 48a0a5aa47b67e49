"""Watermarks: the reader's name, the time and the purpose, tiled across what they take away.

Every page image served and every download carries one, so that any copy names
its reader (利用登记). Page images are watermarked as JPEGs (:func:`watermark`),
downloads as PDFs (:func:`stamp_pdf`, an image XObject over each page). The text
is drawn with Pillow in a CJK font: a PDF font would need CJK embedding.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime, tzinfo
from functools import lru_cache

import pikepdf
from PIL import Image, ImageDraw

from ingest import redaction
from ingest.fonts import cjk_font
from ingest.pdfwrite import image_xobject, to_bytes

INK = (200, 30, 30)  # the overlay's red; its alpha comes from _overlay
XOBJECT = "/HudangWatermark"
_PDF_OVERLAY_WIDTH = 1200  # px across the page: legible, and small next to a scan


def stamp_text(reader: str, when: datetime, zone: tzinfo, purpose: str | None) -> str:
    """``reader  2026-11-30 22:05 CST  purpose``: the time in the office's time zone."""
    local = when.astimezone(zone)
    stamp = f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".strip()
    return "  ".join(part for part in (reader, stamp, purpose) if part)


def _overlay(size: tuple[int, int], text: str) -> Image.Image:
    """A transparent RGBA sheet with ``text`` tiled diagonally in translucent red."""
    width, height = size
    font_size = max(18, width // 40)
    font = cjk_font(font_size)
    tile_w = int(font.getlength(text)) + font_size * 4
    tile = Image.new("RGBA", (tile_w, font_size * 6), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((font_size, font_size * 2), text, font=font, fill=(*INK, 90))
    tile = tile.rotate(30, expand=True)
    overlay = Image.new("RGBA", size, (0, 0, 0, 0))
    for y in range(-tile.height // 2, height, tile.height // 2 + font_size * 2):
        for x in range(-tile.width // 2, width, tile.width):
            overlay.paste(tile, (x, y), tile)
    return overlay


@lru_cache(maxsize=48)
def _mask(size: tuple[int, int], text: str) -> Image.Image:
    """The alpha of ``_overlay(size, text)`` (L mode), kept for the next page of the same reading.

    The text changes once a minute per reader and purpose, and building the
    tiled sheet was a quarter of an image request's CPU; 48 masks of a
    2000 px page are about 130 MB.
    """
    mask = _overlay(size, text).getchannel("A")
    mask.load()
    return mask


def watermark(jpeg: bytes, text: str, regions: Sequence[redaction.Region] = (), *,
              side: int | None = None) -> bytes:
    """Tile ``text`` diagonally across the image, translucent, so any copy names its reader.

    ``regions`` (ID numbers, ``ingest.redaction``; fractions of the page, so any size)
    are painted over first. The red is painted through the cached alpha mask straight
    onto the RGB page: the same pixels as compositing an RGBA sheet, without two mode
    conversions. ``side``: make it a thumbnail of at most that many pixels a side first
    (the JPEG decoded at a reduced scale, so a thumbnail costs a fraction of a page).
    """
    with Image.open(io.BytesIO(jpeg)) as src:
        if side:
            src.draft(None, (side, side))
        base = src.convert("RGB")
    if side:
        base.thumbnail((side, side), Image.Resampling.LANCZOS)
    redaction.cover(base, regions)
    base.paste(INK, (0, 0, *base.size), _mask(base.size, text))
    buf = io.BytesIO()
    base.save(buf, "JPEG", quality=82)
    return buf.getvalue()


def stamp_pdf(pdf: bytes, text: str) -> bytes:
    """Draw ``text`` over every page of ``pdf`` as a transparent image XObject, placed over
    the whole media box of each page."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        images: dict[tuple[int, int, int], pikepdf.Stream] = {}
        for page in doc.pages:
            x0, y0, x1, y1 = (float(v) for v in page.mediabox)
            w, h = x1 - x0, y1 - y0
            rotate = int(page.obj.get("/Rotate", 0)) % 360
            upright = (h, w) if rotate in (90, 270) else (w, h)
            size = (_PDF_OVERLAY_WIDTH, max(1, round(_PDF_OVERLAY_WIDTH * upright[1] / upright[0])))
            key = (*size, rotate)
            if key not in images:
                sheet = _overlay(size, text)
                if rotate:  # the viewer turns the page clockwise; pre-turn the sheet back
                    sheet = sheet.rotate(rotate, expand=True)
                images[key] = image_xobject(doc, pixels=sheet)
            name = page.add_resource(images[key], pikepdf.Name.XObject, pikepdf.Name(XOBJECT))
            page.contents_add(doc.make_stream(b"q\n"), prepend=True)
            page.contents_add(doc.make_stream(
                f"\nQ\nq {w:.3f} 0 0 {h:.3f} {x0:.3f} {y0:.3f} cm {name} Do Q\n".encode()))
        return to_bytes(doc)
