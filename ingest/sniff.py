"""Content sniffing: decide what a file is from its bytes, never from its name."""
from __future__ import annotations

from pathlib import Path

from ingest.exceptions import UnreadableInput, UnsupportedFormat

HEAD_BYTES = 1024  # Acrobat accepts '%PDF-' anywhere in the first 1024 bytes

ACCEPTED = "a PDF, TIFF, JPEG or PNG file"

_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


def sniff(path: Path) -> str:
    """Return 'pdf', 'tiff', 'jpeg' or 'png', or raise UnsupportedFormat."""
    head = _read_head(path)
    kind = kind_of(head)
    if kind is not None:
        return kind
    if not head:
        raise UnsupportedFormat(path, "the file is empty")
    what = describe(head)
    if what is None:
        raise UnsupportedFormat(path, f"it is not {ACCEPTED}")
    raise UnsupportedFormat(path, f"it is {what}, not {ACCEPTED}")


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(HEAD_BYTES)
    except OSError as exc:
        raise UnreadableInput(path, f"the file cannot be opened ({exc.strerror or type(exc).__name__})") from None


def kind_of(head: bytes) -> str | None:
    """The accepted kind these leading bytes announce, or None."""
    # PDF first: junk or a BOM before the header is common and pikepdf repairs it; the
    # sniffer and the parser must agree, so we accept exactly what the parser can open.
    if b"%PDF-" in head[:HEAD_BYTES]:
        return "pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] in _TIFF_MAGICS:
        return "tiff"
    return None


def describe(head: bytes) -> str | None:
    """A short name for common formats we refuse, so the user knows what they uploaded."""
    if head.startswith(b"%!PS") or head.startswith(b"\xc5\xd0\xd3\xc6"):
        return "a PostScript program"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "a ZIP archive"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "a GIF image"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return "a HEIC image"
        if brand in (b"avif", b"avis"):
            return "an AVIF image"
        return "an MP4/QuickTime media file"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "a WebP image"
    if head.startswith(b"BM"):
        return "a BMP image"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "an old Microsoft Office document"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "an SVG image"
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text[:256]:
        return "an HTML document"
    if text.startswith(b"<?xml"):
        return "an XML document"
    return None
