"""OCR engines behind one interface.

Engines register in ``ENGINES``; the pipeline asks ``get_engine(name)`` and
only ever sees ``OcrPage`` results. The deployment's choice is the setting
``HUDANG_OCR_ENGINE`` (``ingest.settings``), else ``DEFAULT_ENGINE``, chosen
by measurement (docs/ocr.md, ``make bench-ocr``).
"""
from __future__ import annotations

from collections.abc import Callable

from .base import OcrEngine, OcrFailed, OcrLine, OcrPage, OcrWord, UnknownEngine
from .cascade import CascadeEngine
from .orientation import detect_rotation
from .rapid import RapidOcrEngine
from .tesseract import TesseractEngine
from .text import remove_han_spaces


def _tesseract_then_rapidocr() -> OcrEngine:
    return CascadeEngine(TesseractEngine(), RapidOcrEngine())


ENGINES: dict[str, Callable[[], OcrEngine]] = {
    "tesseract": TesseractEngine,
    "rapidocr": RapidOcrEngine,
    "tesseract+rapidocr": _tesseract_then_rapidocr,
}
ENGINE_ALIASES = {"auto": "tesseract+rapidocr"}
DEFAULT_ENGINE = "rapidocr"  # see docs/ocr.md "Choosing the default engine"


def engine_names() -> list[str]:
    """Every name ``get_engine`` accepts, aliases included."""
    return sorted([*ENGINES, *ENGINE_ALIASES])


def canonical_engine_name(name: str) -> str:
    """The registry name for ``name`` (resolving aliases); ValueError lists the known names."""
    name = ENGINE_ALIASES.get(name.strip().lower(), name.strip().lower())
    if name not in ENGINES:
        raise UnknownEngine(f"unknown OCR engine {name!r}; available engines: "
                         f"{', '.join(engine_names())}")
    return name


def default_engine_name() -> str:
    """The measured default, for a deployment that chose none."""
    return DEFAULT_ENGINE


def get_engine(name: str | None = None) -> OcrEngine:
    """A new engine instance by registry name (default: the measured default)."""
    return ENGINES[canonical_engine_name(name or default_engine_name())]()


__all__ = [
    "DEFAULT_ENGINE", "ENGINES", "CascadeEngine", "OcrEngine", "OcrFailed",
    "OcrLine", "OcrPage", "OcrWord", "RapidOcrEngine", "UnknownEngine", "TesseractEngine",
    "canonical_engine_name", "default_engine_name", "detect_rotation", "engine_names",
    "get_engine", "remove_han_spaces",
]
