"""Invisible text layer and final PDF assembly, checked with pdfium as a viewer would."""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont

from ingest.assemble import PageLayer, assemble
from ingest.ocr import OcrLine, OcrPage, TesseractEngine
from ingest.textlayer import PageGeometry, text_layer_stream, truetype_program

FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
DPI = 200
HOUSEHOLD = "220381105012-0042"
PREFIX = "申请人王德胜，户号"
LINES = (PREFIX + HOUSEHOLD, "家庭住址：吉林省四平市铁西区英雄街道", "共同生活人口三人，月收入合计1260元")


@dataclass
class Scan:
    image: Image.Image  # the page as displayed (upright)
    number_box: tuple[int, int, int, int]  # ink box of HOUSEHOLD, displayed pixels


@pytest.fixture(scope="module")
def scan() -> Scan:
    image = Image.new("L", (1600, 1000), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 48)
    for i, text in enumerate(LINES):
        draw.text((100, 150 + i * 120), text, font=font, fill=0)
    start = 100 + round(font.getlength(PREFIX))
    line = draw.textbbox((100, 150), LINES[0], font=font)
    return Scan(image=image, number_box=(start, line[1], line[2], line[3]))


def image_pdf(path: Path, upright: Image.Image, rotate: int = 0,
              origin: tuple[float, float] = (0, 0), content_prefix: bytes = b"") -> Path:
    """A one-page scan PDF that DISPLAYS ``upright`` at DPI, storing it turned to suit /Rotate."""
    stored = upright.rotate(rotate, expand=True)  # counter-clockwise; /Rotate turns it back clockwise
    width, height = stored.width * 72 / DPI, stored.height * 72 / DPI
    pdf = pikepdf.new()
    image = pikepdf.Stream(pdf, stored.tobytes())
    image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    image.Width, image.Height = stored.width, stored.height
    image.ColorSpace, image.BitsPerComponent = pikepdf.Name.DeviceGray, 8
    page = pdf.add_blank_page(page_size=(width, height))
    x0, y0 = origin
    page.obj.MediaBox = [x0, y0, x0 + width, y0 + height]
    page.obj.Rotate = rotate
    page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
    draw = f"q {width} 0 0 {height} {x0} {y0} cm /Im0 Do Q".encode()
    page.obj.Contents = pikepdf.Stream(pdf, content_prefix + draw)
    pdf.save(path)
    return path


def render(path: Path) -> Image.Image:
    doc = pdfium.PdfDocument(path)
    try:
        return doc[0].render(scale=DPI / 72, grayscale=True).to_pil().convert("L")
    finally:
        doc.close()


def page_text(path: Path) -> str:
    doc = pdfium.PdfDocument(path)
    try:
        text = doc[0].get_textpage().get_text_bounded()
    finally:
        doc.close()
    return text.replace("\r\n", "\n")


def char_boxes_in_pixels(path: Path, needle: str) -> list[tuple[float, float, float, float]]:
    """Boxes of ``needle``'s characters, in pixels of the page as pdfium displays it."""
    doc = pdfium.PdfDocument(path)
    try:
        page = doc[0]
        size = (round(page.get_width() * DPI / 72), round(page.get_height() * DPI / 72))
        textpage = page.get_textpage()
        found = textpage.search(needle).get_next()
        assert found is not None, f"{needle!r} not found in the text layer"
        start, count = found
        return [_to_pixels(page, size, textpage.get_charbox(i)) for i in range(start, start + count)]
    finally:
        doc.close()


def _to_pixels(page, size: tuple[int, int], box: tuple[float, float, float, float]):
    # pdfium applies the page's /Rotate and box origin itself: an independent check of ours
    corners = []
    for x, y in ((box[0], box[1]), (box[2], box[3])):
        dx, dy = ctypes.c_int(), ctypes.c_int()
        pdfium_c.FPDF_PageToDevice(page.raw, 0, 0, size[0], size[1], 0, x, y, dx, dy)
        corners.append((dx.value, dy.value))
    (ax, ay), (bx, by) = corners
    return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)


def assert_boxes_over(boxes, region, slack: float = 8) -> None:
    """Every box's centre lies in ``region`` and together they span most of its width."""
    x0, y0, x1, y1 = region
    for bx0, by0, bx1, by1 in boxes:
        cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
        assert x0 - slack <= cx <= x1 + slack and y0 - slack <= cy <= y1 + slack, (boxes, region)
    covered = max(b[2] for b in boxes) - min(b[0] for b in boxes)
    assert covered >= 0.85 * (x1 - x0)


CASES = {
    "upright": dict(rotate=0, origin=(0, 0)),
    "stored-sideways-rotate-90": dict(rotate=90, origin=(0, 0)),
    "mediabox-not-at-origin": dict(rotate=0, origin=(-200.5, 350)),
    "rotate-270-and-offset": dict(rotate=270, origin=(40, -60)),
}


@pytest.fixture(scope="module", params=list(CASES))
def ocred(request, scan: Scan, tmp_path_factory) -> tuple[Path, Path, OcrPage, Scan]:
    """(base PDF, assembled PDF, OCR of the displayed page) for one page layout."""
    folder = tmp_path_factory.mktemp(request.param)
    base = image_pdf(folder / "base.pdf", scan.image, **CASES[request.param])
    displayed = render(base)  # what the pipeline rasterises: the page as displayed
    assert displayed.size == scan.image.size
    ocr = TesseractEngine().recognize(displayed)
    out = folder / "out.pdf"
    assemble(base, [PageLayer(1, CASES[request.param]["rotate"], ocr)], out, title="王德胜 户档")
    return base, out, ocr, scan


def test_copied_text_equals_the_ocr_text(ocred):
    _, out, ocr, _ = ocred
    assert HOUSEHOLD in ocr.text
    assert page_text(out) == ocr.text


def test_household_number_is_found_where_it_is_printed(ocred):
    _, out, _, scan = ocred
    assert_boxes_over(char_boxes_in_pixels(out, HOUSEHOLD), scan.number_box)


def test_text_layer_is_invisible(ocred):
    base, out, _, _ = ocred
    assert ImageChops.difference(render(base), render(out)).getbbox() is None


def test_output_is_tagged_pdfa_2b_with_title_and_embedded_font(ocred):
    _, out, _, _ = ocred
    with pikepdf.open(out) as pdf:
        meta = pdf.open_metadata()
        assert (meta["pdfaid:part"], meta["pdfaid:conformance"]) == ("2", "B")
        assert meta["dc:title"] == "王德胜 户档"
        assert str(pdf.docinfo.Title) == "王德胜 户档" and str(pdf.docinfo.Producer) == "hudang"
        assert "/OutputIntents" in pdf.Root
        font = pdf.pages[0].Resources.Font.HdGlyphless
        descendant = font.DescendantFonts[0]
        assert font.Encoding == pikepdf.Name("/Identity-H") and "/ToUnicode" in font
        assert descendant.FontDescriptor.FontFile2.read_bytes() == truetype_program()


# ---------------------------------------------------------------- without Tesseract

def synthetic_ocr(width: int, height: int) -> tuple[OcrPage, tuple[int, int, int, int]]:
    """One line read by an engine that gives no word boxes (e.g. a future RapidOCR)."""
    box = (200, 300, 800, 360)
    line = OcrLine(text="王德胜ID 7", box=box, confidence=90.0)
    return OcrPage(width=width, height=height, lines=[line], engine="test"), box


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_line_without_words_lands_on_its_box_for_every_rotation(tmp_path: Path, rotate: int):
    blank = Image.new("L", (1000, 700), 255)
    base = image_pdf(tmp_path / "base.pdf", blank, rotate=rotate, origin=(15, -30))
    ocr, box = synthetic_ocr(*blank.size)
    out = tmp_path / "out.pdf"
    assemble(base, [PageLayer(1, rotate, ocr)], out, title="t")
    assert page_text(out) == "王德胜ID 7"
    assert_boxes_over(char_boxes_in_pixels(out, "王德胜ID 7"), box, slack=2)


def test_leaked_graphics_state_in_the_scan_does_not_move_the_text(tmp_path: Path):
    blank = Image.new("L", (1000, 700), 255)
    # an unbalanced cm in the original content would scale everything after it
    base = image_pdf(tmp_path / "base.pdf", blank, content_prefix=b"0.5 0 0 0.5 0 0 cm\n")
    ocr, box = synthetic_ocr(*blank.size)
    out = tmp_path / "out.pdf"
    assemble(base, [PageLayer(1, 0, ocr)], out, title="t")
    assert_boxes_over(char_boxes_in_pixels(out, "王德胜"), (200, 300, 560, 360), slack=2)


def test_assemble_sets_rotation_without_ocr_and_keeps_other_pages(tmp_path: Path):
    blank = Image.new("L", (400, 300), 255)
    base = image_pdf(tmp_path / "base.pdf", blank)
    out = tmp_path / "out.pdf"
    assemble(base, [PageLayer(1, 450, None)], out, title="t")
    with pikepdf.open(out) as pdf:
        assert pdf.pages[0].Rotate == 90
        assert "/Font" not in pdf.pages[0].Resources


def test_text_is_drawn_in_invisible_render_mode_with_the_glyphless_font():
    ocr, _ = synthetic_ocr(1000, 700)
    stream = text_layer_stream(ocr, PageGeometry(box=(0, 0, 360, 252), rotate=0))
    assert b"3 Tr" in stream and b"/HdGlyphless" in stream
    assert b"<738B5FB780DC0049004400200037>" in stream  # 王德胜ID 7 as Unicode code points
    assert stream.startswith(b"q") and stream.rstrip().endswith(b"Q")
