"""Tesseract engine, driven through pytesseract's ``image_to_data``."""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import pytesseract
from PIL import Image

from .base import OcrFailed, OcrLine, OcrPage, OcrWord
from .text import join_words

_WORD_LEVEL = 5  # image_to_data rows: 1 page, 2 block, 3 paragraph, 4 line, 5 word
_ENV_LOCK = threading.Lock()


@contextmanager
def single_threaded_tesseract() -> Iterator[None]:
    """Run the enclosed Tesseract calls with OpenMP limited to one thread.

    Measured: Tesseract's own OpenMP threading is 3.7x slower on 2 cores than
    one thread per process; hudang parallelises across pages with processes.
    pytesseract has no env parameter, so the variable is set around the call.
    """
    with _ENV_LOCK:
        previous = os.environ.get("OMP_THREAD_LIMIT")
        os.environ["OMP_THREAD_LIMIT"] = "1"
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("OMP_THREAD_LIMIT", None)
            else:
                os.environ["OMP_THREAD_LIMIT"] = previous


def missing_language_message(lang: str) -> str:
    package = "tesseract-ocr-" + lang.replace("_", "-").lower()
    return f"Tesseract's {lang} language data is not installed (apt-get install {package})"


@lru_cache(maxsize=1)
def tesseract_version() -> str:
    try:
        return str(pytesseract.get_tesseract_version())
    except pytesseract.TesseractNotFoundError as exc:
        raise OcrFailed("Tesseract is not installed (apt-get install tesseract-ocr)") from exc


@lru_cache(maxsize=1)
def installed_languages() -> frozenset[str]:
    tesseract_version()  # raises the clear "not installed" error first
    try:
        return frozenset(pytesseract.get_languages(config=""))
    except pytesseract.TesseractError as exc:
        raise OcrFailed(f"Tesseract cannot list its languages: {_first_line(str(exc))}") from exc


def check_languages(lang: str) -> None:
    """Raise OcrFailed naming the first language of ``lang`` ('a+b') that is missing."""
    available = installed_languages()
    for code in lang.split("+"):
        if code not in available:
            raise OcrFailed(missing_language_message(code))


def _first_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


def prepare_image(image: Image.Image) -> Image.Image:
    """Give Tesseract a mode it reads reliably (no palette, alpha or CMYK)."""
    if image.mode in ("1", "L", "RGB"):
        return image
    if image.mode in ("LA", "RGBA", "P", "PA"):
        # alpha is composited on white: transparent scan margins must not read as black
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _word_rows(data: dict[str, list]) -> Iterator[tuple[tuple[int, int, int], OcrWord]]:
    """Yield ((block, paragraph, line), word) for every non-empty word row."""
    for i, level in enumerate(data["level"]):
        text = str(data["text"][i]).strip()
        if int(level) != _WORD_LEVEL or not text:
            continue
        left, top = int(data["left"][i]), int(data["top"][i])
        box = (left, top, left + int(data["width"][i]), top + int(data["height"][i]))
        key = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
        yield key, OcrWord(text=text, box=box, confidence=float(data["conf"][i]))


def _union(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _make_line(words: list[OcrWord]) -> OcrLine:
    # Tesseract reports -1 for rows it did not score; they must not drag the mean down
    scored = [w.confidence for w in words if w.confidence >= 0]
    confidence = sum(scored) / len(scored) if scored else 0.0
    return OcrLine(
        text=join_words([w.text for w in words]),
        box=_union([w.box for w in words]),
        confidence=max(0.0, min(100.0, confidence)),
        words=tuple(words),
    )


def lines_from_data(data: dict[str, list]) -> list[OcrLine]:
    """Group image_to_data word rows into lines, keeping Tesseract's reading order."""
    grouped: dict[tuple[int, int, int], list[OcrWord]] = {}
    for key, word in _word_rows(data):
        grouped.setdefault(key, []).append(word)  # dicts keep first-seen order
    return [_make_line(words) for words in grouped.values()]


class TesseractEngine:
    """OCR with Tesseract; ``lang`` and ``psm`` are passed straight to it."""

    def __init__(self, lang: str = "chi_sim+eng", psm: int = 3) -> None:
        self.lang = lang
        self.psm = psm
        self._checked = False

    @property
    def name(self) -> str:
        return f"tesseract-{tesseract_version()} {self.lang}"

    def _check(self) -> None:
        if not self._checked:
            check_languages(self.lang)
            self._checked = True

    def image_data(self, image: Image.Image, psm: int | None = None) -> dict[str, list]:
        """Raw image_to_data output (DICT) for ``image``; raises OcrFailed on engine errors."""
        self._check()
        config = f"--psm {self.psm if psm is None else psm}"
        try:
            with single_threaded_tesseract():
                return pytesseract.image_to_data(
                    prepare_image(image), lang=self.lang, config=config,
                    output_type=pytesseract.Output.DICT,
                )
        except pytesseract.TesseractNotFoundError as exc:
            raise OcrFailed("Tesseract is not installed (apt-get install tesseract-ocr)") from exc
        except pytesseract.TesseractError as exc:
            raise OcrFailed(f"Tesseract failed: {_first_line(str(exc.message))}") from exc

    def recognize(self, image: Image.Image) -> OcrPage:
        data = self.image_data(image)
        return OcrPage(width=image.width, height=image.height,
                       lines=lines_from_data(data), engine=self.name)
