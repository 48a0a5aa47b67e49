"""Scan quality checks at ingest (数据质检, DA/T 31-2017): every page, each finding tied to
its rule.

The checks look at a page as it was scanned: the resolution the file states, its colour
mode against what the batch asks for (``records.kinds.ScanProfile``), the skew before
correction, whether the page is blank, and whether the same image was scanned twice (a
perceptual hash, compared with the document's earlier pages and the batch's). A finding
never drops a page: the page is stored with it, and the findings show on the page, in
the dossier, in the batch report and in ``hudang pages findings``.

The sentences are written once, here, as ``N_`` templates (``records.problems``): the
command line prints them as they are, the screens translate them. Where the rule's
clause number is known from the standard's table of contents it is given (9.3 扫描色彩模式,
9.4 扫描分辨率); otherwise the rule is named by its chapter.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import cv2  # opencv-python-headless, as ingest.ocr.preprocess
import numpy as np
from PIL import Image, ImageOps

from ingest.ocr.preprocess import estimate_skew, grey_without_red_ink
from records.kinds import ScanProfile
from records.problems import N_

MIN_DPI = 200  # DA/T 31-2017 9.4: at least 200 dpi
OCR_DPI = 300  # DA/T 31-2017 9.4: 300 dpi where text is small or is to be recognised
# a page is blank when fewer than this share of its pixels is ink (dust and noise are fainter)
BLANK_INK_SHARE = 0.0015
INK_BELOW_PAPER = 80  # grey levels under the paper's that count as ink
HASH_SOURCE, HASH_SIDE = 64, 16  # 16 x 16 DCT coefficients of a 64 x 64 thumbnail: 256 bits
# two pages whose hashes differ in at most this many of the 256 bits are the same image (on
# synthetic A6 pages: the same paper scanned again 0-4, another household's copy of the same
# form 18, another form 40 and more)
SAME_IMAGE_BITS = 10


@dataclass(frozen=True)
class Rule:
    rule: str  # the rule of DA/T 31-2017 the check enforces
    message: str  # N_ template; values from the finding


RULES: dict[str, Rule] = {
    "resolution": Rule("DA/T 31-2017 9.4", N_(
        "scanned at %(dpi)s dpi, below the 200 dpi that DA/T 31-2017 9.4 (扫描分辨率) asks for")),
    "resolution_ocr": Rule("DA/T 31-2017 9.4", N_(
        "scanned at %(dpi)s dpi; text to be recognised (OCR) needs 300 dpi by DA/T 31-2017 "
        "9.4 (扫描分辨率)")),
    "colour_mode": Rule("DA/T 31-2017 9.3", N_(
        "scanned in %(mode)s; the batch asks for colour, as DA/T 31-2017 9.3 (扫描色彩模式) "
        "does for pages with red seals or photos")),
    "skew": Rule("DA/T 31-2017 图像处理·纠偏", N_(
        "skewed %(angle)s° before correction, more than the limit of %(limit)s° "
        "(DA/T 31-2017 图像处理: 纠偏)")),
    "blank": Rule("DA/T 31-2017 数据质检", N_(
        "the page is blank: a blank side scanned, or a page missed (DA/T 31-2017 数据质检: "
        "漏扫)")),
    "duplicate": Rule("DA/T 31-2017 数据质检", N_(
        "the same image as %(where)s: a page scanned twice? (DA/T 31-2017 数据质检: 重扫)")),
    "page_count": Rule("DA/T 31-2017 数据质检", N_(
        "%(found)s pages were scanned but the manifest says %(declared)s; the page count must "
        "agree with the catalogue (DA/T 31-2017 数据质检)")),
}


@dataclass(frozen=True)
class Finding:
    """One thing a check found: ``check`` names the rule (:data:`RULES`), ``values`` fill
    its sentence."""

    check: str
    values: dict = field(default_factory=dict)

    @property
    def rule(self) -> str:
        return RULES[self.check].rule

    @property
    def template(self) -> str:
        return RULES[self.check].message

    def sentence(self) -> str:
        return self.template % self.values

    def as_json(self) -> dict:
        return {"check": self.check, "rule": self.rule, "message": self.sentence(),
                **self.values}


def dumps(findings: Iterable[Finding]) -> str:
    return json.dumps([{"check": f.check, **f.values} for f in findings], ensure_ascii=False)


def loads(text: str | None) -> list[Finding]:
    """Findings as stored; a check this version does not know is left out."""
    out = []
    for item in json.loads(text or "[]"):
        check = item.pop("check", None)
        if check in RULES:
            out.append(Finding(check, item))
    return out


@dataclass
class PageFacts:
    """What the checks measured on one page (kept as its ``page_scan`` row)."""

    number: int
    dpi: float | None
    colour: str | None
    bit_depth: int | None
    skew: float | None
    blank: bool
    phash: str
    findings: list[Finding] = field(default_factory=list)


# -- measuring -------------------------------------------------------------------------------
def measure(raster: Image.Image) -> tuple[bool, str, float]:
    """(blank, perceptual hash, skew in degrees) of a page raster as it is displayed."""
    grey = grey_without_red_ink(raster.convert("RGB") if raster.mode not in ("L", "RGB")
                                else raster)
    return _blank(raster), phash(grey), estimate_skew(grey)


def _blank(raster: Image.Image) -> bool:
    """No ink: red ink (a seal alone) counts, dust and scanner noise do not."""
    image = ImageOps.grayscale(raster) if raster.mode != "L" else raster
    scale = min(1.0, 800 / max(image.size))
    if scale < 1.0:
        image = image.resize((max(1, round(image.width * scale)),
                              max(1, round(image.height * scale))), Image.Resampling.BOX)
    pixels = np.asarray(image, dtype=np.int16)
    paper = np.percentile(pixels, 90)
    ink = np.count_nonzero(pixels < paper - INK_BELOW_PAPER)
    return ink < BLANK_INK_SHARE * pixels.size


def phash(grey: Image.Image) -> str:
    """A perceptual hash of the page (DCT hash): the low frequencies of a 64 x 64 thumbnail,
    each bit whether a coefficient lies above their median. The same page scanned twice
    gives nearly the same bits; another page of the same form differs in more of them
    (its filled-in text). Differences of neighbouring cells (a difference hash) were tried
    first: on a page that is mostly white paper they follow the scanner's noise."""
    small = ImageOps.autocontrast(grey.convert("L")).resize(
        (HASH_SOURCE, HASH_SOURCE), Image.Resampling.BOX)
    coefficients = cv2.dct(np.asarray(small, dtype=np.float32))[:HASH_SIDE, :HASH_SIDE]
    bits = (coefficients > np.median(coefficients)).flatten()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return f"{value:0{HASH_SIDE * HASH_SIDE // 4}x}"


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


# -- checking --------------------------------------------------------------------------------
def where(page: int, document: int | None) -> str:
    """How a duplicate's sentence names the page it repeats."""
    return f"page {page} of document {document}" if document else \
        f"page {page} of this document"


def check_page(facts: PageFacts, *, profile: ScanProfile, needs_ocr: bool,
               skew_limit: float, earlier: Sequence[tuple[str, int, int | None]]
               ) -> list[Finding]:
    """The findings of one page. ``earlier``: (hash, page, document id or None for the same
    document) of the pages it may repeat (the document's earlier pages, the batch's other
    documents)."""
    found: list[Finding] = []
    if facts.dpi is not None:
        dpi = round(facts.dpi)
        if dpi < MIN_DPI:
            found.append(Finding("resolution", {"dpi": dpi}))
        elif dpi < OCR_DPI and needs_ocr:
            found.append(Finding("resolution_ocr", {"dpi": dpi}))
    if profile is ScanProfile.colour and facts.colour in ("bitonal", "greyscale"):
        found.append(Finding("colour_mode", {"mode": facts.colour}))
    if facts.skew is not None and abs(facts.skew) > skew_limit:
        found.append(Finding("skew", {"angle": round(abs(facts.skew), 1),
                                      "limit": skew_limit}))
    if facts.blank:
        found.append(Finding("blank"))
    elif earlier:
        for other, page, document in earlier:
            if distance(facts.phash, other) <= SAME_IMAGE_BITS:
                found.append(Finding("duplicate", {"where": where(page, document),
                                                   "page": page, "document": document}))
                break
    return found


def page_count(found: int, declared: int | None) -> Finding | None:
    """The document-level check: the pages scanned against the count the manifest gives."""
    if declared is None or declared == found:
        return None
    return Finding("page_count", {"found": found, "declared": declared})
