"""Invisible OCR text layer for one PDF page (engine-independent).

Design, after OCRmyPDF's GlyphLessFont:

* One Type0 font ``/HdGlyphless`` per output PDF: Identity-H encoding, so the
  2-byte character codes ARE Unicode BMP code points, and a ToUnicode CMap
  that maps every code to itself, so copying from a viewer yields the OCR
  text, Chinese included.
* The embedded TrueType program (built below, no font file shipped) has two
  glyphs that paint nothing: a full-width one (1000 units, used for CJK and
  other East Asian wide characters) and a half-width one (500 units, Latin,
  digits). Each glyph's outline is a zero-area diagonal from the bottom-left
  to the top-right of its cell: it can never paint anything, yet gives text
  extractors (pdfium included) a glyph box equal to the character cell, so
  highlight and search boxes cover the scanned characters.
* Text is drawn with render mode 3 (invisible). Each word (or the whole line
  when the engine gave no usable words) is horizontally scaled with ``Tz`` to
  span its box; words are stretched to meet the next word so extractors see
  no gaps and invent no spaces between Han characters.
* Coordinates: OCR boxes are pixels of the page *as displayed* (after the
  page's /Rotate). One ``cm`` maps displayed-page points into the unrotated
  user space of the page box, so text is laid out as it is seen.
"""
from __future__ import annotations

import struct
import unicodedata
import zlib
from dataclasses import dataclass
from functools import lru_cache

import pikepdf

from .ocr.base import OcrLine, OcrPage, OcrWord
from .ocr.text import remove_han_spaces

FONT_RESOURCE = "/HdGlyphless"
FONT_NAME = "HdGlyphless"
UNITS_PER_EM = 1000
FULL_WIDTH = 1000
HALF_WIDTH = 500
ASCENT = 800
DESCENT = -200  # the baseline sits this far (20% of the line height) above the box bottom
_REPLACEMENT = 0xFFFD  # non-BMP characters cannot be 2-byte Identity-H codes


@dataclass(frozen=True)
class PageGeometry:
    box: tuple[float, float, float, float]  # page box in points (x0, y0, x1, y1), unrotated user space
    rotate: int  # final /Rotate of the page; the OCR'd image is the page as displayed with it


# ---------------------------------------------------------------- content stream

def text_layer_stream(ocr: OcrPage, geometry: PageGeometry) -> bytes:
    """Content-stream operators drawing ``ocr`` invisibly over the page."""
    display_w, display_h = _display_size(geometry)
    scale_x, scale_y = display_w / ocr.width, display_h / ocr.height
    ops = [b"q", _matrix(display_to_user(geometry)) + b" cm", b"BT", b"3 Tr"]
    for line in ocr.lines:
        ops.extend(_line_ops(line, scale_x, scale_y, display_h))
    ops += [b"ET", b"Q"]
    return b"\n".join(ops) + b"\n"


def display_to_user(geometry: PageGeometry) -> tuple[float, float, float, float, float, float]:
    """Matrix (a b c d e f) from displayed-page points (origin bottom-left) to user space.

    /Rotate turns the page clockwise for display, so e.g. with 90 the
    displayed x axis runs up the user space and displayed y runs leftwards.
    """
    x0, y0, x1, y1 = _normalised_box(geometry.box)
    w, h = x1 - x0, y1 - y0
    return {
        0: (1, 0, 0, 1, x0, y0),
        90: (0, 1, -1, 0, x0 + w, y0),
        180: (-1, 0, 0, -1, x0 + w, y0 + h),
        270: (0, -1, 1, 0, x0, y0 + h),
    }[geometry.rotate % 360]


def _display_size(geometry: PageGeometry) -> tuple[float, float]:
    x0, y0, x1, y1 = _normalised_box(geometry.box)
    w, h = x1 - x0, y1 - y0
    return (h, w) if geometry.rotate % 180 else (w, h)


def _normalised_box(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    # PDF allows any two opposite corners in a rectangle
    x0, y0, x1, y1 = (float(v) for v in box)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _line_ops(line: OcrLine, scale_x: float, scale_y: float, display_h: float) -> list[bytes]:
    top, bottom = line.box[1] * scale_y, line.box[3] * scale_y
    size = bottom - top
    if size <= 0 or not line.text.strip():
        return []
    baseline = display_h - bottom - DESCENT / UNITS_PER_EM * size
    ops = [FONT_RESOURCE.encode() + b" " + _num(size) + b" Tf"]
    for text, left, right in line_spans(line):
        ops.extend(_span_ops(text, left * scale_x, right * scale_x, baseline, size))
    return ops


def _span_ops(text: str, left: float, right: float, baseline: float, size: float) -> list[bytes]:
    natural = sum(char_width(c) for c in text) / UNITS_PER_EM * size
    if natural <= 0 or right <= left:
        return []
    stretch = 100 * (right - left) / natural
    return [
        _num(stretch) + b" Tz",
        b"1 0 0 1 " + _num(left) + b" " + _num(baseline) + b" Tm",
        b"<" + encode_text(text).hex().upper().encode() + b"> Tj",
    ]


def line_spans(line: OcrLine) -> list[tuple[str, float, float]]:
    """(text, left px, right px) pieces covering the line text, in order.

    Uses the word boxes when they rebuild exactly the line text left to right;
    otherwise the whole line is one span over the line box.
    """
    spans = _word_spans(line) if line.words else None
    return spans or [(line.text, float(line.box[0]), float(line.box[2]))]


def _word_spans(line: OcrLine) -> list[tuple[str, float, float]] | None:
    words = [w for w in line.words if w.text]
    lefts = [w.box[0] for w in words]
    if not words or lefts != sorted(lefts):
        return None  # not left-to-right (vertical text, odd engine): trust the line box only
    spans: list[tuple[str, float, float]] = []
    for word, following in zip(words, words[1:] + [None]):
        spans.extend(_spans_after(word.text, word.box, following))
    if "".join(text for text, _, _ in spans) != line.text:
        return None
    return spans


def _spans_after(text: str, box: tuple[int, int, int, int],
                 following: OcrWord | None) -> list[tuple[str, float, float]]:
    left, right = float(box[0]), float(box[2])
    if following is None:
        return [(text, left, right)]
    next_left = float(following.box[0])
    spaced = " " in remove_han_spaces(text[-1] + " " + following.text[0])
    if not spaced:
        # stretch to the next word so no gap can be read as a space
        return [(text, left, max(right, next_left) if next_left > left else right)]
    if next_left > right:
        return [(text, left, right), (" ", right, next_left)]
    return [(text + " ", left, right)]


def encode_text(text: str) -> bytes:
    """Identity-H codes: one big-endian 2-byte code per character, equal to its code point."""
    codes = [ord(c) if _encodable(c) else _REPLACEMENT for c in text]
    return struct.pack(f">{len(codes)}H", *codes)


def _encodable(char: str) -> bool:
    code = ord(char)
    return code <= 0xFFFF and not 0xD800 <= code <= 0xDFFF


def char_width(char: str) -> int:
    """Glyph advance in font units: East Asian wide/full-width characters get a full em."""
    if not _encodable(char):
        return FULL_WIDTH  # drawn as U+FFFD, but such characters are CJK extension ideographs
    return FULL_WIDTH if unicodedata.east_asian_width(char) in ("W", "F") else HALF_WIDTH


def _num(value: float) -> bytes:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return (text if text not in ("-0", "") else "0").encode()


def _matrix(values: tuple[float, ...]) -> bytes:
    return b" ".join(_num(v) for v in values)


# ---------------------------------------------------------------- reading a layer back

@dataclass(frozen=True)
class LayerLine:
    """One line of a hudang text layer as written by :func:`text_layer_stream`."""

    text: str
    box: tuple[float, float, float, float]  # displayed-page points, origin top-left
    first: int  # its instructions in the layer: [first, end)
    end: int


def layer_lines(instructions: list, geometry: PageGeometry) -> list[LayerLine]:
    """The lines of a layer's parsed instructions (``pikepdf.parse_content_stream``), each
    with the box it spans: read back from its font size (``Tf``), stretch (``Tz``), start
    (``Tm``) and characters (``Tj``), the inverse of :func:`_line_ops`."""
    _, display_h = _display_size(geometry)
    found: list[LayerLine] = []
    current: dict | None = None

    def close(end: int) -> None:
        if current is not None and current["text"]:
            bottom = display_h - current["baseline"] + DESCENT / UNITS_PER_EM * -current["size"]
            found.append(LayerLine(current["text"], (current["left"], bottom - current["size"],
                                                     current["right"], bottom),
                                   current["first"], end))

    size = stretch = 100.0
    left = baseline = 0.0
    for n, (operands, operator) in enumerate(instructions):
        op = str(operator)
        if op == "Tf":
            close(n)
            size = float(operands[1])
            current = {"text": "", "size": size, "first": n, "left": None, "right": 0.0,
                       "baseline": 0.0}
        elif op == "Tz":
            stretch = float(operands[0])
        elif op == "Tm":
            left, baseline = float(operands[4]), float(operands[5])
        elif op == "Tj" and current is not None:
            codes = bytes(operands[0])
            text = "".join(chr(int.from_bytes(codes[k:k + 2], "big"))
                           for k in range(0, len(codes), 2))
            natural = sum(char_width(c) for c in text) / UNITS_PER_EM * size
            current["text"] += text
            current["left"] = left if current["left"] is None else current["left"]
            current["right"] = max(current["right"], left + natural * stretch / 100)
            current["baseline"] = baseline
        elif op == "ET":
            close(n)
            current = None
    return found


def rewrite_lines(instructions: list, geometry: PageGeometry,
                  lines: list[LayerLine], texts: dict[int, str]) -> bytes:
    """The layer again with line ``i`` of ``lines`` (:func:`layer_lines`) saying ``texts[i]``
    over the same box; every other line keeps its instructions (and word boxes) as they
    were. An empty text takes the line out."""
    _, display_h = _display_size(geometry)
    by_start = {lines[i].first: i for i in texts}
    out: list[bytes] = []
    n = 0
    while n < len(instructions):
        if n in by_start:
            i = by_start[n]
            line = OcrLine(texts[i], lines[i].box, 100.0)
            out.extend(_line_ops(line, 1.0, 1.0, display_h))
            n = lines[i].end
            continue
        out.append(pikepdf.unparse_content_stream([instructions[n]]))
        n += 1
    return b"\n".join(out) + b"\n"


# ---------------------------------------------------------------- font objects

def glyphless_font(pdf: pikepdf.Pdf) -> pikepdf.Dictionary:
    """The Type0 font (indirect object) to register as /HdGlyphless on every page."""
    descriptor = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.FontDescriptor,
        FontName=pikepdf.Name("/" + FONT_NAME),
        Flags=4,  # symbolic: the glyphs are not in a standard character set
        FontBBox=[0, DESCENT, FULL_WIDTH, ASCENT],
        ItalicAngle=0, Ascent=ASCENT, Descent=DESCENT, CapHeight=ASCENT, StemV=80,
        FontFile2=_flate_stream(pdf, truetype_program(), Length1=len(truetype_program())),
    ))
    cid_font = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Font,
        Subtype=pikepdf.Name.CIDFontType2,
        BaseFont=pikepdf.Name("/" + FONT_NAME),
        CIDSystemInfo=pikepdf.Dictionary(Registry=pikepdf.String("Adobe"),
                                         Ordering=pikepdf.String("Identity"), Supplement=0),
        FontDescriptor=descriptor,
        DW=FULL_WIDTH,
        W=pikepdf.Array(_width_array()),
        CIDToGIDMap=_flate_stream(pdf, cid_to_gid_map()),
    ))
    return pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Font,
        Subtype=pikepdf.Name.Type0,
        BaseFont=pikepdf.Name("/" + FONT_NAME),
        Encoding=pikepdf.Name("/Identity-H"),
        DescendantFonts=[cid_font],
        ToUnicode=_flate_stream(pdf, to_unicode_cmap()),
    ))


def _flate_stream(pdf: pikepdf.Pdf, data: bytes, **extra: int) -> pikepdf.Stream:
    stream = pikepdf.Stream(pdf, zlib.compress(data, 9))
    stream.Filter = pikepdf.Name.FlateDecode
    for key, value in extra.items():
        stream[pikepdf.Name("/" + key)] = value
    return stream


@lru_cache(maxsize=1)
def _half_width_runs() -> tuple[tuple[int, int], ...]:
    """Inclusive CID ranges whose glyph is the half-width one."""
    runs: list[tuple[int, int]] = []
    start = None
    for code in range(0x10000 + 1):
        half = code <= 0xFFFF and _encodable(chr(code)) and char_width(chr(code)) == HALF_WIDTH
        if half and start is None:
            start = code
        elif not half and start is not None:
            runs.append((start, code - 1))
            start = None
    return tuple(runs)


def _width_array() -> list[int]:
    # W entries "first last width"; everything else falls back to DW (full width)
    return [value for first, last in _half_width_runs() for value in (first, last, HALF_WIDTH)]


@lru_cache(maxsize=1)
def cid_to_gid_map() -> bytes:
    """2 bytes per CID 0..65535: glyph 1 (full width) or glyph 2 (half width)."""
    gids = bytearray(b"\x00\x01" * 0x10000)
    for first, last in _half_width_runs():
        gids[2 * first:2 * (last + 1)] = b"\x00\x02" * (last - first + 1)
    return bytes(gids)


@lru_cache(maxsize=1)
def to_unicode_cmap() -> bytes:
    """CMap mapping every 2-byte code to the same UTF-16 code point (surrogates excluded)."""
    # a bfrange may only vary in its last byte, so one range per high byte
    ranges = [f"<{hi:02X}00> <{hi:02X}FF> <{hi:02X}00>" for hi in range(256) if not 0xD8 <= hi <= 0xDF]
    blocks = []
    for i in range(0, len(ranges), 100):  # CMap blocks hold at most 100 entries
        chunk = ranges[i:i + 100]
        blocks.append(f"{len(chunk)} beginbfrange\n" + "\n".join(chunk) + "\nendbfrange")
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "\n".join(blocks)
        + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    ).encode("ascii")


# ---------------------------------------------------------------- TrueType program

@lru_cache(maxsize=1)
def truetype_program() -> bytes:
    """A minimal valid TrueType font: .notdef plus a full- and a half-width blank glyph."""
    advances = (FULL_WIDTH, FULL_WIDTH, HALF_WIDTH)
    glyphs = [_diagonal_glyph(width) for width in advances]
    glyf = b"".join(glyphs)
    offsets = [0]
    for glyph in glyphs:
        offsets.append(offsets[-1] + len(glyph))
    tables = {
        b"OS/2": _os2_table(),
        b"cmap": _cmap_table(),
        b"glyf": glyf,
        b"head": _head_table(),
        b"hhea": _hhea_table(len(advances)),
        b"hmtx": b"".join(struct.pack(">Hh", width, 0) for width in advances),
        b"loca": struct.pack(f">{len(offsets)}H", *(o // 2 for o in offsets)),
        b"maxp": struct.pack(">IHHHHHHHHHHHHHH", 0x00010000, len(advances), 2, 1,
                             0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0),
        b"name": _name_table(),
        b"post": struct.pack(">IihhIIIII", 0x00030000, 0, -100, 50, 0, 0, 0, 0, 0),
    }
    return _sfnt(tables)


def _diagonal_glyph(width: int) -> bytes:
    # one contour of two on-curve points: zero area, so it can never paint,
    # but its bounding box is the whole character cell
    header = struct.pack(">hhhhh", 1, 0, DESCENT, width, ASCENT)
    contour = struct.pack(">HH", 1, 0)  # last point index 1, no instructions
    flags = bytes([0x01, 0x01])  # on-curve, 2-byte coordinate deltas
    coords = struct.pack(">hhhh", 0, width, DESCENT, ASCENT - DESCENT)
    return header + contour + flags + coords


def _head_table() -> bytes:
    return struct.pack(
        ">IIIIHHqqhhhhHHhhh",
        0x00010000, 0x00010000, 0, 0x5F0F3CF5,
        0x000B, UNITS_PER_EM, 0, 0,  # flags: baseline at y=0, lsb at x=0, integer ppem
        0, DESCENT, FULL_WIDTH, ASCENT,
        0, 8, 2, 0, 0,  # macStyle, lowestRecPPEM, direction hint, short loca, glyph format
    )


def _hhea_table(count: int) -> bytes:
    return struct.pack(">IhhhHhhhhhhhhhhhH", 0x00010000, ASCENT, DESCENT, 0, FULL_WIDTH,
                       0, 0, FULL_WIDTH, 1, 0, 0, 0, 0, 0, 0, 0, count)


def _os2_table() -> bytes:
    return struct.pack(
        ">HhHHHhhhhhhhhhhh10s4I4sHHHhhhHH2IhhHHH",
        4, 750, 400, 5, 0,  # version, avg width, weight, width class, installable embedding
        650, 600, 0, 75, 650, 600, 0, 350, 50, 300, 0,
        bytes(10), 0, 0, 0, 0, b"NONE",
        0x0040, 0x0020, 0xFFFF,  # regular, first/last char index
        ASCENT, DESCENT, 0, ASCENT, -DESCENT,
        1, 0, 500, ASCENT, 0, 0x0020, 0,
    )


def _cmap_table() -> bytes:
    # the font is used through CIDToGIDMap, so the cmap only has to be valid:
    # a format 4 subtable with nothing but the mandatory final 0xFFFF segment
    subtable = struct.pack(">HHHHHHHHHHHH", 4, 24, 0, 2, 2, 0, 0, 0xFFFF, 0, 0xFFFF, 1, 0)
    return struct.pack(">HHHHI", 0, 1, 3, 1, 12) + subtable


def _name_table() -> bytes:
    names = {1: FONT_NAME, 2: "Regular", 3: "hudang:" + FONT_NAME, 4: FONT_NAME,
             5: "Version 1.000", 6: FONT_NAME}
    records, storage = b"", b""
    for name_id, value in names.items():
        data = value.encode("utf-16-be")
        records += struct.pack(">HHHHHH", 3, 1, 0x0409, name_id, len(data), len(storage))
        storage += data
    return struct.pack(">HHH", 0, len(names), 6 + len(records)) + records + storage


def _checksum(data: bytes) -> int:
    padded = data + b"\0" * (-len(data) % 4)
    return sum(struct.unpack(f">{len(padded) // 4}I", padded)) & 0xFFFFFFFF


def _sfnt(tables: dict[bytes, bytes]) -> bytes:
    tags = sorted(tables)
    count = len(tags)
    power = 1 << (count.bit_length() - 1)
    header = struct.pack(">IHHHH", 0x00010000, count, power * 16, power.bit_length() - 1,
                         count * 16 - power * 16)
    offset = len(header) + 16 * count
    directory, body = b"", b""
    for tag in tags:
        data = tables[tag]
        directory += struct.pack(">4sIII", tag, _checksum(data), offset + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    font = bytearray(header + directory + body)
    # head.checkSumAdjustment makes the whole file sum to the magic constant
    head_at = offset + sum(len(tables[t]) + (-len(tables[t]) % 4) for t in tags[:tags.index(b"head")])
    struct.pack_into(">I", font, head_at + 8, (0xB1B0AFBA - _checksum(bytes(font))) & 0xFFFFFFFF)
    return bytes(font)
