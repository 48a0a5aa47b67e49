"""ID numbers are covered on page images and in downloads unless a role may see them in full.

The unit tests build OCR results and PDFs by hand. The rest is real: synthetic dossier pages
(``ingest.synthetic``) ingested with the real OCR engine into a SQLite archive, read through the
Flask app as a staff member, an archivist and a role granted ``see_full_id``, and what was served
read back with RapidOCR (images) and pdfium (the PDF's text).
"""
from __future__ import annotations

import io
import random
import re
from pathlib import Path

import pikepdf
import pypdfium2
import pytest
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from ingest import redaction
from ingest.assemble import PageLayer, assemble
from ingest.ocr.base import OcrLine, OcrPage, OcrWord
from records.catalogue import add_user
from records.model import AuditEvent, Page
from records.policy import Action, Principal, Role
from tests.conftest import make_archive

PASSWORD = "Redact-test-9"
HOUSEHOLD = "220381105012-0042"  # make_archive's household
ID = "220381198001011234"  # valid check digit
MASKED = "2203**********1234"
GRANTS = "see_full_id=staff,archivist"


# -- units: where the hidden digits are ---------------------------------------------------
def test_hidden_characters_are_the_ten_that_mask_hides():
    text = f"身份证号码{ID}，户号"
    [span] = redaction.hidden_characters(text)
    assert "".join(text[i] for i in span) == ID[4:14]
    # spaces OCR put into the number, full-width digits, a wrong check digit: still an ID
    spaced = "号码 22038119800 1011234"
    [span] = redaction.hidden_characters(spaced)
    assert "".join(spaced[i] for i in span) == "8119800101"
    wide = "２２０３８１１９８００１０１１２３４"
    assert len(redaction.hidden_characters(wide)[0]) == 10
    assert redaction.hidden_characters("220381198001011235")  # check digit wrong
    # a digit joined to the number (a phone number or date OCR ran into it): still covered
    assert redaction.hidden_characters(ID + "5") == [list(range(4, 14))]
    # not an ID: 19 digits of a bank card, 17 digits, a household number
    assert redaction.hidden_characters("6222021234567890123") == []
    assert redaction.hidden_characters("22038119800101123") == []
    assert redaction.hidden_characters("220381105012-0042") == []


def test_a_line_without_word_boxes_is_split_by_character_width():
    # 5 Han characters (a full em each) then 18 digits (half an em each): 14 em over 1400 px
    line = OcrLine(text=f"身份证号码{ID}", box=(100, 50, 1500, 100), confidence=90.0)
    page = OcrPage(width=2000, height=1000, lines=[line], engine="test")
    [region] = redaction.id_regions(page)
    digit = 50.0
    first_hidden = 100 + 5 * 100 + 4 * digit  # after 5 Han characters and 4 kept digits
    margin_x, margin_y = redaction.MARGIN_X * digit, redaction.MARGIN_Y * 50
    expected = ((first_hidden - margin_x) / 2000, (50 - margin_y) / 1000,
                (first_hidden + 10 * digit + margin_x) / 2000, (100 + margin_y) / 1000)
    assert region == pytest.approx(expected)


def test_word_boxes_are_used_and_split_when_the_number_spans_two_words():
    # Tesseract style: the number read as two words with a gap between them
    words = (OcrWord("身份证号码", (100, 50, 600, 100), 90.0),
             OcrWord("22038119800", (600, 50, 1150, 100), 90.0),  # 50 px per digit
             OcrWord("1011234", (1250, 50, 1600, 100), 90.0))  # 50 px per digit
    line = OcrLine(text="身份证号码22038119800 1011234", box=(100, 50, 1600, 100),
                   confidence=90.0, words=words)
    [region] = redaction.id_regions(OcrPage(width=2000, height=1000, lines=[line], engine="t"))
    left, right = 600 + 4 * 50, 1250 + 3 * 50  # digit 5 starts; digit 14 ("1" of "101") ends
    margin_x = redaction.MARGIN_X * (right - left) / 10
    assert region[0] == pytest.approx((left - margin_x) / 2000)
    assert region[2] == pytest.approx((right + margin_x) / 2000)


def test_words_that_do_not_spell_the_line_fall_back_to_the_line_box():
    words = (OcrWord("别的", (0, 0, 10, 10), 90.0),)
    line = OcrLine(text=ID, box=(0, 0, 900, 40), confidence=90.0, words=words)
    [region] = redaction.id_regions(OcrPage(width=900, height=100, lines=[line], engine="t"))
    assert region[0] == pytest.approx((4 * 50 - redaction.MARGIN_X * 50) / 900)
    assert region[2] == pytest.approx((14 * 50 + redaction.MARGIN_X * 50) / 900)


def test_a_vertical_line_is_covered_whole_and_a_page_without_ids_has_no_regions():
    vertical = OcrLine(text=ID, box=(100, 0, 140, 900), confidence=90.0)
    [region] = redaction.id_regions(OcrPage(width=1000, height=1000, lines=[vertical],
                                            engine="t"))
    assert region[0] <= 0.1 and region[2] >= 0.14 and region[1] == 0.0 and region[3] >= 0.9
    plain = OcrLine(text="户号220381105012-0042 电话13912345678", box=(0, 0, 900, 40),
                    confidence=90.0)
    assert redaction.id_regions(OcrPage(width=900, height=100, lines=[plain], engine="t")) == []


def test_regions_are_stored_rounded_outwards_and_unknown_stays_unknown():
    regions = [(0.123456789, 0.2, 0.3000001, 0.4)]
    [(x0, y0, x1, y1)] = redaction.loads(redaction.dumps(regions))
    assert x0 <= 0.123456789 and x1 >= 0.3000001 and x1 - x0 < 0.1771
    assert redaction.dumps([]) == "[]" and redaction.loads("[]") == []
    assert redaction.dumps(None) is None and redaction.loads(None) is None


def test_cover_paints_the_regions_black_and_nothing_else():
    image = Image.new("RGB", (200, 100), "white")
    redaction.cover(image, [(0.25, 0.5, 0.5, 1.0)])
    assert image.getpixel((60, 70)) == (0, 0, 0) and image.getpixel((99, 99)) == (0, 0, 0)
    assert image.getpixel((40, 70)) == (255, 255, 255)
    assert image.getpixel((60, 40)) == (255, 255, 255)
    assert image.getpixel((101, 70)) == (255, 255, 255)


# -- units: the same regions from a PDF's text layer, and the redacted copy -----------------
def _blank_pdf(path: Path, box=(0, 0, 600, 400)) -> Path:
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(box[2] - box[0], box[3] - box[1]))
    page.obj.MediaBox = pikepdf.Array(list(box))
    pdf.save(path)
    return path


def _id_line_page(width: int, height: int) -> OcrPage:
    line = OcrLine(text=f"公民身份号码{ID}", box=(int(width * 0.1), int(height * 0.4),
                                               int(width * 0.9), int(height * 0.5)),
                   confidence=95.0)
    return OcrPage(width=width, height=height, lines=[line], engine="test")


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_regions_read_from_the_text_layer_match_those_from_the_ocr_boxes(tmp_path, rotate):
    box = (20, 30, 620, 430)  # a page box that does not start at the origin
    shown = (400, 600) if rotate % 180 else (600, 400)  # points as displayed
    ocr = _id_line_page(shown[0] * 3, shown[1] * 3)  # OCR at 216 dpi of the displayed page
    out = tmp_path / "page.pdf"
    assemble(_blank_pdf(tmp_path / "base.pdf", box), [PageLayer(1, rotate, ocr)], out, title="t")
    [from_ocr] = redaction.id_regions(ocr)
    [from_pdf] = redaction.regions_from_pdf(out, [1])[1]
    assert from_pdf == pytest.approx(from_ocr, abs=0.004)


def _jpeg(size, colour="white") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG")
    return buf.getvalue()


def test_the_redacted_copy_masks_the_text_layer_and_paints_the_page(tmp_path):
    ocr = _id_line_page(1800, 1200)
    archival = tmp_path / "archival.pdf"
    assemble(_blank_pdf(tmp_path / "base.pdf"), [PageLayer(1, 90, ocr)], archival,
             title=f"王德胜 {ID}")
    original = archival.read_bytes()
    assert ID in _pdf_text(original)  # the archival layer holds the number (so this can fail)
    regions = redaction.id_regions(ocr)
    copy = redaction.redacted_pdf(original, [redaction.PageImage(_jpeg((1200, 1800)), regions)],
                                  title=f"王德胜 {ID}")
    text = _pdf_text(copy)
    assert ID not in text and MASKED in text
    with pikepdf.open(io.BytesIO(copy)) as pdf:
        page = pdf.pages[0]
        assert int(page.obj.Rotate) == 90 and [float(v) for v in page.mediabox] == [0, 0, 600, 400]
        assert ID not in str(pdf.docinfo.get("/Title"))
    # the covered region is black where it is shown, the rest of the page white
    shown = pypdfium2.PdfDocument(copy)[0].render(scale=2).to_pil().convert("L")
    x0, y0, x1, y1 = regions[0]
    inside = shown.getpixel((int((x0 + x1) / 2 * shown.width), int((y0 + y1) / 2 * shown.height)))
    assert inside < 40 and shown.getpixel((5, 5)) > 215


# -- the real thing: ingest, serve, read back ------------------------------------------------
def _pdf_text(data: bytes) -> str:
    doc = pypdfium2.PdfDocument(data)
    try:
        return "\n".join(doc[i].get_textpage().get_text_bounded() for i in range(len(doc)))
    finally:
        doc.close()


def _geometry_page(path: Path) -> list[tuple[int, int, int, int]]:
    """A small page printing ``公民身份号码 <ID>``; returns the ink box of each ID digit."""
    from ingest.synthetic import fonts_available

    image = Image.new("L", (1400, 320), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(fonts_available()[0], 52)
    label, x, y = "公民身份号码 ", 60, 130
    draw.text((x, y), label + ID, font=font, fill=0)
    digits = []
    for k in range(len(ID)):
        left = x + font.getlength(label + ID[:k])
        digits.append(draw.textbbox((left, y), ID[k], font=font))
    image.save(path, dpi=(300, 300))
    return digits


def _born_digital_pdf(path: Path) -> Path:
    """A PDF with real text (Helvetica, not embedded) printing an ID number: nothing to OCR."""
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(500, 150))
    font = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
                                                BaseFont=pikepdf.Name.Helvetica))
    page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    page.obj.Contents = pdf.make_stream(f"BT /F1 24 Tf 40 70 Td (ID {ID}) Tj ET".encode())
    pdf.save(path)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from ingest.pipeline import IngestRequest, Ingestor
    from ingest.synthetic import make_households, make_regions, render_document

    root = tmp_path_factory.mktemp("redaction")
    archive = make_archive(root)
    with archive.Session() as s, s.begin():
        add_user(s, "clerk", PASSWORD, "staff", "220381105012")
        add_user(s, "keeper", PASSWORD, "archivist", "220381105012")
    rng = random.Random(11)
    villages = [r for r in make_regions(rng) if len(r.code) == 12]
    household = make_households(rng, villages, 1)[0]
    pages = [render_document(household, doc_type, random.Random(5))[0]
             for doc_type in ("application", "hukou_copy")]
    scan = root / "dossier.tiff"
    pages[0].image.save(scan, save_all=True, append_images=[pages[1].image],
                        compression="tiff_deflate", dpi=(300, 300))
    ids = [p.id_number for p in household.members]
    printed = [[i for i in ids if i in page.ground_truth.replace(" ", "")] for page in pages]
    assert printed[0] and len(printed[1]) >= 2
    geometry = root / "geometry.png"
    digits = _geometry_page(geometry)
    with Ingestor(archive, workers=2) as ingestor:
        dossier = ingestor.ingest(IngestRequest(path=scan, household=HOUSEHOLD,
                                                doc_type="application", actor="test"))
        card = ingestor.ingest(IngestRequest(path=geometry, household=HOUSEHOLD,
                                             doc_type="id_card_copy", actor="test"))
        born = ingestor.ingest(IngestRequest(path=_born_digital_pdf(root / "born.pdf"),
                                             household=HOUSEHOLD, doc_type="income_certificate",
                                             actor="test"))
    yield {"archive": archive, "dossier": dossier.document_id, "printed": printed,
           "card": card.document_id, "digits": digits, "born": born.document_id}
    archive.close()


@pytest.fixture(scope="module")
def reader():
    """RapidOCR, in this process, to read back what was served."""
    from ingest.ocr import get_engine

    engine = get_engine("rapidocr")

    def read(image: Image.Image) -> str:
        return re.sub(r"\s+", "", engine.recognize(image).text)

    return read


def _client(world, username: str, grants: str = ""):
    from web.app import create_app

    app = create_app(archive=world["archive"],
                     test_config={"WTF_CSRF_ENABLED": False, "TESTING": True,
                                  "HUDANG_GRANTS": grants})
    client = app.test_client()
    assert client.post("/login", data={"username": username,
                                       "password": PASSWORD}).status_code == 302
    assert client.post(f"/household/{HOUSEHOLD}/purpose",
                       data={"purpose": "审核", "purpose_other": ""}).status_code == 302
    return client


def _served_image(client, document_id: int, number: int) -> Image.Image:
    r = client.get(f"/document/{document_id}/page/{number}/image")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    return Image.open(io.BytesIO(r.data)).convert("RGB")


def _regions(world, document_id: int, number: int):
    with world["archive"].Session() as s:
        page = s.scalar(select(Page).where(Page.document_id == document_id, Page.number == number))
        return redaction.loads(page.id_regions)


def test_ingest_stores_a_region_for_each_printed_id_and_never_the_number(world):
    for number, printed in enumerate(world["printed"], start=1):
        regions = _regions(world, world["dossier"], number)
        assert len(regions) >= len(printed), f"page {number}: {regions}"
        for x0, y0, x1, y1 in regions:
            assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
            assert x1 - x0 < 0.5 and y1 - y0 < 0.05  # digits, not the page
    with world["archive"].Session() as s:
        stored = " ".join(p.id_regions for p in s.scalars(select(Page)))
    assert not re.search(r"\d{10}", stored.replace(".", " "))


def test_region_covers_the_hidden_digits_where_they_were_printed_and_leaves_the_ends(world):
    digits = world["digits"]
    [region] = _regions(world, world["card"], 1)
    x0, y0, x1, y1 = (region[0] * 1400, region[1] * 320, region[2] * 1400, region[3] * 320)
    for k in range(4, 14):  # the ten digits mask hides: wholly covered
        d = digits[k]
        assert x0 <= d[0] and d[2] <= x1 and y0 <= d[1] and d[3] <= y1, (k, d, region)
    for k in (*range(0, 3), *range(15, 18)):  # the ends stay readable (the 4th and 15th may
        d = digits[k]                          # lose a sliver to the safety margin)
        assert d[2] <= x0 or d[0] >= x1, (k, d, region)


def test_staff_see_page_images_with_the_id_numbers_covered(world, reader):
    client = _client(world, "clerk")
    for number, printed in enumerate(world["printed"], start=1):
        text = reader(_served_image(client, world["dossier"], number))
        for id_number in printed:
            assert id_number not in text, f"page {number} shows {id_number[:4]}…"
            assert id_number[4:14] not in text
        # what is left readable is what the masked text shows: the last four digits
        assert any(id_number[-4:] in text for id_number in printed)


def test_a_role_granted_see_full_id_sees_the_page_image_uncovered(world, reader):
    client = _client(world, "clerk", GRANTS)
    text = reader(_served_image(client, world["dossier"], 1))
    assert world["printed"][0][0] in text


def test_a_citizen_reading_their_own_dossier_gets_the_covered_image(world):
    from web import reading

    archive = world["archive"]
    [region] = _regions(world, world["card"], 1)

    def darkness(principal, **kw) -> float:
        jpeg = reading.page_image(archive, principal, world["card"], 1, **kw)
        image = Image.open(io.BytesIO(jpeg)).convert("L")
        box = (region[0] * image.width, region[1] * image.height,
               region[2] * image.width, region[3] * image.height)
        pixels = list(image.crop(tuple(int(v) for v in box)).getdata())
        return sum(pixels) / len(pixels)

    citizen = Principal("本人查阅", frozenset({Role.citizen}), household=HOUSEHOLD)
    assert darkness(citizen, purpose="本人查阅") < 60  # the box, under the watermark
    # an archivist granted see_full_id (HUDANG_GRANTS) reads the same page uncovered
    granted = Principal("archivist", frozenset({Role.archivist}),
                        granted=frozenset({Action.see_full_id}))
    assert darkness(granted) > 120  # paper and printed digits


def _download(client, document_id: int) -> bytes:
    r = client.get(f"/document/{document_id}/download")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    return r.data


def test_an_archivist_downloads_a_copy_with_ids_covered_in_pixels_and_text(world, reader):
    archive = world["archive"]
    with archive.Session() as s:
        before = s.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    data = _download(_client(world, "keeper"), world["dossier"])
    with archive.Session() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.id > before,
                                                         AuditEvent.action == "download")))
    assert [(e.actor, e.outcome) for e in events] == [("keeper", "allowed")]
    text = _pdf_text(data)
    doc = pypdfium2.PdfDocument(data)
    assert len(doc) == 2
    for number, printed in enumerate(world["printed"], start=1):
        with pikepdf.open(io.BytesIO(data)) as pdf:
            assert "/HudangWatermark" in pdf.pages[number - 1].Resources.XObject
        raster = reader(doc[number - 1].render(scale=150 / 72).to_pil().convert("RGB"))
        for id_number in printed:
            assert id_number not in text and id_number[4:14] not in text
            assert id_number not in raster and id_number[4:14] not in raster
    assert "**********" in text  # the text layer still has the numbers' places, masked


def test_a_role_granted_see_full_id_downloads_the_archival_pdf_as_it_is(world):
    data = _download(_client(world, "keeper", GRANTS), world["dossier"])
    text = re.sub(r"\s+", "", _pdf_text(data))
    assert world["printed"][0][0] in text
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert redaction.SCAN_XOBJECT not in pdf.pages[0].Resources.get("/XObject", {})


def test_a_page_with_its_own_text_layer_gets_regions_from_the_text_positions(world, reader):
    with world["archive"].Session() as s:
        page = s.scalar(select(Page).where(Page.document_id == world["born"]))
        assert page.text_source == "pdf"  # not OCR'd: the file came with its text
    [region] = _regions(world, world["born"], 1)
    assert 0.2 < region[0] < region[2] < 0.8 and 0.4 < region[1] < region[3] < 0.7
    assert ID in reader(_served_image(_client(world, "clerk", GRANTS), world["born"], 1))
    text = reader(_served_image(_client(world, "clerk"), world["born"], 1))
    assert ID not in text and ID[4:14] not in text and ID[-4:] in text


def test_a_page_archived_before_regions_were_kept_gets_them_from_its_text_layer(world):
    archive, doc_id = world["archive"], world["card"]
    [kept] = _regions(world, doc_id, 1)
    with archive.Session() as s, s.begin():
        s.scalar(select(Page).where(Page.document_id == doc_id)).id_regions = None
    client = _client(world, "clerk")
    image = _served_image(client, doc_id, 1).convert("L")
    [found] = _regions(world, doc_id, 1)  # found in the archival PDF's text and stored
    overlap = max(0.0, min(kept[2], found[2]) - max(kept[0], found[0]))
    assert overlap >= 0.8 * (kept[2] - kept[0])
    digits = world["digits"]
    for k in range(5, 13):  # the middle of the hidden digits is dark in what was served
        d = digits[k]
        box = (d[0] + 2, d[1] + 2, d[2] - 2, d[3] - 2)
        assert max(image.crop(box).getdata()) < 100, k


def test_reocr_recomputes_the_regions_from_the_new_reading(world):
    from ingest.reocr import reocr

    archive, doc_id = world["archive"], world["card"]
    with archive.Session() as s, s.begin():
        s.scalar(select(Page).where(Page.document_id == doc_id)).id_regions = "[]"
    operator = Principal("root", frozenset({Role.operator}))
    reocr(archive, operator, doc_id, engine="tesseract", workers=1)
    [region] = _regions(world, doc_id, 1)
    x0, x1 = region[0] * 1400, region[2] * 1400
    digits = world["digits"]
    assert x0 <= digits[5][0] and digits[12][2] <= x1  # Tesseract's word box, split by digit
