"""Engine-independent OCR result model and the engine interface.

Every OCR engine (Tesseract today, RapidOCR later) returns an ``OcrPage``;
the text layer and the rest of the pipeline only ever see this model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from PIL import Image

from ingest.exceptions import IngestError


class OcrFailed(IngestError):
    """OCR could not run at all (engine missing, language data missing, engine crash).

    An IngestError so the pipeline and CLI show it like any other ingest
    failure; the message is one line for the operator and never contains OCR text.
    """


class UnknownEngine(IngestError, ValueError):
    """An OCR engine name hudang does not know; the message lists the ones it does."""


@dataclass(frozen=True)
class OcrWord:
    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels, origin top-left
    confidence: float  # 0..100


@dataclass(frozen=True)
class OcrLine:
    text: str  # Han spaces already removed
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels, origin top-left
    confidence: float  # 0..100
    words: tuple[OcrWord, ...] = ()  # optional finer boxes, in reading order


@dataclass
class OcrPage:
    width: int  # pixels of the image recognised
    height: int
    lines: list[OcrLine]
    engine: str  # e.g. 'tesseract-5.3.0 chi_sim+eng'

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def confidence(self) -> float | None:
        """Character-weighted mean line confidence; None when nothing was read."""
        # weighting by characters stops a one-glyph speck line from counting
        # as much as a full line of text
        weights = [(len(line.text.strip()), line.confidence) for line in self.lines]
        total = sum(n for n, _ in weights)
        if total == 0:
            return None
        return sum(n * c for n, c in weights) / total


@runtime_checkable
class OcrEngine(Protocol):
    name: str

    def recognize(self, image: Image.Image) -> OcrPage: ...
