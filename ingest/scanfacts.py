"""What a scan says about itself: the device and program in its own tags, and each page
image's colour mode and bits per pixel (DA/T 31-2017 process metadata, kept per batch and
page by ``ingest.scanquality``). Read in ``ingest.sources``' bounded child process, while the
file is parsed anyway; a damaged tag is left out, never a reason to refuse the file.
"""
from __future__ import annotations

import struct

import pikepdf
from PIL import Image
from pikepdf import Array, Dictionary, Name


def int_or_zero(value: object) -> int:
    try:
        return max(0, int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def filter_names(stream: pikepdf.Stream) -> list[str]:
    filters = stream.get("/Filter")
    if isinstance(filters, Array):
        return [str(f) for f in filters]
    return [str(filters)] if filters is not None else []


# TIFF/EXIF tags naming the device and program (the same numbers in both)
SCANNER_TAGS = {271: "make", 272: "model", 305: "software"}
# how a Pillow mode is said in DA/T 31-2017's words, and its bits per pixel
COLOUR = {"1": "bitonal", "L": "greyscale", "LA": "greyscale", "I": "greyscale",
           "I;16": "greyscale", "I;16L": "greyscale", "I;16B": "greyscale", "F": "greyscale"}
BITS = {"1": 1, "L": 8, "P": 8, "LA": 16, "I;16": 16, "I;16L": 16, "I;16B": 16, "I": 32,
         "F": 32, "RGB": 24, "YCbCr": 24, "LAB": 24, "RGBA": 32, "CMYK": 32}


def _tag_text(value: object) -> str | None:
    """A tag's value as one short printable line, or None."""
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    if not isinstance(value, str):
        return None
    text = "".join(ch for ch in value if ch.isprintable()).strip(" \x00")
    return text[:100] or None


def image_scanner(im: Image.Image, kind: str, scanner: dict[str, str]) -> None:
    try:
        tags = im.tag_v2 if kind == "tiff" else im.getexif()  # type: ignore[attr-defined]
        for number, key in SCANNER_TAGS.items():
            text = _tag_text(tags.get(number))
            if text and key not in scanner:
                scanner[key] = text
    except (TypeError, ValueError, SyntaxError, OSError, struct.error, AttributeError):
        pass  # tags are process metadata: a damaged one is left out, never a refusal


def pdf_scanner(src: pikepdf.Pdf, scanner: dict[str, str]) -> None:
    """A PDF names the program that made it (Producer) and the one it came from (Creator)."""
    try:
        info = src.docinfo
        software = [t for t in (_tag_text(str(info[k])) for k in ("/Producer", "/Creator")
                                if k in info) if t]
    except (pikepdf.PdfError, ValueError, TypeError):
        return
    if software:
        scanner["software"] = " / ".join(dict.fromkeys(software))[:100]


def image_facts(page: Dictionary) -> tuple[str | None, int | None]:
    """The colour mode and bits per pixel of the page's largest image (a scan's page is
    one image); (None, None) for a page without one."""
    resources = page.get("/Resources")
    xobjects = resources.get("/XObject") if isinstance(resources, Dictionary) else None
    best, facts = -1, (None, None)
    if not isinstance(xobjects, Dictionary):
        return facts
    for _, xobject in xobjects.items():
        if not isinstance(xobject, pikepdf.Stream) or xobject.get("/Subtype") != Name.Image:
            continue
        area = int_or_zero(xobject.get("/Width")) * int_or_zero(xobject.get("/Height"))
        if area > best:
            best, facts = area, _xobject_colour(xobject)
    return facts


def _xobject_colour(xobject: pikepdf.Stream) -> tuple[str | None, int | None]:
    bits = int_or_zero(xobject.get("/BitsPerComponent")) or 1
    if bool(xobject.get("/ImageMask", False)) or "/CCITTFaxDecode" in filter_names(xobject) \
            or "/JBIG2Decode" in filter_names(xobject):
        return "bitonal", 1
    space = xobject.get("/ColorSpace")
    if isinstance(space, Array) and len(space) and space[0] == Name.Indexed:
        return "colour", bits  # a palette: colour unless proven otherwise
    if isinstance(space, Array) and len(space) > 1 and space[0] == Name.ICCBased:
        try:
            components = int(space[1].get("/N", 3))
        except (TypeError, ValueError, AttributeError):
            components = 3
    else:
        components = {"/DeviceGray": 1, "/CalGray": 1, "/DeviceCMYK": 4}.get(str(space), 3)
    if components == 1:
        return ("bitonal" if bits == 1 else "greyscale"), bits
    return "colour", bits * components
