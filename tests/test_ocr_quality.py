"""OCR quality: page clean-up, the RapidOCR engine, engine choice, checked fields, re-OCR.

Real engines throughout (Tesseract, RapidOCR); pages are drawn or generated
here with known text and positions.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import random
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont
from sqlalchemy import select

from ingest.ocr import fields, get_engine
from ingest.ocr.preprocess import prepare
from ingest.ocr.rapid import RapidOcrEngine, model_paths
from ingest.ocr.worker import recognize_upright
from records.idnumbers import check_digit
from tests.conftest import make_archive

HUDANG = str(Path(sys.executable).with_name("hudang"))
FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
HOUSEHOLD = "220381105012-0042"
HEAD = "王德胜"
HEAD_ID = "22038119650314" + "231"
HEAD_ID += check_digit(HEAD_ID)
PREFIX = "申请人王德胜，户号"
SKEW = 2.0


def draw_page(lines: list[str], size=(1700, 1100), font_size=46) -> tuple[Image.Image, list]:
    """A white page with ``lines`` of text; returns it and each line's ink box."""
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, font_size)
    boxes = []
    for i, text in enumerate(lines):
        xy = (110, 120 + i * 110)
        draw.text(xy, text, font=font, fill=0)
        boxes.append(draw.textbbox(xy, text, font=font))
    return image, boxes


def number_box(font_size=46) -> tuple[float, float, float, float]:
    """Ink box of HOUSEHOLD on the first line of ``draw_page``."""
    font = ImageFont.truetype(FONT, font_size)
    left = 110 + font.getlength(PREFIX)
    line = ImageDraw.Draw(Image.new("L", (10, 10))).textbbox((110, 120), PREFIX + HOUSEHOLD, font=font)
    return left, line[1], line[2], line[3]


def printed_rows(grey: Image.Image, box) -> list[bool]:
    """For each pixel row from ``box``'s height above it to its height below it:
    is the row, averaged across the box's width, darker than the paper?"""
    x0, y0, x1, y1 = box
    first, last = y0 - (y1 - y0), y1 + (y1 - y0)
    assert first >= 0 and last <= grey.height
    rows = grey.crop((x0, first, x1, last)).resize((1, last - first), Image.Resampling.BOX)
    means = [rows.getpixel((0, i)) for i in range(rows.height)]
    paper = sorted(means)[int(0.9 * len(means))]
    return [m < paper - 10 for m in means]


def turned(point: tuple[float, float], size: tuple[int, int], degrees: float) -> tuple[float, float]:
    """Where ``point`` goes when an image of ``size`` is turned counter-clockwise about its centre."""
    cx, cy = size[0] / 2, size[1] / 2
    a = math.radians(degrees)
    dx, dy = point[0] - cx, point[1] - cy
    return cx + dx * math.cos(a) + dy * math.sin(a), cy - dx * math.sin(a) + dy * math.cos(a)


WITH_NUMBER = [PREFIX + HOUSEHOLD, "家庭住址：吉林省青山县东风镇红星村三组12号",
               "共同生活人口三人，月收入合计1260元", "本人承诺以上情况属实，如有虚假愿承担责任",
               "申请日期：2024年3月1日"]
WITHOUT_NUMBER = ["情况说明", "家庭住址：吉林省青山县东风镇红星村三组12号",
                  "共同生活人口三人，月收入合计1260元", "本人承诺以上情况属实，如有虚假愿承担责任"]


@pytest.fixture(scope="module")
def skewed_scan(tmp_path_factory) -> Path:
    page, _ = draw_page(WITH_NUMBER)
    skewed = page.rotate(SKEW, resample=Image.Resampling.BICUBIC, fillcolor=255)
    path = tmp_path_factory.mktemp("scan") / "skewed.png"
    skewed.save(path, dpi=(200, 200))
    return path


# -- clean-up ------------------------------------------------------------------------
def test_deskew_recovers_a_known_two_degree_skew_and_leaves_the_scan_untouched(skewed_scan):
    with Image.open(skewed_scan) as scan:
        scan.load()
    before = hashlib.sha256(scan.tobytes()).hexdigest()
    cleaned, cleanup = prepare(scan)
    assert abs(cleanup.skew - SKEW) <= 0.5
    assert hashlib.sha256(scan.tobytes()).hexdigest() == before  # the original is not modified
    assert cleaned.size == scan.size
    # a point of the cleaned copy maps back to where it is printed on the scan
    x, y = cleanup.map_point(*turned((1500, 900), scan.size, -cleanup.skew))
    assert abs(x - 1500) < 1 and abs(y - 900) < 1


def test_a_red_seal_is_not_read_as_text_and_the_text_under_it_is(tmp_path):
    """公章 over a signature line: the engine reads the line and not the seal's words."""
    page = Image.new("RGB", (1700, 900), "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(FONT, 46)
    lines = ["经审核，该户符合最低生活保障条件", "同意上报。经办人：李红梅", "二〇二四年三月一日"]
    for i, text in enumerate(lines):
        draw.text((110, 150 + i * 110), text, font=font, fill=(20, 20, 20))
    draw.text((1150, 700), "张国栋", font=font, fill=(30, 40, 150))  # blue pen stays
    ink = Image.new("L", page.size, 0)
    seal = ImageDraw.Draw(ink)
    seal.ellipse((560, 120, 1000, 560), outline=255, width=12)
    seal.text((620, 300), "青山县民政局", font=ImageFont.truetype(FONT, 54), fill=255)
    # seal ink multiplies onto the paper, as on a real page (the print under it stays dark)
    page = Image.composite(ImageChops.multiply(page, Image.new("RGB", page.size, (215, 40, 40))), page, ink)
    before = hashlib.sha256(page.tobytes()).hexdigest()
    text = recognize_upright(RapidOcrEngine(), page)[0].text.replace(" ", "")
    assert "民政局" not in text and "青山" not in text
    for line in lines + ["张国栋"]:
        assert line in text
    assert hashlib.sha256(page.tobytes()).hexdigest() == before  # the scan itself keeps its seal


# -- the RapidOCR engine ---------------------------------------------------------------
@pytest.fixture(scope="module")
def generated_page():
    from ingest import synthetic

    rng = random.Random(11)
    regions = synthetic.make_regions(rng)
    household = synthetic.make_households(rng, regions, 1)[0]
    page = synthetic.render_document(household, "application", random.Random(5),
                                     font=synthetic.fonts_available()[0])[0]
    return page, household


def test_rapidocr_reads_household_number_and_name_with_boxes_over_the_text(generated_page):
    page, household = generated_page
    ocr = RapidOcrEngine().recognize(page.image)
    assert household.number in ocr.text.replace(" ", "")
    assert household.head.name in ocr.text
    assert all(0 <= line.confidence <= 100 for line in ocr.lines)
    grey = page.image.convert("L")
    line = next(line for line in ocr.lines if household.number in line.text.replace(" ", ""))
    x0, y0, x1, y1 = line.box
    assert 0 <= x0 < x1 <= grey.width and 0 <= y0 < y1 <= grey.height
    inside = grey.crop(line.box).resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    # the box holds ink (darker than the paper) ...
    assert inside < 235
    # ... all of its printed line's ink, and none of the lines above and below it:
    # the run of printed rows through the box's middle lies inside the box, and
    # the box's other rows are paper
    printed = printed_rows(grey, line.box)
    height = y1 - y0
    top = bottom = height + height // 2  # the box's middle row
    assert printed[top], "no ink across the middle of the box"
    while printed[top - 1]:
        top -= 1
    while printed[bottom + 1]:
        bottom += 1
    assert height <= top and bottom < 2 * height, "the printed line runs out of the box"
    assert not any(printed[height:top]) and not any(printed[bottom + 1:2 * height]), \
        "the box reaches into another printed line"
    # and Han characters have no spaces
    assert not any(" " in l.text and all("\u4e00" <= c <= "\u9fff" for c in l.text.replace(" ", ""))
                   for l in ocr.lines)


def test_default_engine_is_the_maintained_rapidocr_3_with_the_models_its_wheel_installed(
        monkeypatch):
    """Python 3.13 has no rapidocr_onnxruntime; its successor rapidocr 3 does."""
    from importlib.metadata import distribution

    monkeypatch.delenv("HUDANG_OCR_ENGINE", raising=False)

    dist = distribution("rapidocr")
    assert dist.version.split(".")[0] == "3"
    engine = get_engine()
    assert isinstance(engine, RapidOcrEngine)
    assert re.fullmatch(r"rapidocr-3\.\d+\.\d+ PP-OCRv\d+", engine.name), engine.name
    # each model file is one the wheel installed (listed in its RECORD), not a later download
    installed = {Path(str(dist.locate_file(f))).resolve() for f in dist.files}
    paths = model_paths()
    assert set(paths) == {"Det", "Rec"}
    for path in paths.values():
        assert path in installed and path.suffix == ".onnx"


def test_rapidocr_models_come_from_site_packages_and_work_without_network(tmp_path):
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    for path in model_paths().values():
        assert site in path.parents and path.is_file()
    image, _ = draw_page(["户号" + HOUSEHOLD])
    image.save(tmp_path / "p.png")
    script = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network unreachable in this test')\n"
        "socket.socket.connect = refuse; socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from PIL import Image\n"
        "from ingest.ocr.rapid import RapidOcrEngine\n"
        f"page = RapidOcrEngine().recognize(Image.open({str(tmp_path / 'p.png')!r}))\n"
        f"assert {HOUSEHOLD!r} in page.text, 'household number not read'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=str(Path(__file__).resolve().parents[1]))
    assert done.returncode == 0, done.stderr[-2000:]


# -- checked fields --------------------------------------------------------------------
def test_id_number_with_a_wrong_check_digit_is_rejected():
    wrong = HEAD_ID[:17] + ("0" if HEAD_ID[17] != "0" else "1")
    valid, invalid = fields.id_numbers(f"户主身份证号：{wrong}，配偶身份证号 {HEAD_ID}")
    assert valid == [HEAD_ID] and invalid == [wrong]
    dossier = fields.Dossier(HOUSEHOLD, head_id_index="index-of-head", doc_type="id_card_copy")
    check = fields.check_page(f"公民身份号码 {wrong}", dossier, lambda v: "index-of-" + v)
    assert not check.confirmed  # a misread ID never confirms the page
    assert check.flag == "missing_identifier,invalid_id_number"
    assert check.adjust(90.0) < 90.0


def test_head_id_number_confirms_a_page_by_blind_index():
    dossier = fields.Dossier(HOUSEHOLD, head_id_index="index-of-head", doc_type="id_card_copy")
    check = fields.check_page(f"公民身份号码 {HEAD_ID}", dossier,
                              lambda v: "index-of-head" if v == HEAD_ID else "other")
    assert check.confirmed and check.flag is None and check.adjust(80.0) == 90.0
    other = fields.check_page("户号 220381105012-0099", dossier, lambda v: "other")
    assert other.flag == "missing_identifier,foreign_household"


# -- ingest: engine choice, flags, text layer over the skewed print ----------------------
@pytest.fixture(scope="module")
def home(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    archive = make_archive(root)
    archive.close()
    env = {**os.environ, "HUDANG_HOME": str(root / "home"),
           "HUDANG_MASTER_KEY_FILE": str(root / "keys" / "master.key")}
    for name in ("HUDANG_MASTER_KEY", "HUDANG_DATABASE_URL", "HUDANG_OCR_ENGINE"):
        env.pop(name, None)
    return root, env


def hudang(env, *args):
    done = subprocess.run([HUDANG, *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def open_archive(root: Path):
    from ingest.archive import Archive, Settings

    return Archive.open(Settings.from_env(root / "home", root / "keys" / "master.key"))


def ingest(env, path: Path, *extra: str, doc_type: str = "申请书") -> int:
    out = hudang(env, "ingest", str(path), "--household", HOUSEHOLD, "--type", doc_type,
                 "--json", *extra)
    return json.loads(out)["document_id"]


@pytest.fixture(scope="module")
def ingested(home, skewed_scan, tmp_path_factory):
    """Document ids: the skewed page by HUDANG_OCR_ENGINE=tesseract, then by --ocr-engine rapidocr;
    a two-page scan (page 1 with the household number, page 2 without) by the default engine."""
    root, env = home
    by_env = ingest({**env, "HUDANG_OCR_ENGINE": "tesseract"}, skewed_scan)
    copy = tmp_path_factory.mktemp("copy") / "again.png"
    with Image.open(skewed_scan) as image:
        image.save(copy, dpi=(200, 200), optimize=True)  # other bytes: not a duplicate
    by_option = ingest({**env, "HUDANG_OCR_ENGINE": "tesseract"}, copy, "--ocr-engine", "rapidocr")
    first, _ = draw_page(WITH_NUMBER)
    second, _ = draw_page(WITHOUT_NUMBER)
    two = tmp_path_factory.mktemp("two") / "two-pages.tiff"
    first.save(two, save_all=True, append_images=[second], dpi=(200, 200), compression="tiff_lzw")
    two_pages = ingest(env, two)
    return {"env": by_env, "option": by_option, "two_pages": two_pages}


def document(root: Path, document_id: int):
    from records.model import Document

    archive = open_archive(root)
    try:
        with archive.Session() as s:
            doc = s.get(Document, document_id)
            pages = [(p.number, p.ocr_engine, p.flag, p.ocr_confidence) for p in doc.pages]
            pdf = archive.blobs.get(doc.pdf_ref, doc.pdf_key)
            return doc.ocr_engine, pages, pdf
    finally:
        archive.close()


def test_engine_is_chosen_by_environment_and_by_option(home, ingested):
    root, env = home
    engine, pages, _ = document(root, ingested["env"])
    assert engine == "tesseract" and pages[0][1].startswith("tesseract")
    engine, pages, _ = document(root, ingested["option"])
    assert engine == "rapidocr" and pages[0][1].startswith("rapidocr")
    engine, _, _ = document(root, ingested["two_pages"])
    assert engine == "rapidocr"  # the measured default (docs/ocr.md)
    bad = subprocess.run([HUDANG, "ingest", "x.png", "--household", HOUSEHOLD, "--type", "申请书",
                          "--ocr-engine", "nope"], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "available engines" in bad.stderr


def test_page_that_should_carry_the_household_number_and_does_not_is_flagged(home, ingested):
    root, _ = home
    _, pages, _ = document(root, ingested["two_pages"])
    flags = {number: flag for number, _, flag, _ in pages}
    assert flags[1] is None
    assert flags[2] == fields.MISSING_IDENTIFIER


def char_boxes(pdf: bytes, needle: str, dpi: float) -> list[tuple[float, float, float, float]]:
    doc = pdfium.PdfDocument(pdf)
    try:
        page = doc[0]
        textpage = page.get_textpage()
        found = textpage.search(needle).get_next()
        assert found is not None, "household number not in the text layer"
        height = page.get_height()
        boxes = []
        for i in range(found[0], found[0] + found[1]):
            left, bottom, right, top = textpage.get_charbox(i)
            boxes.append((left * dpi / 72, (height - top) * dpi / 72,
                          right * dpi / 72, (height - bottom) * dpi / 72))
        return boxes
    finally:
        doc.close()


@pytest.mark.parametrize("which", ["env", "option"])
def test_text_layer_lands_on_the_skewed_print_and_the_scan_is_kept(home, ingested, skewed_scan,
                                                                   which):
    root, _ = home
    _, _, pdf = document(root, ingested[which])
    scan = Image.open(skewed_scan)
    x0, y0, x1, y1 = number_box()
    centre = turned(((x0 + x1) / 2, (y0 + y1) / 2), scan.size, SKEW)
    half_w, half_h = (x1 - x0) / 2, (y1 - y0) / 2
    for bx0, by0, bx1, by1 in char_boxes(pdf, HOUSEHOLD, 200):
        cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
        assert abs(cx - centre[0]) <= half_w + 10
        # along a line turned by 2 degrees the print drifts by x * tan(2 degrees)
        drift = abs(cx - centre[0]) * math.tan(math.radians(SKEW))
        assert abs(cy - centre[1]) <= half_h / 2 + drift + 8
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        (xobject,) = doc.pages[0].obj.Resources.XObject.values()
        kept = pikepdf.PdfImage(xobject).as_pil_image().convert("L")
    # the archival page holds the scan as it was, skew and all, not the cleaned copy
    assert kept.size == scan.size
    assert kept.tobytes() == scan.convert("L").tobytes()


# -- low-confidence pages and re-OCR ------------------------------------------------------
@pytest.fixture(scope="module")
def degraded_doc(home, tmp_path_factory, generated_page):
    """A degraded copy of a generated application ingested by Tesseract (it reads it badly)."""
    from ingest import synthetic

    root, env = home
    page, household = generated_page
    image = synthetic.degrade(page.image, random.Random(3))
    path = tmp_path_factory.mktemp("degraded") / "degraded.png"
    image.save(path, dpi=(300, 300))
    return ingest(env, path, "--ocr-engine", "tesseract")


def stored_texts(root: Path, document_id: int) -> tuple[str, dict]:
    from records.model import Document

    archive = open_archive(root)
    try:
        with archive.Session() as s:
            doc = s.get(Document, document_id)
            page = doc.pages[0]
            text = archive.blobs.get(page.text_ref, page.text_key).decode("utf-8")
            refs = {"pdf": doc.pdf_ref, "text": page.text_ref, "confidence": page.ocr_confidence,
                    "engine": page.ocr_engine}
            return text, refs
    finally:
        archive.close()


def han_bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)
            if all("\u4e00" <= c <= "\u9fff" for c in text[i:i + 2])}


def test_low_confidence_listing_and_reocr_replace_text_layer_index_and_blobs(home, degraded_doc,
                                                                             generated_page):
    from records.model import AuditEvent
    from records.policy import Principal, Role
    from web import reading

    root, env = home
    old_text, old = stored_texts(root, degraded_doc)
    assert old["engine"].startswith("tesseract")
    listed = json.loads(hudang(env, "pages", "low-confidence", "--below", f"{old['confidence'] + 0.5}",
                               "--json"))
    assert {"document_id": degraded_doc, "page": 1} in [
        {"document_id": p["document_id"], "page": p["page"]} for p in listed]
    listed = json.loads(hudang(env, "pages", "low-confidence", "--below",
                               f"{old['confidence'] - 0.5}", "--json"))
    assert degraded_doc not in [p["document_id"] for p in listed]

    hudang(env, "reocr", str(degraded_doc), "--page", "1", "--ocr-engine", "rapidocr")

    new_text, new = stored_texts(root, degraded_doc)
    assert new["engine"].startswith("rapidocr") and new_text != old_text
    page, household = generated_page
    assert household.number in new_text.replace(" ", "")
    _, _, pdf = document(root, degraded_doc)
    doc = pdfium.PdfDocument(pdf)
    try:
        layer = doc[0].get_textpage().get_text_bounded().replace("\r\n", "\n")
    finally:
        doc.close()
    # the new text layer, and only it (pdfium decides line breaks between boxes itself)
    assert "".join(layer.split()) == "".join(new_text.split())

    archive = open_archive(root)
    try:
        who = Principal("tester", frozenset({Role.operator}))
        metadata = han_bigrams(page.title + household.head.name + "申请书")
        only_old = sorted(han_bigrams(old_text) - han_bigrams(new_text) - metadata)
        only_new = sorted(han_bigrams(new_text) - han_bigrams(old_text) - metadata)
        assert only_old and only_new  # Tesseract misread the degraded copy somewhere
        hits = reading.search(archive, who, only_new[0]).hits
        assert degraded_doc in [h.document_id for h in hits]
        for gone in only_old[:5]:
            hits = reading.search(archive, who, gone).hits
            assert degraded_doc not in [h.document_id for h in hits]
        with archive.Session() as s:
            events = s.scalars(select(AuditEvent).where(AuditEvent.action == "reocr",
                                                        AuditEvent.object_id == str(degraded_doc)))
            assert [e.outcome for e in events] == ["allowed"]
        for ref in (old["pdf"], old["text"]):  # old blobs shredded
            assert not archive.blobs.path_of(ref).exists()
        assert archive.blobs.path_of(new["pdf"]).exists()
    finally:
        archive.close()
    # the text is nowhere in the clear outside the search index
    needle = max((line for line in new_text.splitlines()), key=len).encode("utf-8")
    assert len(needle) >= 18
    for path in (root / "home").rglob("*"):
        if path.is_file() and "index" not in path.relative_to(root / "home").parts:
            assert needle not in path.read_bytes(), path.name
    assert not any((root / "home" / "tmp").iterdir())
