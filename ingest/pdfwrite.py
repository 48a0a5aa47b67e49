"""Writing PDFs: the one way hudang puts a picture, a font or a text layer on a page.

Used by the base PDF of a scan (``ingest.sources``), the archival PDF
(``ingest.assemble``), re-OCR (``ingest.reocr``), the redacted download
(``ingest.redaction``) and the watermark (``ingest.watermark``).
"""
from __future__ import annotations

import io
import zlib
from pathlib import Path

import pikepdf
from PIL import Image
from pikepdf import Dictionary, Name

from ingest.textlayer import FONT_RESOURCE

_PNG_COLOUR_TYPES = {"L": 0, "RGB": 2}


def image_xobject(pdf: pikepdf.Pdf, *, pixels: Image.Image | None = None,
                  jpeg: bytes | None = None, png: Path | None = None,
                  size: tuple[int, int] | None = None, grey: bool = False,
                  jpeg_quality: int | None = None) -> pikepdf.Stream:
    """An image XObject for ``pdf``, in the first of these forms that applies:

    - ``jpeg``: these JPEG bytes as they are (``size`` and ``grey`` describe them);
    - ``png`` (with ``pixels``, the same picture decoded): the PNG's own compressed
      rows, when they hold ``pixels`` unchanged (see :func:`_png_rows`);
    - ``jpeg_quality``: ``pixels`` encoded as JPEG at that quality (a photograph);
    - otherwise ``pixels`` losslessly (Flate), 1-bit for a mode-1 image; an RGBA
      picture keeps its alpha as a soft mask (``/SMask``).
    """
    if jpeg is not None:
        if size is None:
            raise ValueError("a JPEG XObject needs its pixel size")
        return _stream(pdf, jpeg, size, Name.DeviceGray if grey else Name.DeviceRGB, 8,
                       Name.DCTDecode)
    if pixels is None:
        raise ValueError("give the picture's pixels, or its JPEG bytes")
    if png is not None:
        rows = _png_rows(png, pixels)
        if rows is not None:
            colours = 3 if pixels.mode == "RGB" else 1
            stream = _stream(pdf, rows, pixels.size,
                             Name.DeviceRGB if colours == 3 else Name.DeviceGray, 8,
                             Name.FlateDecode)
            stream.DecodeParms = Dictionary(Predictor=15, Colors=colours, BitsPerComponent=8,
                                            Columns=pixels.width)
            return stream
    if jpeg_quality is not None:
        is_grey = pixels.mode in ("1", "L", "LA")
        buf = io.BytesIO()
        pixels.convert("L" if is_grey else "RGB").save(buf, format="JPEG", quality=jpeg_quality)
        return _stream(pdf, buf.getvalue(), pixels.size,
                       Name.DeviceGray if is_grey else Name.DeviceRGB, 8, Name.DCTDecode)
    if pixels.mode == "RGBA":
        stream = _stream(pdf, zlib.compress(pixels.convert("RGB").tobytes()), pixels.size,
                         Name.DeviceRGB, 8, Name.FlateDecode)
        stream.SMask = _stream(pdf, zlib.compress(pixels.getchannel("A").tobytes()),
                               pixels.size, Name.DeviceGray, 8, Name.FlateDecode)
        return stream
    # Pillow's mode-1 bytes (1 = white, rows padded to a byte) match PDF's 1-bit grey
    bits = 1 if pixels.mode == "1" else 8
    colour = Name.DeviceRGB if pixels.mode == "RGB" else Name.DeviceGray
    return _stream(pdf, zlib.compress(pixels.tobytes(), 6), pixels.size, colour, bits,
                   Name.FlateDecode)


def _stream(pdf: pikepdf.Pdf, data: bytes, size: tuple[int, int], colour: Name, bits: int,
            filter_: Name) -> pikepdf.Stream:
    return pdf.make_indirect(pikepdf.Stream(
        pdf, data, Type=Name.XObject, Subtype=Name.Image, Width=size[0], Height=size[1],
        ColorSpace=colour, BitsPerComponent=bits, Filter=filter_))


def _png_rows(png: Path, pixels: Image.Image) -> bytes | None:
    """The PNG's compressed rows, when PDF can use them as they are; else None.

    A PNG's IDAT data is a zlib stream of rows, each led by its PNG filter byte,
    which is exactly what FlateDecode with ``/Predictor 15`` decodes (as img2pdf
    does): the lossless image is compressed once, with PNG's row filters, instead
    of a second time by zlib alone. Only when the PNG holds ``pixels`` unchanged:
    same size, 8 bits, grey or RGB, not interlaced.
    """
    if pixels.mode not in _PNG_COLOUR_TYPES:
        return None
    data = png.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    pos, idat, header = 8, [], None
    while pos + 8 <= len(data):
        length, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None or not idat:
        return None
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour, interlace = header[8], header[9], header[12]
    if ((width, height) != pixels.size or depth != 8 or interlace != 0
            or colour != _PNG_COLOUR_TYPES[pixels.mode]):
        return None
    return b"".join(idat)


# -- fonts and the invisible text layer ------------------------------------------------
def add_font(page: pikepdf.Page, font: pikepdf.Object) -> None:
    """Make ``font`` the page's text-layer font (``FONT_RESOURCE``)."""
    resources = page.obj.get("/Resources")
    if resources is None:
        page.obj.Resources = resources = Dictionary()
    fonts = resources.get("/Font")
    if fonts is None:
        resources.Font = fonts = Dictionary()
    fonts[FONT_RESOURCE] = font


_LAYER_START = b"\nQ\nq\n"  # put_text_layer adds the layer as "\nQ\n" + the layer


def put_text_layer(pdf: pikepdf.Pdf, page: pikepdf.Page, layer: bytes) -> None:
    """Give ``page`` the invisible text ``layer`` (a content stream), replacing its old one.

    The page's own content is wrapped in ``q``/``Q`` so that a leaked CTM or text
    state cannot move the layer; the layer is the page's last content stream,
    which is how :func:`layer_stream` finds it again.
    """
    stream = layer_stream(page)
    if stream is not None:
        stream.write(b"\nQ\n" + layer)
        return
    page.contents_add(pikepdf.Stream(pdf, b"q\n"), prepend=True)
    page.contents_add(pikepdf.Stream(pdf, b"\nQ\n" + layer))


def layer_stream(page: pikepdf.Page) -> pikepdf.Stream | None:
    """The page's hudang text-layer content stream, or None when it has none."""
    contents = page.obj.get("/Contents")
    if not isinstance(contents, pikepdf.Array) or len(contents) < 2:
        return None
    last = contents[-1]
    data = last.read_bytes()
    if data.startswith(_LAYER_START) and FONT_RESOURCE.encode() in data:
        return last
    if data == b"\nQ\n":  # a layer replaced by an empty one earlier
        return last
    return None


def to_bytes(pdf: pikepdf.Pdf) -> bytes:
    """``pdf`` saved compactly (object streams, compressed streams), in memory."""
    out = io.BytesIO()
    pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate, compress_streams=True)
    return out.getvalue()
