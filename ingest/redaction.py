"""Covering ID numbers on page images (身份证号码遮盖).

Text shows an ID number masked (``records.idnumbers.mask``: ``2203**********1234``);
this module does the same to the pictures of it. At ingest and re-OCR,
:func:`id_regions` finds every ID-number-shaped run in the OCR lines and
returns the rectangle over the ten digits ``mask`` hides, as fractions of the
page (0..1, origin top-left of the page as displayed), so one region fits the
access image and the archival page alike. ``Page.id_regions`` stores them as
JSON (:func:`dumps`); coordinates only, never the number.

Readers without ``see_full_id`` get images with opaque boxes painted over the
regions (:func:`cover`) and downloads rebuilt from those images with the ID
digits of the invisible text layer replaced by ``*`` (:func:`redacted_pdf`).

Pages whose text did not come from OCR (an existing text layer), and pages
archived before regions were kept (``id_regions`` NULL), get their regions
from the archival PDF's text instead (:func:`regions_from_pdf`,
:func:`page_regions`).

Every number ``mask_in_text`` masks is covered, from the same reading
(``records.idnumbers.id_number_spans``): a lone 18-character run of ID shape,
right check digit or not, and a number inside a longer run of digits (a birth
date or phone number OCR joined to it). A misread digit must not uncover it.
"""
from __future__ import annotations

import io
import json
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
from PIL import Image, ImageDraw

from ingest.archive import Archive
from ingest.pdfwrite import add_font, image_xobject, layer_stream, to_bytes
from ingest.ocr.base import OcrLine, OcrPage
from ingest.textlayer import (PageGeometry, char_width, display_to_user,
                              glyphless_font)
from records.idnumbers import MASK_KEEP, id_number_spans, mask_in_text
from records.model import Document

Region = tuple[float, float, float, float]  # x0, y0, x1, y1: fractions of the displayed page
Box = tuple[float, float, float, float]  # the same in pixels (or points)

KEEP = MASK_KEEP  # characters left readable at each end: the one rule of records.idnumbers.mask
MARGIN_X = 0.35  # of one character's width, added left and right of the covered digits
MARGIN_Y = 0.15  # of the line's height, added above and below
MASK_CHAR = "*"
# pdfium is not thread-safe, and the web server reads older pages' text from its threads
_PDFIUM_LOCK = threading.Lock()


# -- which characters of a line are ID digits to hide ------------------------------------
def hidden_characters(text: str) -> list[list[int]]:
    """For each ID-shaped number in ``text``, the indices of the characters ``mask`` hides."""
    return [span[KEEP:-KEEP] for span in id_number_spans(text)]


# -- where each character of an OCR line is --------------------------------------------
def char_boxes(line: OcrLine) -> list[Box | None]:
    """One pixel box per character of ``line.text`` (None for spaces between words).

    From the word boxes when they spell the line (RapidOCR boxes each Han
    character and digit, Tesseract each word); otherwise the line box split
    in proportion to character widths, as the text layer lays the line out
    (a digit half as wide as a Han character).
    """
    boxes = _from_words(line) if line.words else None
    return boxes or list(split_box(line.text, line.box))


def split_box(text: str, box: Sequence[float]) -> list[Box]:
    """``box`` cut across into one piece per character of ``text``, by character width."""
    x0, y0, x1, y1 = (float(v) for v in box)
    widths = [char_width(c) for c in text]
    total = sum(widths) or 1
    pieces, done = [], 0
    for width in widths:
        left = x0 + (x1 - x0) * done / total
        done += width
        pieces.append((left, y0, x0 + (x1 - x0) * done / total, y1))
    return pieces


def _from_words(line: OcrLine) -> list[Box | None] | None:
    text = line.text
    boxes: list[Box | None] = [None] * len(text)
    i = 0
    for word in line.words:
        for char, piece in zip(word.text, split_box(word.text, word.box)):
            if char.isspace():
                continue
            while i < len(text) and text[i].isspace():
                i += 1
            if i >= len(text) or text[i] != char:
                return None  # the words do not spell the line: trust the line box only
            boxes[i] = piece
            i += 1
    if text[i:].strip():
        return None
    return boxes


# -- regions of a page -------------------------------------------------------------------
def id_regions(ocr: OcrPage) -> list[Region]:
    """Regions over the hidden digits of every ID number ``ocr`` read, as page fractions."""
    regions = []
    for line in ocr.lines:
        spans = hidden_characters(line.text)
        if not spans:
            continue
        x0, y0, x1, y1 = line.box
        if (y1 - y0) > (x1 - x0) and len(line.text.strip()) > 1:
            # a vertical line: its characters run down, not across; cover all of it
            regions.extend(_fraction([line.box], ocr.width, ocr.height, 0, MARGIN_Y))
            continue
        boxes = char_boxes(line)
        for span in spans:
            found = [boxes[i] for i in span if boxes[i] is not None]
            regions.extend(_fraction(found, ocr.width, ocr.height, len(span), MARGIN_Y))
    return regions


def _fraction(boxes: Sequence[Box], width: float, height: float, chars: int,
              margin_y: float) -> list[Region]:
    """The union of ``boxes`` widened by the margins, as fractions of ``width`` x ``height``."""
    if not boxes or width <= 0 or height <= 0:
        return []
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    dx = MARGIN_X * (x1 - x0) / chars if chars else 0.0
    dy = margin_y * (y1 - y0)
    return [(_clamp((x0 - dx) / width), _clamp((y0 - dy) / height),
             _clamp((x1 + dx) / width), _clamp((y1 + dy) / height))]


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def dumps(regions: Iterable[Region] | None) -> str | None:
    """The ``Page.id_regions`` value: JSON, rounded outwards to 1/100,000 of the page."""
    if regions is None:
        return None
    return json.dumps([[math.floor(r[0] * 1e5) / 1e5, math.floor(r[1] * 1e5) / 1e5,
                        math.ceil(r[2] * 1e5) / 1e5, math.ceil(r[3] * 1e5) / 1e5]
                       for r in regions], separators=(",", ":"))


def loads(value: str | None) -> list[Region] | None:
    """Regions from ``Page.id_regions``; None when they are not known (an older page)."""
    if value is None:
        return None
    return [tuple(float(v) for v in region) for region in json.loads(value)]


# -- painting ----------------------------------------------------------------------------
def cover(image: Image.Image, regions: Iterable[Region]) -> None:
    """Paint ``regions`` of ``image`` opaque black, in place."""
    draw = None
    width, height = image.size
    for x0, y0, x1, y1 in regions:
        draw = draw or ImageDraw.Draw(image)
        box = (math.floor(x0 * width), math.floor(y0 * height),
               math.ceil(x1 * width) - 1, math.ceil(y1 * height) - 1)
        if box[2] >= box[0] and box[3] >= box[1]:
            draw.rectangle(box, fill="black")


# -- regions from a PDF's text -----------------------------------------------------------
def regions_from_pdf(pdf: bytes | Path, numbers: Iterable[int]) -> dict[int, list[Region]]:
    """Regions of ID numbers in the text of pages ``numbers`` (1-based) of ``pdf``.

    For pages without an OCR result of their own: an existing text layer, or
    an archive older than stored regions (whose hudang text layer places each
    word, or line, where OCR read it). The characters' boxes come from pdfium
    in user space and are turned with the page's /Rotate into fractions of
    the page as displayed.
    """
    with _PDFIUM_LOCK:
        doc = pdfium.PdfDocument(pdf)
        try:
            found = {}
            for number in numbers:
                page = doc[number - 1]
                try:
                    found[number] = _page_regions(page)
                finally:
                    page.close()
            return found
        finally:
            doc.close()


def _page_regions(page: pdfium.PdfPage) -> list[Region]:
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        text = "".join(chr(pdfium.raw.FPDFText_GetUnicode(textpage.raw, i) or 0xFFFD)
                       for i in range(count))
        spans = hidden_characters(text)
        if not spans:
            return []
        x0, y0, x1, y1 = page.get_cropbox()
        box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        rotate = page.get_rotation() % 360
        width, height = (box[3] - box[1], box[2] - box[0]) if rotate % 180 else (
            box[2] - box[0], box[3] - box[1])
        regions = []
        for span in spans:
            boxes = [_displayed(textpage.get_charbox(i), box, rotate, height)
                     for i in span]
            regions.extend(_fraction(boxes, width, height, len(span), MARGIN_Y))
        return regions
    finally:
        textpage.close()


def _displayed(charbox: tuple[float, float, float, float], box: Box, rotate: int,
               display_h: float) -> Box:
    """A user-space box -> the same box in displayed-page points, origin top-left."""
    x0, y0, x1, y1 = box
    corners = []
    for x, y in ((charbox[0], charbox[1]), (charbox[2], charbox[3])):
        # the inverse of ingest.textlayer.display_to_user (origin bottom-left)
        u, v = {0: (x - x0, y - y0), 90: (y - y0, x1 - x), 180: (x1 - x, y1 - y),
                270: (y1 - y, x - x0)}[rotate]
        corners.append((u, display_h - v))
    (u0, v0), (u1, v1) = corners
    return min(u0, u1), min(v0, v1), max(u0, u1), max(v0, v1)


def page_regions(archive: Archive, document_id: int,
                 pdf: bytes | None = None) -> dict[int, list[Region]]:
    """Regions of every page of a document, by page number.

    Pages archived before regions were kept have none stored: they are found
    in the archival PDF's text now (``pdf``, or decrypted from the store) and
    stored, so each document pays for it once.
    """
    with archive.Session() as s, s.begin():
        doc = s.get(Document, document_id)
        missing = [p for p in doc.pages if p.id_regions is None]
        if missing:
            pdf = pdf if pdf is not None else archive.blobs.get(doc.pdf_ref, doc.pdf_key)
            found = regions_from_pdf(pdf, [p.number for p in missing])
            for p in missing:
                p.id_regions = dumps(found[p.number])
        return {p.number: loads(p.id_regions) for p in doc.pages}


# -- the text layer with ID digits masked ---------------------------------------------------
def masked_layer(stream: pikepdf.Stream) -> bytes:
    """The text-layer operators of ``stream`` with the hidden ID digits drawn as ``*``.

    Each ``*`` takes its digit's place (2-byte Identity-H codes of the same
    width), so the rest of the layer keeps its positions.
    """
    instructions = list(pikepdf.parse_content_stream(stream))
    lines: list[list[tuple[int, int]]] = []  # per text line: (instruction, character) pairs
    texts: list[list[str]] = []
    for n, (operands, operator) in enumerate(instructions):
        if operator == pikepdf.Operator("Tf"):
            lines.append([])
            texts.append([])
        elif operator == pikepdf.Operator("Tj") and lines:
            codes = bytes(operands[0])
            chars = [chr(int.from_bytes(codes[k:k + 2], "big")) for k in range(0, len(codes), 2)]
            lines[-1].extend((n, k) for k in range(len(chars)))
            texts[-1].extend(chars)
    changed: dict[int, list[str]] = {}
    for where, chars in zip(lines, texts):
        for span in hidden_characters("".join(chars)):
            for i in span:
                n, k = where[i]
                if n not in changed:
                    codes = bytes(instructions[n].operands[0])
                    changed[n] = [chr(int.from_bytes(codes[j:j + 2], "big"))
                                  for j in range(0, len(codes), 2)]
                changed[n][k] = MASK_CHAR
    for n, chars in changed.items():
        data = b"".join(ord(c).to_bytes(2, "big") for c in chars)
        instructions[n] = pikepdf.ContentStreamInstruction([pikepdf.String(data)],
                                                           pikepdf.Operator("Tj"))
    # the stream opens with "Q" closing the scan's "q" (ingest.assemble): not wanted here
    while instructions and instructions[0].operator == pikepdf.Operator("Q"):
        instructions.pop(0)
    return pikepdf.unparse_content_stream(instructions)


# -- the redacted copy of an archival PDF -------------------------------------------------
@dataclass(frozen=True)
class PageImage:
    """A page as the viewer shows it: the access image (JPEG) and its ID regions."""

    jpeg: bytes
    regions: Sequence[Region]


SCAN_XOBJECT = "/HdScan"
REDACTED_QUALITY = 85  # JPEG quality of the rebuilt pages


def redacted_pdf(pdf: bytes, images: Sequence[PageImage], *, title: str) -> bytes:
    """A copy of the archival ``pdf`` for a reader who may not see ID numbers.

    Each page keeps its size and /Rotate, but shows the access image with the
    ID regions painted over, and carries the hudang text layer with the
    hidden digits replaced by ``*``. Nothing of the original page content is
    copied, so neither the scan's pixels nor a text layer it came with can
    give the number away. The caller stamps the watermark on top.
    """
    out = pikepdf.new()
    with pikepdf.open(io.BytesIO(pdf)) as src:
        if len(src.pages) != len(images):
            raise ValueError(f"the PDF has {len(src.pages)} pages, but {len(images)} images came")
        font = None
        for page, image in zip(src.pages, images):
            x0, y0, x1, y1 = (float(v) for v in page.cropbox)
            box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
            rotate = int(page.obj.get("/Rotate", 0)) % 360
            geometry = PageGeometry(box=box, rotate=rotate)
            display_w, display_h = ((box[3] - box[1], box[2] - box[0]) if rotate % 180
                                    else (box[2] - box[0], box[3] - box[1]))
            new = out.add_blank_page()
            new.obj.MediaBox = pikepdf.Array(list(box))
            new.obj.Rotate = rotate
            scan = new.add_resource(_covered_scan(out, image), pikepdf.Name.XObject,
                                    pikepdf.Name(SCAN_XOBJECT))
            matrix = " ".join(f"{v:.4f}" for v in display_to_user(geometry))
            content = (f"q {matrix} cm {display_w:.4f} 0 0 {display_h:.4f} 0 0 cm {scan} Do Q\n"
                       .encode())
            stream = layer_stream(page)
            if stream is not None and stream.read_bytes().strip() != b"Q":
                font = font or glyphless_font(out)
                add_font(new, font)
                content += masked_layer(stream)
            new.obj.Contents = out.make_stream(content)
        out.docinfo[pikepdf.Name.Title] = mask_in_text(title)
        out.docinfo[pikepdf.Name.Producer] = "hudang"
    return to_bytes(out)


def _covered_scan(pdf: pikepdf.Pdf, image: PageImage) -> pikepdf.Stream:
    with Image.open(io.BytesIO(image.jpeg)) as src:
        picture = src.convert("L") if src.mode in ("1", "L", "LA") else src.convert("RGB")
    cover(picture, image.regions)
    return image_xobject(pdf, pixels=picture, jpeg_quality=REDACTED_QUALITY)
