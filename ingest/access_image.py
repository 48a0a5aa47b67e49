"""The access image (利用图像): the JPEG the viewer serves for a page.

Made once at ingest from the upright page raster, so a read never renders
the archival PDF. It is made in the OCR worker that already holds the
decoded page (``ingest.ocr.worker.ocr_page``), in parallel with the other
pages, and in the parent only for pages that are not OCR'd.
"""
from __future__ import annotations

import io

from PIL import Image

ACCESS_IMAGE_LONG_SIDE = 2000  # px; the viewer never renders PDFs on a read
ACCESS_IMAGE_QUALITY = 80  # JPEG: WebP measured 30x slower to encode (MEASURED.md)


def access_image(image: Image.Image) -> tuple[bytes, int, int]:
    """``image`` (upright) as the viewer's JPEG: (bytes, width, height), long side at most 2000 px."""
    img = image.convert("L") if image.mode in ("1", "L", "LA") else image.convert("RGB")
    img.thumbnail((ACCESS_IMAGE_LONG_SIDE, ACCESS_IMAGE_LONG_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=ACCESS_IMAGE_QUALITY, optimize=True)
    return buf.getvalue(), img.width, img.height
