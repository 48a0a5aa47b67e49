"""A cheap engine first, a stronger one on the pages it reads badly.

``auto`` (registered as ``tesseract+rapidocr`` too) runs Tesseract and keeps
its result when the page confidence reaches ``threshold``; otherwise the page
is read again by RapidOCR and RapidOCR's result is kept. The engine name of
the result says which engine's text it is.
"""
from __future__ import annotations

from PIL import Image

from .base import OcrEngine, OcrPage

# Tesseract's character-weighted page confidence; measured on the benchmark
# pages (bench/ocr_bench.py), see docs/ocr.md for the choice
DEFAULT_THRESHOLD = 88.0


class CascadeEngine:
    """``first`` on every page, ``second`` where ``first``'s confidence is below ``threshold``."""

    def __init__(self, first: OcrEngine, second: OcrEngine,
                 threshold: float = DEFAULT_THRESHOLD) -> None:
        self.first, self.second, self.threshold = first, second, threshold

    @property
    def name(self) -> str:
        return f"{self.first.name}+{self.second.name}"

    def recognize(self, image: Image.Image) -> OcrPage:
        page = self.first.recognize(image)
        if (page.confidence or 0.0) >= self.threshold:
            return page
        return self.second.recognize(image)
