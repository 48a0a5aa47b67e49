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

from .base import OcrEngine, OcrFailed, OcrPage
from .tesseract import TesseractEngine, single_threaded_tesseract

OSD_LONG_SIDE = 1800  # px; OSD time is mostly fixed cost, but big pages still cost more
MIN_OSD_CONFIDENCE = 2.0  # below this Tesseract's own docs call the orientation a guess
PROBE_LONG_SIDE = 2000  # px of the whole page when probing with OCR (~27 px Han at 300 dpi A4)
PROBE_CROP = 640  # px square taken from the centre of the page's ink
PROBE_MARGIN = 24  # px of white added around the crop: Tesseract misreads text touching the edge
# a turn must read this much better than as-is to be trusted; a short text
# (a label, a stamp) needs a landslide, and under 3 characters never wins
MIN_CONFIDENCE_GAIN = ((12, 10.0), (3, 40.0))  # (at least n characters, required gain)
PROFILE_RATIO = 1.5  # how much more uneven one ink profile must be to call the line direction

# reads_upright: a page read as it is counts as upright when this many
# characters were read, nearly all of them in lines wider than tall
UPRIGHT_MIN_CHARACTERS = 12
UPRIGHT_WIDE_SHARE = 0.8

_ROTATE_RE = re.compile(r"Rotate:\s*(\d+)")
_CONFIDENCE_RE = re.compile(r"Orientation confidence:\s*([\d.]+)")


def detect_rotation(image: Image.Image, engine: OcrEngine | None = None) -> int:
    """Clockwise degrees (0/90/180/270) to apply to ``image`` so its text is upright."""
    grey = ImageOps.grayscale(image) if image.mode != "L" else image
    osd = osd_rotation(_downscale(grey, OSD_LONG_SIDE))
    if osd is not None and osd[1] >= MIN_OSD_CONFIDENCE:
        return osd[0]
    guess = osd[0] if osd is not None else None
    return rotation_by_confidence(grey, engine or probe_engine(), guess)


def reads_upright(page: OcrPage, min_confidence: float) -> bool:
    """True when ``page``, read without turning, is evidently upright text.

    Cheap check that spares the orientation search (about 1 s per page with
    OSD, 3-8 s with the OCR probe) for the usual, upright page. Measured with
    RapidOCR: an upright page reads at 97-99 confidence in wide lines; turned
    by 90/270 degrees its lines are tall (RapidOCR still reads them); upside
    down it reads almost nothing. Tesseract's confidence does not separate
    these cases on degraded copies (35-49 upright, 20-25 upside down), so it
    has no ``upright_confidence`` and always runs the search first.
    """
    sizes = [(len(line.text.strip()), line.box) for line in page.lines]
    characters = sum(n for n, _ in sizes)
    if characters < UPRIGHT_MIN_CHARACTERS:
        return False
    wide = sum(n for n, (x0, y0, x1, y1) in sizes if x1 - x0 >= y1 - y0)
    return wide >= UPRIGHT_WIDE_SHARE * characters and (page.confidence or 0.0) >= min_confidence


def probe_engine() -> OcrEngine:
    """The engine used to compare rotations.

    psm 6 (one uniform block) because under psm 3 chi_sim reads sideways Han
    text as vertical text with nearly the same confidence (measured 81 vs 91),
    while psm 6 scores wrong rotations around 25-45 and the right one near 90.
    """
    return TesseractEngine(psm=6)


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
    # only a clearly horizontal layout rules out the sideways turns: a single
    # line of square Han characters can look vertical to the profile test
    horizontal = line_direction(probe) == "horizontal"
    candidates = [0, 180] if horizontal else [0, 90, 180, 270]
    if guess is not None and guess not in candidates:
        candidates.append(guess)
    probe = ImageOps.expand(probe, PROBE_MARGIN, fill=255)
    scores = {angle: _probe_score(engine, rotate_clockwise(probe, angle)) for angle in candidates}
    best = max(candidates, key=lambda angle: scores[angle][0])
    # staying put is the safe answer: a wrong turn hurts more than a missed one
    confidence, characters = scores[best]
    return best if confidence - scores[0][0] >= _required_gain(characters) else 0


def _required_gain(characters: int) -> float:
    for at_least, gain in MIN_CONFIDENCE_GAIN:
        if characters >= at_least:
            return gain
    return float("inf")


def line_direction(image: Image.Image) -> str | None:
    """'horizontal' or 'vertical' text lines in ``image``, or None when unclear.

    Lines alternate inked rows with blank leading, so the ink profile across
    the lines is far more uneven than the profile along them. A single line
    or a sparse form gives no clear answer.
    """
    ink = ImageOps.invert(image)
    rows = pvariance(list(ink.resize((1, ink.height), Image.Resampling.BOX).getdata()))
    columns = pvariance(list(ink.resize((ink.width, 1), Image.Resampling.BOX).getdata()))
    if rows > PROFILE_RATIO * columns:
        return "horizontal"
    if columns > PROFILE_RATIO * rows:
        return "vertical"
    return None


def _probe_score(engine: OcrEngine, image: Image.Image) -> tuple[float, int]:
    """(mean confidence, characters read) of ``image``."""
    page = engine.recognize(image)
    characters = sum(len(line.text.strip()) for line in page.lines)
    return (page.confidence or 0.0), characters


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
