"""Normalise an uploaded scan into a sanitised base PDF plus one raster per page.

``normalize`` is the public entry: it sniffs the content, then does all parsing, decoding
and rendering in a sandboxed child process (see ingest/sandbox.py), which writes the
base PDF and the page rasters into the caller's work directory. The policy per kind of
input is documented in docs/ingest-inputs.md.
"""
from __future__ import annotations

import math
import os
import secrets
import shutil
import struct
import unicodedata
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageFile, UnidentifiedImageError
from pikepdf import Array, Dictionary, Name

from ingest.exceptions import (IngestError, PasswordProtected, ResourceLimit, UnreadableInput,
                               is_no_space)
from ingest.pdfwrite import image_xobject
from ingest.sandbox import run_limited
from ingest.scanfacts import (BITS, COLOUR, filter_names, image_facts, image_scanner,
                              int_or_zero, pdf_scanner)
from ingest.sniff import sniff


@dataclass
class SourcePage:
    number: int  # 1-based, input order
    raster: Path  # PNG: the page as a viewer displays it, RGB or L, square pixels
    dpi: float  # raster resolution (pixels per inch of the displayed page)
    box: tuple[float, float, float, float]  # MediaBox of the base_pdf page; the raster covers exactly it
    rotate: int  # /Rotate of the base_pdf page: 0, 90, 180 or 270 (the raster is already turned)
    existing_text: str | None  # text of an existing text layer; None if the page needs OCR
    blank: bool  # the page has no content at all (kept, but marked)
    # as scanned (ingest.scanfacts): the resolution the file states (None: not stated, or
    # no image), colour mode (bitonal / greyscale / colour) and bits per pixel
    scan_dpi: float | None = None
    colour: str | None = None
    bit_depth: int | None = None


@dataclass
class NormalizedSource:
    path: Path  # the original input
    kind: str  # 'pdf' | 'tiff' | 'jpeg' | 'png'
    base_pdf: Path  # one page per input page, holding the original page images, sanitised
    pages: list[SourcePage]
    warnings: list[str] = field(default_factory=list)  # human sentences
    # the device and program that made the file, from its own tags where present: TIFF/EXIF
    # Make, Model, Software; a PDF's Producer and Creator (keys make, model, software)
    scanner: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    seconds: float = 120.0  # wall clock for the child process
    memory_bytes: int = 3 * 1024**3  # RLIMIT_AS of the child
    max_pixels_per_page: int = 60_000_000  # larger rasters are downscaled (or the source refused)
    max_pages: int = 2000
    raster_dpi: int = 300  # target raster resolution (lower for huge pages so max_pixels holds)


# An image XObject may be bigger than the page raster (it is downsampled while rendering),
# but a declared size beyond this multiple of the raster cap is treated as a bomb.
IMAGE_PIXELS_FACTOR = 4
# Image resolutions outside this range are metadata errors, not real scans.
PLAUSIBLE_DPI = (50.0, 2400.0)
ASSUMED_DPI = 300.0
# When the dpi is assumed, keep the page at most this long (a poster, not metres wide).
MAX_ASSUMED_INCHES = 40.0
# The raster of an image page is also where its lossless archival image comes
# from (its PNG data goes into the base PDF as is, see ingest.pdfwrite.image_xobject), so level 3:
# a 300 dpi A4 scan encodes in 0.37 s to 2.6 MB, against 0.27 s / 3.1 MB at
# level 1 plus 0.52 s / 2.8 MB for a separate zlib pass at level 6 before.
PNG_COMPRESS_LEVEL = 3
# Small originals scanned at very high resolution (microfilm-like, 2400 dpi) would lose
# their text at raster_dpi; they are rasterised finer, up to this many pixels on the
# long side (a US Letter page at 300 dpi).
DETAIL_LONG_SIDE_PX = 3300

LETTER = (0.0, 0.0, 612.0, 792.0)
_IMAGE_FILTERS = {"/DCTDecode", "/JPXDecode", "/JBIG2Decode", "/CCITTFaxDecode"}
_DROP_PAGE_KEYS = ("/Annots", "/AA", "/CropBox", "/TrimBox", "/ArtBox", "/BleedBox", "/Thumb", "/B")
_PILLOW_FORMATS = {"jpeg": "JPEG", "png": "PNG", "tiff": "TIFF"}
PASSWORD_REASON = "the PDF is password-protected; remove the password and try again"


# --- public entry (parent process) --------------------------------------------------


def normalize(path: Path, workdir: Path, limits: Limits = Limits()) -> NormalizedSource:
    """Turn one uploaded file into a sanitised base PDF and page rasters in ``workdir``.

    Raises an IngestError subclass when the file cannot be ingested; ``workdir`` is then
    left as it was found.
    """
    path, workdir = Path(path), Path(workdir)
    kind = sniff(path)
    before = set(os.listdir(workdir))
    try:
        return run_limited(
            _normalize_in_child,
            (path, kind, workdir, limits),
            path=path,
            seconds=limits.seconds,
            memory_bytes=limits.memory_bytes,
        )
    except BaseException:
        _remove_new_entries(workdir, before)
        raise


def _remove_new_entries(workdir: Path, before: set[str]) -> None:
    for name in set(os.listdir(workdir)) - before:
        target = workdir / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)


# --- child process ------------------------------------------------------------------


def _normalize_in_child(path: Path, kind: str, workdir: Path, limits: Limits) -> NormalizedSource:
    # A random stem: the work directory may already hold another document's files.
    stem = f"src-{secrets.token_hex(4)}"
    base_pdf = workdir / f"{stem}.pdf"
    scanner: dict[str, str] = {}
    if kind == "pdf":
        pages, notes = _normalize_pdf(path, base_pdf, workdir, stem, limits, scanner)
    else:
        pages, notes = _normalize_image(path, kind, base_pdf, workdir, stem, limits, scanner)
    return NormalizedSource(path=path, kind=kind, base_pdf=base_pdf, pages=pages, warnings=notes,
                            scanner=scanner)


def _raster_path(workdir: Path, stem: str, number: int) -> Path:
    return workdir / f"{stem}-p{number:04d}.png"


def _save_png(img: Image.Image, dest: Path, dpi: float) -> None:
    # The dpi chunk lets Tesseract size its models without being told.
    img.save(dest, format="PNG", compress_level=PNG_COMPRESS_LEVEL, dpi=(dpi, dpi))


def _cap_scale(width: float, height: float, max_pixels: int) -> float:
    """Factor (<= 1) that brings a width x height raster within max_pixels."""
    area = width * height
    if area <= max_pixels or area <= 0:
        return 1.0
    return math.sqrt(max_pixels / area)


def _raster_dpi(native_dpi: float, long_side_inches: float, limits: Limits) -> float:
    """Resolution to rasterise at, before the pixel cap: raster_dpi, or finer when the
    original has more detail and the page is small."""
    dpi = float(limits.raster_dpi)
    if native_dpi > dpi and long_side_inches > 0:
        dpi = min(native_dpi, max(dpi, DETAIL_LONG_SIDE_PX / long_side_inches))
    return dpi


def _clean_message(text: str, path: Path, limit: int = 140) -> str:
    """A decoder's message made fit for a user-facing sentence (one line, no file path)."""
    for prefix in (str(path), path.name, "empty PDF"):
        text = text.replace(prefix, "")
    text = " ".join(text.split()).strip(" :,")
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- images (TIFF, JPEG, PNG) -------------------------------------------------------

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Orientations a PDF viewer can reproduce with /Rotate alone (no mirroring).
_ROTATE_FOR_ORIENTATION = {1: 0, 3: 180, 6: 90, 8: 270}


@dataclass
class _PageImage:
    """One decoded frame, with what the base PDF and the raster need."""

    upright: Image.Image  # orientation applied, mode 1, L or RGB
    dpi: tuple[float, float]  # of the upright image
    stored_size: tuple[int, int]  # pixels as stored in the file (before orientation)
    stored_dpi: tuple[float, float]
    orientation: int
    source_mode: str  # decoded mode before conversion (decides JPEG pass-through)
    declared: bool = True  # the file states the resolution (else it was assumed)


def _normalize_image(
    path: Path, kind: str, base_pdf: Path, workdir: Path, stem: str, limits: Limits,
    scanner: dict[str, str],
) -> tuple[list[SourcePage], list[str]]:
    _configure_pillow(limits)
    notes: list[str] = []
    pdf = pikepdf.Pdf.new()
    pages: list[SourcePage] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # After "always", so it takes precedence: a bomb must stop decoding, not warn.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with _image_errors(path, limits), Image.open(path, formats=[_PILLOW_FORMATS[kind]]) as im:
            for number in _frame_numbers(im, kind, path, limits.max_pages):
                frame = _decode_frame(im, kind, path, number, limits, notes)
                if number == 1:
                    image_scanner(im, kind, scanner)
                raster = _raster_path(workdir, stem, number)
                dpi = _write_image_raster(frame, limits, raster)
                box, rotate = _add_image_page(pdf, frame, kind, path, raster)
                pages.append(SourcePage(
                    number, raster, dpi, box, rotate, None, False,
                    scan_dpi=min(frame.stored_dpi) if frame.declared else None,
                    colour=COLOUR.get(frame.upright.mode, "colour"),
                    bit_depth=BITS.get(frame.source_mode)))
    notes.extend(_pillow_notes(caught, path))
    pdf.save(base_pdf)
    return pages, notes


def _configure_pillow(limits: Limits) -> None:
    # Pillow warns above MAX_IMAGE_PIXELS (made an error by the caller) and refuses
    # above twice that; truncated files are refused rather than padded with grey.
    Image.MAX_IMAGE_PIXELS = limits.max_pixels_per_page
    ImageFile.LOAD_TRUNCATED_IMAGES = False


@contextmanager
def _image_errors(path: Path, limits: Limits) -> Iterator[None]:
    """Translate Pillow's many failure modes on hostile bytes into IngestErrors."""
    megapixels = f"{limits.max_pixels_per_page / 1e6:g}"
    try:
        yield
    except IngestError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ResourceLimit(path, f"the image is larger than the limit of {megapixels} megapixels per page") from None
    except UnidentifiedImageError:
        raise UnreadableInput(path, "the image file is damaged or uses a variant that cannot be read") from None
    except MemoryError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, TypeError, IndexError, KeyError) as exc:
        if is_no_space(exc):  # writing the raster, not reading the file, failed
            raise
        message = str(exc)
        if "too large" in message:  # e.g. a PNG text chunk that inflates without bound
            raise ResourceLimit(path, "a compressed part of the image expands beyond the allowed size") from None
        if "truncated" in message:
            raise UnreadableInput(path, "the image data is truncated") from None
        detail = _clean_message(message, path) or type(exc).__name__
        raise UnreadableInput(path, f"the image data is damaged ({detail})") from None


def _frame_numbers(im: Image.Image, kind: str, path: Path, max_pages: int) -> Iterator[int]:
    """1-based page numbers, seeking ``im`` to each frame; always terminates."""
    if kind != "tiff":
        yield 1  # a JPEG/PNG is one page (an MPO's extra pictures are previews/depth maps)
        return
    # Pillow detects IFD chains that loop back; the hard bound covers anything it misses.
    for index in range(max_pages + 1):
        try:
            im.seek(index)
        except EOFError:
            return
        if index == max_pages:
            raise ResourceLimit(path, f"the file has more than {max_pages} pages")
        yield index + 1


def _decode_frame(
    im: Image.Image, kind: str, path: Path, number: int, limits: Limits, notes: list[str]
) -> _PageImage:
    width, height = im.size
    if width * height > limits.max_pixels_per_page:
        # Pillow only checks the first frame of a TIFF.
        raise ResourceLimit(
            path, f"page {number} has {width} x {height} pixels, more than the limit of "
            f"{limits.max_pixels_per_page / 1e6:g} megapixels"
        )
    im.load()
    orientation = _orientation(im, kind)
    declared = _declared_dpi(im) is not None
    stored_dpi = _frame_dpi(im, number, notes)
    upright = im.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else im.copy()
    dpi = (stored_dpi[1], stored_dpi[0]) if orientation in (5, 6, 7, 8) else stored_dpi
    return _PageImage(_to_pdf_mode(upright), dpi, (width, height), stored_dpi, orientation, im.mode,
                      declared)


def _orientation(im: Image.Image, kind: str) -> int:
    """EXIF/TIFF orientation still to apply (read after load: Pillow's libtiff path
    applies the TIFF tag itself while decoding and then removes it)."""
    try:
        if kind == "tiff":
            value = im.tag_v2.get(274, 1)  # type: ignore[attr-defined]
        else:
            value = im.getexif().get(274, 1)
        value = int(value)
    except (TypeError, ValueError, SyntaxError, OSError, struct.error):
        return 1
    return value if 1 <= value <= 8 else 1


def _frame_dpi(im: Image.Image, number: int, notes: list[str]) -> tuple[float, float]:
    declared = _declared_dpi(im)
    if declared is not None:
        return declared
    # No (or absurd) resolution: assume a typical scan, but never a page metres wide.
    longest = max(im.size)
    dpi = max(ASSUMED_DPI, longest / MAX_ASSUMED_INCHES)
    notes.append(f"page {number}: the file states no usable resolution; {dpi:g} dpi assumed")
    return (dpi, dpi)


def _declared_dpi(im: Image.Image) -> tuple[float, float] | None:
    value = im.info.get("dpi")
    try:
        x, y = float(value[0]), float(value[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError):
        return None
    low, high = PLAUSIBLE_DPI
    if not (low <= x <= high and low <= y <= high):
        return None
    return (x, y)


def _to_pdf_mode(im: Image.Image) -> Image.Image:
    """Bring any decoded mode to 1, L or RGB (alpha flattened onto white paper)."""
    mode = im.mode
    if mode in ("1", "L", "RGB") and "transparency" not in im.info:
        return im
    gray = mode in ("L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F") or (
        mode in ("P", "PA") and _palette_is_gray(im)
    )
    if mode in ("I", "I;16", "I;16L", "I;16B", "I;16N"):
        # 16-bit samples: keep the top 8 bits (a plain convert('L') would clip).
        return im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if mode == "F":
        return im.convert("L")
    has_alpha = "A" in mode or "a" in mode or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        paper = Image.new("RGB", im.size, (255, 255, 255))
        paper.paste(rgba, mask=rgba.getchannel("A"))
        return paper.convert("L") if gray else paper
    # CMYK (Pillow undoes Adobe's inverted CMYK while decoding), YCbCr, LAB, P, ...
    return im.convert("L" if gray else "RGB")


def _palette_is_gray(im: Image.Image) -> bool:
    palette = im.getpalette() or []
    return all(palette[i] == palette[i + 1] == palette[i + 2] for i in range(0, len(palette) - 2, 3))


def _write_image_raster(frame: _PageImage, limits: Limits, dest: Path) -> float:
    """Save the upright frame with square pixels, within the pixel cap; return its dpi.

    When nothing had to be resampled the PNG holds exactly the frame's pixels
    (``ingest.pdfwrite.image_xobject`` then reuses its compressed data for the base PDF).
    """
    img = frame.upright.convert("L") if frame.upright.mode == "1" else frame.upright
    xdpi, ydpi = frame.dpi
    width_in, height_in = img.width / xdpi, img.height / ydpi
    native = max(xdpi, ydpi)  # upsample the coarser axis of anisotropic (fax) images
    # Never invent pixels beyond the finer axis; above raster_dpi, downsample.
    target = native if native <= limits.raster_dpi else _raster_dpi(native, max(width_in, height_in), limits)
    target *= _cap_scale(width_in * target, height_in * target, limits.max_pixels_per_page)
    # The epsilon keeps 3312 px / 300 dpi * 300 dpi from flooring to 3311.
    size = (max(1, math.floor(width_in * target + 1e-6)), max(1, math.floor(height_in * target + 1e-6)))
    if size != img.size:
        img = img.resize(size, Image.Resampling.LANCZOS)
    _save_png(img, dest, target)
    return target


def _add_image_page(
    pdf: pikepdf.Pdf, frame: _PageImage, kind: str, path: Path, raster: Path | None = None
) -> tuple[tuple[float, float, float, float], int]:
    """Append a page showing the frame full-page; return its MediaBox and /Rotate."""
    # Plain 8-bit gray/RGB JPEGs keep their original bytes (no generation loss) and a
    # viewer turns them by /Rotate; CMYK would need an Adobe-specific /Decode that viewers
    # disagree on, and mirrored orientations cannot be expressed by /Rotate: re-encode.
    if kind == "jpeg" and frame.orientation in _ROTATE_FOR_ORIENTATION and frame.source_mode in ("L", "RGB"):
        xobject = image_xobject(pdf, jpeg=path.read_bytes(), size=frame.stored_size,
                                grey=frame.source_mode == "L")
        (w_px, h_px), (xdpi, ydpi) = frame.stored_size, frame.stored_dpi
        rotate = _ROTATE_FOR_ORIENTATION[frame.orientation]
    else:
        # a photo from a JPEG stays a JPEG: Flate of its pixels would be many times larger;
        # anything else is lossless, from the raster PNG's own data where it can be
        xobject = image_xobject(pdf, pixels=frame.upright,
                                png=raster if kind != "jpeg" else None,
                                jpeg_quality=90 if kind == "jpeg" else None)
        (w_px, h_px), (xdpi, ydpi) = frame.upright.size, frame.dpi
        rotate = 0
    width, height = round(w_px / xdpi * 72, 3), round(h_px / ydpi * 72, 3)
    content = pdf.make_stream(f"q {width:g} 0 0 {height:g} 0 0 cm /Im0 Do Q".encode())
    page = Dictionary(
        Type=Name.Page,
        MediaBox=Array([0, 0, width, height]),
        Resources=Dictionary(XObject=Dictionary(Im0=xobject)),
        Contents=content,
    )
    if rotate:
        page.Rotate = rotate
    pdf.pages.append(pikepdf.Page(pdf.make_indirect(page)))
    return (0.0, 0.0, float(width), float(height)), rotate


def _pillow_notes(caught: list[warnings.WarningMessage], path: Path) -> list[str]:
    notes: list[str] = []
    for item in caught:
        text = f"image metadata: {_clean_message(str(item.message), path)}"
        if text not in notes:
            notes.append(text)
    return notes[:5]


# --- PDF ----------------------------------------------------------------------------


@dataclass
class _PageGeometry:
    box: tuple[float, float, float, float]
    rotate: int

    @property
    def display_size(self) -> tuple[float, float]:
        width, height = self.box[2] - self.box[0], self.box[3] - self.box[1]
        return (height, width) if self.rotate in (90, 270) else (width, height)


def _normalize_pdf(
    path: Path, base_pdf: Path, workdir: Path, stem: str, limits: Limits,
    scanner: dict[str, str],
) -> tuple[list[SourcePage], list[str]]:
    notes: list[str] = []
    src = _open_pdf(path)
    with src:
        count = _page_count(src, path)
        if count == 0:
            raise UnreadableInput(path, "the PDF has no pages")
        if count > limits.max_pages:
            raise ResourceLimit(path, f"the PDF has {count} pages, more than the limit of {limits.max_pages}")
        _reject_dynamic_xfa(src, path, notes)
        notes.extend(_document_notes(src))
        notes.extend(_header_notes(path))
        pdf_scanner(src, scanner)
        geometry = _settle_inherited(src, path, notes)
        out = _sanitised_copy(src, geometry, path, notes)
        with out:
            notes.extend(_repair_notes(src.get_warnings(), path))
            _check_pages(out, path, limits, notes)
            native_dpis = [_image_dpi(page.obj, geom) for page, geom in zip(out.pages, geometry)]
            facts = [image_facts(page.obj) for page in out.pages]
            seen = len(out.get_warnings())
            try:
                out.save(base_pdf, compress_streams=True)
            except pikepdf.PdfError as exc:
                raise UnreadableInput(path, _pdf_damage_reason(str(exc), path)) from None
            notes.extend(_repair_notes(out.get_warnings()[seen:], path))
    pages = _render_pages(base_pdf, geometry, native_dpis, workdir, stem, path, limits)
    for page, native, (colour, bits) in zip(pages, native_dpis, facts):
        page.scan_dpi = round(native, 1) if native else None
        page.colour, page.bit_depth = colour, bits
    return pages, notes


def _open_pdf(path: Path) -> pikepdf.Pdf:
    try:
        # The empty password opens owner-only ("permissions") encryption; the copy we
        # write is unencrypted because storage encrypts at rest with its own keys.
        return pikepdf.open(path, password="")
    except pikepdf.PasswordError:
        raise PasswordProtected(path, PASSWORD_REASON) from None
    except pikepdf.PdfError as exc:
        raise UnreadableInput(path, _pdf_damage_reason(str(exc), path)) from None


def _pdf_damage_reason(message: str, path: Path) -> str:
    if "unable to find trailer" in message:
        return "it is not a readable PDF (no document structure found; the file may be truncated)"
    if "Loop detected" in message and "/Pages" in message:
        return "the PDF's page tree loops back on itself"
    if "too deeply nested" in message:
        return "the PDF's page tree is nested too deeply"
    if "no /Kids" in message:
        return "the PDF has no pages"
    if "/Encrypt" in message:
        return "the PDF's encryption dictionary is damaged"
    return f"the PDF is damaged beyond repair ({_clean_message(message, path)})"


def _page_count(src: pikepdf.Pdf, path: Path) -> int:
    try:
        return len(src.pages)
    except pikepdf.PdfError as exc:
        raise UnreadableInput(path, _pdf_damage_reason(str(exc), path)) from None


def _reject_dynamic_xfa(src: pikepdf.Pdf, path: Path, notes: list[str]) -> None:
    root = src.Root
    acroform = root.get("/AcroForm")
    has_xfa = bool(root.get("/NeedsRendering", False)) or (
        isinstance(acroform, Dictionary) and "/XFA" in acroform
    )
    if not has_xfa:
        return
    if all(_content_is_empty(page.obj) for page in src.pages):
        # The real form lives in XFA, which only Adobe renders: the pages are placeholders.
        raise UnreadableInput(path, "the PDF is a dynamic XFA form whose content cannot be read as pages")
    notes.append("the PDF contains an XFA form; only its static page content was kept")


def _content_streams(page: Dictionary) -> list[pikepdf.Stream]:
    contents = page.get("/Contents")
    if isinstance(contents, pikepdf.Stream):
        return [contents]
    if isinstance(contents, Array):
        return [item for item in contents if isinstance(item, pikepdf.Stream)]
    return []


def _content_is_empty(page: Dictionary) -> bool:
    try:
        return all(not stream.read_bytes().strip() for stream in _content_streams(page))
    except pikepdf.PdfError:
        return False  # damaged is not empty


def _document_notes(src: pikepdf.Pdf) -> list[str]:
    notes = []
    if src.is_encrypted:
        notes.append(
            "the PDF was encrypted with an empty user password; it was decrypted and its "
            "permission restrictions no longer apply"
        )
    acroform = src.Root.get("/AcroForm")
    if isinstance(acroform, Dictionary) and int(acroform.get("/SigFlags", 0) or 0) & 1:
        notes.append(
            "the PDF carries a digital signature, which the normalised copy cannot keep; "
            "keep the original file if the signature matters"
        )
    return notes


def _header_notes(path: Path) -> list[str]:
    with open(path, "rb") as f:
        offset = f.read(1024).find(b"%PDF-")
    if offset > 0:
        return [f"{offset} bytes before the PDF header were ignored"]
    return []


def _inherited(page: Dictionary, key: str) -> object | None:
    node: object = page
    for _ in range(64):  # pikepdf already refused deeper trees; this only bounds the walk
        if not isinstance(node, Dictionary):
            return None
        if key in node:
            return node[key]
        node = node.get("/Parent")
    return None


def _settle_inherited(src: pikepdf.Pdf, path: Path, notes: list[str]) -> list[_PageGeometry]:
    """Put inherited attributes on each page (the copy loses its parents) and return
    each page's normalised MediaBox and /Rotate."""
    geometry = []
    for number, page in enumerate(src.pages, 1):
        obj = page.obj
        box = _normalise_box(_inherited(obj, "/MediaBox"))
        if box is None:
            notes.append(f"page {number}: missing or invalid page size; US Letter assumed")
            box = LETTER
        rotate = _normalise_rotate(_inherited(obj, "/Rotate"), number, notes)
        resources = _inherited(obj, "/Resources")
        obj.Resources = resources if isinstance(resources, Dictionary) else Dictionary()
        geometry.append(_PageGeometry(box, rotate))
    return geometry


def _normalise_box(value: object) -> tuple[float, float, float, float] | None:
    try:
        x0, y0, x1, y1 = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return (x0, y0, x1, y1)


def _normalise_rotate(value: object, number: int, notes: list[str]) -> int:
    try:
        degrees = int(value) if value is not None else 0  # type: ignore[call-overload]
    except (TypeError, ValueError):
        degrees = 0
    if degrees % 90:
        notes.append(f"page {number}: invalid /Rotate {degrees} ignored")
        return 0
    return degrees % 360


def _sanitised_copy(src: pikepdf.Pdf, geometry: list[_PageGeometry], path: Path, notes: list[str]) -> pikepdf.Pdf:
    """A new PDF holding only the pages: no document actions, scripts, forms, outlines,
    attachments or encryption (none of them is copied because only pages are)."""
    if any("/Annots" in page.obj for page in src.pages):
        try:
            # Burn visible annotations (stamps, filled-in fields) into the page content
            # so that dropping /Annots below loses no visible information.
            src.flatten_annotations(mode="print")
            notes.append("annotations and form fields were flattened into the pages")
        except pikepdf.PdfError:
            notes.append("annotations and form fields could not be flattened and were removed")
    out = pikepdf.Pdf.new()
    try:
        with warnings.catch_warnings():
            # pikepdf warns that forms are not carried over: that is the point.
            warnings.simplefilter("ignore", pikepdf.PageCopyWarning)
            out.pages.extend(src.pages)
    except pikepdf.PdfError as exc:
        raise UnreadableInput(path, _pdf_damage_reason(str(exc), path)) from None
    for page, geom in zip(out.pages, geometry):
        obj = page.obj
        for key in _DROP_PAGE_KEYS:
            if key in obj:
                del obj[key]
        obj.MediaBox = Array(list(geom.box))
        if geom.rotate:
            obj.Rotate = geom.rotate
        elif "/Rotate" in obj:
            del obj["/Rotate"]
    return out


def _check_pages(out: pikepdf.Pdf, path: Path, limits: Limits, notes: list[str]) -> None:
    """Refuse bombs before pdfium decodes anything; note pages with damaged content."""
    max_image = IMAGE_PIXELS_FACTOR * limits.max_pixels_per_page
    for number, page in enumerate(out.pages, 1):
        for stream in _content_streams(page.obj):
            for name in filter_names(stream):
                if name in _IMAGE_FILTERS:
                    raise UnreadableInput(
                        path, f"page {number}'s content is encoded with the image codec {name[1:]}, which is not valid PDF"
                    )
        _check_images(page.obj.get("/Resources"), number, path, max_image, set(), 0)
        seen = len(out.get_warnings())
        try:
            pikepdf.parse_content_stream(page)
            damaged = len(out.get_warnings()) > seen
        except (pikepdf.PdfError, pikepdf.DependencyError):
            damaged = True
        if damaged:
            notes.append(f"page {number}: content stream damaged, rendered as far as possible")


def _image_dpi(page: Dictionary, geom: _PageGeometry) -> float:
    """Rough resolution of the page's images, assuming they fill the page (scans do)."""
    long_side_in = max(geom.display_size) / 72
    resources = page.get("/Resources")
    xobjects = resources.get("/XObject") if isinstance(resources, Dictionary) else None
    if not isinstance(xobjects, Dictionary) or long_side_in <= 0:
        return 0.0
    best = 0.0
    for _, xobject in xobjects.items():
        if isinstance(xobject, pikepdf.Stream) and xobject.get("/Subtype") == Name.Image:
            long_px = max(int_or_zero(xobject.get("/Width")), int_or_zero(xobject.get("/Height")))
            best = max(best, long_px / long_side_in)
    return best


def _check_images(resources: object, number: int, path: Path, max_image: int, seen: set, depth: int) -> None:
    if not isinstance(resources, Dictionary) or depth > 8:
        return
    xobjects = resources.get("/XObject")
    if not isinstance(xobjects, Dictionary):
        return
    for _, xobject in xobjects.items():
        if not isinstance(xobject, pikepdf.Stream) or xobject.objgen in seen:
            continue
        seen.add(xobject.objgen)
        subtype = xobject.get("/Subtype")
        if subtype == Name.Image:
            width, height = int_or_zero(xobject.get("/Width")), int_or_zero(xobject.get("/Height"))
            if width * height > max_image:
                raise ResourceLimit(
                    path, f"page {number} holds an image of {width} x {height} pixels, more than the "
                    f"limit of {max_image / 1e6:g} megapixels"
                )
        elif subtype == Name.Form:
            _check_images(xobject.get("/Resources"), number, path, max_image, seen, depth + 1)


def _repair_notes(messages: list[str], path: Path, limit: int = 5) -> list[str]:
    notes: list[str] = []
    for message in messages:
        text = f"the PDF was repaired: {_clean_message(message, path)}"
        if text not in notes:
            notes.append(text)
    if len(notes) > limit:
        notes = notes[:limit] + [f"the PDF was repaired: {len(notes) - limit} more problems"]
    return notes


def _render_pages(
    base_pdf: Path,
    geometry: list[_PageGeometry],
    native_dpis: list[float],
    workdir: Path,
    stem: str,
    path: Path,
    limits: Limits,
) -> list[SourcePage]:
    try:
        doc = pdfium.PdfDocument(str(base_pdf))
    except pdfium.PdfiumError as exc:
        raise UnreadableInput(path, f"the repaired PDF cannot be rendered ({exc})") from None
    try:
        if len(doc) != len(geometry):
            raise UnreadableInput(path, "the repaired PDF lost pages while rendering")
        return [
            _render_page(doc, index, geom, native, _raster_path(workdir, stem, index + 1), limits)
            for index, (geom, native) in enumerate(zip(geometry, native_dpis))
        ]
    finally:
        doc.close()


def _render_page(
    doc: pdfium.PdfDocument, index: int, geom: _PageGeometry, native_dpi: float, dest: Path, limits: Limits
) -> SourcePage:
    page = doc[index]
    try:
        scale = _render_scale(geom.display_size, native_dpi, limits)
        # pdfium applies /Rotate and renders the CropBox, which is the MediaBox here.
        bitmap = page.render(scale=scale, may_draw_forms=False)
        _save_png(bitmap.to_pil(), dest, scale * 72)
        text = _page_text(page)
        blank = pdfium_c.FPDFPage_CountObjects(page.raw) == 0
    finally:
        page.close()
    return SourcePage(index + 1, dest, scale * 72, geom.box, geom.rotate, text, blank)


def _render_scale(size: tuple[float, float], native_dpi: float, limits: Limits) -> float:
    width, height = size
    dpi = _raster_dpi(native_dpi, max(width, height) / 72, limits)
    # The epsilon keeps pypdfium2's ceil() from adding a pixel to exact sizes (612 pt -> 2550 px).
    scale = dpi / 72 * (1 - 1e-9)
    scale *= _cap_scale(width * scale, height * scale, limits.max_pixels_per_page)
    while math.ceil(width * scale) * math.ceil(height * scale) > limits.max_pixels_per_page:
        scale *= 0.999
    return scale


def _page_text(page: pdfium.PdfPage) -> str | None:
    """The page's existing text layer (born-digital or earlier OCR), or None."""
    textpage = page.get_textpage()
    try:
        raw = textpage.get_text_bounded()
    finally:
        textpage.close()
    return normalise_text(raw)


def normalise_text(raw: str) -> str | None:
    """Collapse runs of blanks, drop control characters and empty lines; None if empty."""
    chars = []
    for ch in raw:
        if ch in "\r\n":
            chars.append("\n")
        elif ch.isspace():
            chars.append(" ")
        elif ch not in "\ufffe\ufffd" and unicodedata.category(ch) not in ("Cc", "Cs", "Co"):
            chars.append(ch)
    lines = (" ".join(line.split()) for line in "".join(chars).split("\n"))
    text = "\n".join(line for line in lines if line)
    return text or None
