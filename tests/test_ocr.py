"""OCR engine, text clean-up, orientation and worker pool, against real Tesseract."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from ingest.ocr import OcrFailed, OcrLine, OcrPage, TesseractEngine, get_engine, remove_han_spaces
from ingest.ocr.orientation import detect_rotation, rotation_by_confidence
from ingest.ocr.tesseract import missing_language_message
from ingest.ocr.worker import OcrPool, PageOcrResult

FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
NAME = "王德胜"
HOUSEHOLD = "220381105012-0042"
LINES = (
    f"申请人{NAME}，户号{HOUSEHOLD}",
    "家庭住址：吉林省四平市铁西区英雄街道",
    "申请类别：城市最低生活保障，共同生活人口三人",
    "本人承诺所填写的内容真实有效，如有虚假愿承担责任。",
)
HAN_SPACE_HAN = re.compile(r"[\u4e00-\u9fff] +[\u4e00-\u9fff]")


def draw_page(size: tuple[int, int], lines: tuple[str, ...], top: int = 150,
              pitch: int = 110, px: int = 48) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """A white greyscale page with ``lines`` of black text; returns it and each line's ink box."""
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, px)
    boxes = []
    for i, text in enumerate(lines):
        origin = (100, top + i * pitch)
        draw.text(origin, text, font=font, fill=0)
        boxes.append(draw.textbbox(origin, text, font=font))
    return image, boxes


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area else 0.0


@pytest.fixture(scope="module")
def form_page() -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    return draw_page((1600, 1200), LINES)


@pytest.fixture(scope="module")
def recognised(form_page) -> OcrPage:
    return TesseractEngine().recognize(form_page[0])


@pytest.fixture(scope="module")
def a4_page() -> Image.Image:
    """A 300 dpi A4 page of Chinese form text, as a scanner would deliver it."""
    return draw_page((2480, 3508), LINES * 5, top=300, pitch=120)[0]


# ---------------------------------------------------------------- recognition

def test_recognises_applicant_name_and_household_number_exactly(recognised):
    assert NAME in recognised.text
    assert HOUSEHOLD in recognised.text


def test_recognised_text_has_no_spaces_between_han_characters(recognised):
    assert recognised.text.strip()
    assert HAN_SPACE_HAN.search(recognised.text) is None


def test_line_boxes_lie_over_the_drawn_text_lines(form_page, recognised):
    _, drawn = form_page
    assert len(recognised.lines) == len(drawn)
    for line, box in zip(recognised.lines, drawn):
        # Tesseract makes boxes of full-width punctuation tall, so allow some slack
        centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        assert line.box[0] <= centre[0] <= line.box[2] and line.box[1] <= centre[1] <= line.box[3]
        assert iou(line.box, box) > 0.6, (line.box, box)


def test_word_boxes_lie_inside_their_line(recognised):
    for line in recognised.lines:
        assert line.words
        for word in line.words:
            x0, y0, x1, y1 = word.box
            assert line.box[0] <= x0 < x1 <= line.box[2] and line.box[1] <= y0 < y1 <= line.box[3]


def test_page_reports_engine_size_and_a_high_confidence(form_page, recognised):
    image, _ = form_page
    assert (recognised.width, recognised.height) == image.size
    assert recognised.engine.startswith("tesseract-5") and recognised.engine.endswith("chi_sim+eng")
    assert recognised.confidence is not None and recognised.confidence > 70
    assert all(0 <= line.confidence <= 100 for line in recognised.lines)


def test_blank_page_gives_no_lines_and_no_confidence():
    page = TesseractEngine().recognize(Image.new("L", (800, 600), 255))
    assert page.lines == [] and page.text == "" and page.confidence is None


def test_page_confidence_is_weighted_by_characters():
    page = OcrPage(width=10, height=10, engine="x", lines=[
        OcrLine(text="王德胜王德胜王德胜", box=(0, 0, 9, 1), confidence=90.0),
        OcrLine(text="~", box=(0, 2, 1, 3), confidence=0.0),
    ])
    assert page.confidence == pytest.approx(81.0)
    assert page.text == "王德胜王德胜王德胜\n~"


# ---------------------------------------------------------------- spacing

@pytest.mark.parametrize(("raw", "clean"), [
    ("申 请 人 王 德 胜", "申请人王德胜"),
    ("申请人 王德胜 ， 户号", "申请人王德胜，户号"),
    ("户 号 220381105012-0042", "户号220381105012-0042"),
    ("ID 220381105012 No. 5", "ID 220381105012 No. 5"),
    ("地址 ： 英雄街道 （ 北 ）", "地址：英雄街道（北）"),
    ("Wang Desheng 王 德 胜", "Wang Desheng王德胜"),
    ("第一行 \n 第二行", "第一行\n第二行"),
    ("", ""),
])
def test_remove_han_spaces(raw, clean):
    assert remove_han_spaces(raw) == clean


# ---------------------------------------------------------------- orientation

@pytest.mark.parametrize("turned", [0, 90, 180, 270])
def test_detect_rotation_returns_the_clockwise_correction(a4_page, turned):
    # PIL rotates counter-clockwise for positive angles, so -turned turns clockwise
    scanned = a4_page.rotate(-turned, expand=True)
    assert detect_rotation(scanned) == (360 - turned) % 360


@pytest.mark.parametrize("turned", [0, 90, 180])
def test_confidence_fallback_finds_the_correction_without_osd(a4_page, turned):
    scanned = a4_page.rotate(-turned, expand=True)
    assert rotation_by_confidence(scanned, TesseractEngine(psm=6)) == (360 - turned) % 360


def test_blank_page_is_left_unrotated():
    assert detect_rotation(Image.new("L", (1240, 1754), 255)) == 0


# ---------------------------------------------------------------- engine registry and errors

def test_get_engine_follows_hudang_ocr_engine_and_tesseract_stays_available():
    from ingest.settings import Settings

    chosen = Settings.load({"HUDANG_OCR_ENGINE": "tesseract"}).ocr_engine
    assert isinstance(get_engine(chosen), TesseractEngine)
    assert Settings.load({}).ocr_engine is None
    assert not isinstance(get_engine(), TesseractEngine)  # the measured default: RapidOCR
    assert isinstance(get_engine("tesseract"), TesseractEngine)


def test_unknown_engine_name_is_a_value_error_naming_the_available_ones():
    with pytest.raises(ValueError, match="tesseract"):
        get_engine("nope")


def test_missing_language_data_raises_ocr_failed_with_install_hint():
    with pytest.raises(OcrFailed, match=r"xx_nope language data is not installed \(apt-get install"):
        TesseractEngine(lang="chi_sim+xx_nope").recognize(Image.new("L", (100, 100), 255))
    assert missing_language_message("chi_sim") == (
        "Tesseract's chi_sim language data is not installed (apt-get install tesseract-ocr-chi-sim)")


# ---------------------------------------------------------------- worker pool

def test_pool_returns_pages_in_page_order_and_reports_each_page(tmp_path: Path):
    numbers = {n: f"220381105012-000{n}" for n in (1, 2, 3)}
    texts = {n: f"申请人{NAME}，户号{numbers[n]}" for n in (1, 2, 3)}
    jobs = []
    for number in (3, 1, 2):  # submitted out of order on purpose
        image, _ = draw_page((1400, 400), (texts[number],), top=150)
        path = tmp_path / f"page-{number}.png"
        image.save(path)
        jobs.append((number, path))
    ticks: list[int] = []
    with OcrPool("tesseract", workers=2) as pool:
        # detect=False keeps this test about ordering; rotation has its own pool test
        results = pool.run(jobs, progress=ticks.append, detect=False)
    assert [r.number for r in results] == [1, 2, 3]
    assert all(isinstance(r, PageOcrResult) and r.rotation == 0 and r.seconds > 0 for r in results)
    assert all(numbers[r.number] in r.ocr.text for r in results)
    assert ticks == [1, 1, 1]


def test_a_pool_whose_worker_process_was_killed_reads_the_next_pages_in_fresh_processes(
        tmp_path: Path):
    """A job worker keeps one pool for hours: an OCR process killed between documents (the
    OOM killer, say) must not fail every later document with BrokenProcessPool."""
    import os
    import signal

    image, _ = draw_page((1400, 400), (LINES[0],), top=150)
    path = tmp_path / "page.png"
    image.save(path)
    with OcrPool("tesseract", workers=1) as pool:
        pool.warm_up()
        for pid in list(pool._executor._processes):  # the pool's own worker processes
            os.kill(pid, signal.SIGKILL)
        ticks: list[int] = []
        (result,) = pool.run([(1, path)], progress=ticks.append, detect=False)
        assert HOUSEHOLD in result.ocr.text and ticks == [1]
        (again,) = pool.run([(2, path)], detect=False)
        assert again.number == 2 and HOUSEHOLD in again.ocr.text


def test_pool_rotates_a_sideways_page_upright_before_ocr(tmp_path: Path, a4_page):
    path = tmp_path / "sideways.png"
    a4_page.rotate(-90, expand=True).save(path)
    with OcrPool(workers=1) as pool:
        (result,) = pool.run([(1, path)])
    assert result.rotation == 270
    assert (result.ocr.width, result.ocr.height) == a4_page.size  # boxes are in upright pixels
    assert HOUSEHOLD in result.ocr.text


def test_default_engine_turns_an_upside_down_page_upright(tmp_path: Path, a4_page):
    """RapidOCR 3 reads upside-down text too (at lower confidence): the page must still turn."""
    from ingest.ocr.worker import ocr_page

    path = tmp_path / "upside-down.png"
    a4_page.rotate(180).save(path)
    result = ocr_page(1, path, "rapidocr")
    assert result.rotation == 180
    assert HOUSEHOLD in result.ocr.text

