"""OCR engines behind one interface.

Engines register in ``ENGINES``; the pipeline asks ``get_engine(name)`` and
only ever sees ``OcrPage`` results, so adding RapidOCR later is one entry here.
"""
from __future__ import annotations

from collections.abc import Callable

from .base import OcrEngine, OcrFailed, OcrLine, OcrPage, OcrWord
from .orientation import detect_rotation
from .tesseract import TesseractEngine
from .text import remove_han_spaces

ENGINES: dict[str, Callable[[], OcrEngine]] = {
    "tesseract": TesseractEngine,
}


def get_engine(name: str = "tesseract") -> OcrEngine:
    """A new engine instance by registry name; ValueError lists the known names."""
    try:
        factory = ENGINES[name]
    except KeyError:
        known = ", ".join(sorted(ENGINES))
        raise ValueError(f"unknown OCR engine {name!r}; available engines: {known}") from None
    return factory()


__all__ = [
    "ENGINES", "OcrEngine", "OcrFailed", "OcrLine", "OcrPage", "OcrWord",
    "TesseractEngine", "detect_rotation", "get_engine", "remove_han_spaces",
]
