"""Page orientation detection.

``detect_rotation`` returns the clockwise rotation in degrees (0/90/180/270)
to APPLY to an image to make its text upright.

First choice is Tesseract's OSD (``--psm 0``). Its ``Rotate:`` line is
exactly that clockwise correction (verified: an upright page turned 90
degrees clockwise reports ``Orientation in degrees: 90`` and ``Rotate: 270``).
OSD is weak on Chinese scans, so when its orientation confidence is low the
candidates are compared by OCR confidence on a small crop instead.
"""
from __future__ import annotations

import re
from statistics import pvariance

import pytesseract
from PIL import Image, ImageOps

from .base import OcrEngine, OcrFailed
from .tesseract import TesseractEngine, single_threaded_tesseract

OSD_LONG_SIDE = 1800  # px; OSD time is mostly fixed cost, but big pages still cost more
MIN_OSD_CONFIDENCE = 2.0  # below this Tesseract's own docs call the orientation a guess
PROBE_LONG_SIDE = 2000  # px of the whole page when probing with OCR (~27 px Han at 300 dpi A4)
PROBE_CROP = 900  # px square taken from the centre of the page's ink
MIN_CONFIDENCE_GAIN = 10.0  # a turn must read this much better than as-is to be trusted

_ROTATE_RE = re.compile(r"Rotate:\s*(\d+)")
_CONFIDENCE_RE = re.compile(r"Orientation confidence:\s*([\d.]+)")


def detect_rotation(image: Image.Image, engine: OcrEngine | None = None) -> int:
    """Clockwise degrees (0/90/180/270) to apply to ``image`` so its text is upright."""
    grey = ImageOps.grayscale(image) if image.mode != "L" else image
    osd = osd_rotation(_downscale(grey, OSD_LONG_SIDE))
    if osd is not None and osd[1] >= MIN_OSD_CONFIDENCE:
        return osd[0]
    guess = osd[0] if osd is not None else None
    return rotation_by_confidence(grey, engine or TesseractEngine(), guess)


def rotate_clockwise(image: Image.Image, degrees: int) -> Image.Image:
    """Rotate clockwise by a multiple of 90 degrees without resampling."""
    turn = {0: None, 90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
            270: Image.Transpose.ROTATE_90}[degrees % 360]
    # PIL's ROTATE_* constants are counter-clockwise, hence 90 -> ROTATE_270
    return image if turn is None else image.transpose(turn)


def osd_rotation(image: Image.Image) -> tuple[int, float] | None:
    """(clockwise correction, confidence) from Tesseract OSD, or None if it cannot tell."""
    try:
        with single_threaded_tesseract():
            report = pytesseract.image_to_osd(image, config="--psm 0")
    except pytesseract.TesseractNotFoundError as exc:
        raise OcrFailed("Tesseract is not installed (apt-get install tesseract-ocr)") from exc
    except pytesseract.TesseractError:
        # "Too few characters" (blank or picture-only page) and similar: no opinion
        return None
    rotate, confidence = _ROTATE_RE.search(report), _CONFIDENCE_RE.search(report)
    if rotate is None or confidence is None:
        return None
    return int(rotate.group(1)) % 360, float(confidence.group(1))


def rotation_by_confidence(grey: Image.Image, engine: OcrEngine, guess: int | None = None) -> int:
    """Pick the rotation whose OCR of a central crop is most confident; 0 unless clearly better."""
    probe = _ink_crop(_downscale(grey, PROBE_LONG_SIDE))
    if probe is None:
        return 0
    candidates = [0, 180] if lines_look_horizontal(probe) else [0, 90, 270]
    if guess is not None and guess not in candidates:
        candidates.append(guess)
    scores = {angle: _probe_confidence(engine, rotate_clockwise(probe, angle)) for angle in candidates}
    best = max(candidates, key=lambda angle: scores[angle])
    # staying put is the safe answer: a wrong turn hurts more than a missed one
    return best if scores[best] >= scores[0] + MIN_CONFIDENCE_GAIN else 0


def lines_look_horizontal(image: Image.Image) -> bool:
    """True when ink varies more from row to row than from column to column.

    Horizontal text lines alternate inked rows and blank leading, so the row
    profile is far more uneven than the column profile; sideways pages are the
    other way round.
    """
    ink = ImageOps.invert(image)
    rows = list(ink.resize((1, ink.height), Image.Resampling.BOX).getdata())
    columns = list(ink.resize((ink.width, 1), Image.Resampling.BOX).getdata())
    return pvariance(rows) >= pvariance(columns)


def _probe_confidence(engine: OcrEngine, image: Image.Image) -> float:
    confidence = engine.recognize(image).confidence
    return 0.0 if confidence is None else confidence


def _downscale(image: Image.Image, long_side: int) -> Image.Image:
    scale = long_side / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _ink_crop(grey: Image.Image) -> Image.Image | None:
    """A PROBE_CROP square around the centre of the inked area, or None for a blank page."""
    # threshold first so scanner noise and paper tint do not count as ink
    mask = grey.point(lambda v: 255 if v < 128 else 0)
    bbox = mask.getbbox()
    if bbox is None:
        return None
    cx, cy = (bbox[0] + bbox[2]) // 2, (bbox[1] + bbox[3]) // 2
    half = PROBE_CROP // 2
    x0 = max(bbox[0], min(cx - half, bbox[2] - PROBE_CROP))
    y0 = max(bbox[1], min(cy - half, bbox[3] - PROBE_CROP))
    return grey.crop((x0, y0, min(x0 + PROBE_CROP, bbox[2]), min(y0 + PROBE_CROP, bbox[3])))
