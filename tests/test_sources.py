"""Tests of ingest.sources.normalize against the shared corpus, and of the sandbox.

The expected outcome of every corpus file is written out below from
../shared/corpus/SOURCES.md; the policy behind it is docs/ingest-inputs.md.
"""
from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pikepdf
import pytest
from PIL import Image, ImageChops, ImageStat

from conftest import CORPUS, corpus_files
from ingest.exceptions import (
    IngestError,
    PasswordProtected,
    ResourceLimit,
    UnreadableInput,
    UnsupportedFormat,
)
from ingest.sandbox import MEMORY_REASON, run_limited
from ingest.sources import Limits, NormalizedSource, normalize

from corpus_table import HOSTILE, REAL, REJECT

LIMITS = Limits()
KIND_BY_SUFFIX = {".pdf": "pdf", ".tif": "tiff", ".tiff": "tiff", ".jpg": "jpeg", ".png": "png"}
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
NO_CORPUS = f"the shared test corpus is not at {CORPUS} (set HUDANG_CORPUS, or clone beside shared/)"


def _params(sub: str) -> list:
    files = corpus_files(sub)
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=NO_CORPUS), id="no-corpus")]
    return [pytest.param(f, id=f.name) for f in files]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


# --- shared checks ------------------------------------------------------------------


def _assert_rejection(exc: IngestError, name: str) -> None:
    message = str(exc)
    assert message.startswith(f"cannot ingest '{name}':"), message
    assert "\n" not in message and len(message) < 300, message


def _display_size(box: tuple[float, float, float, float], rotate: int) -> tuple[float, float]:
    width, height = box[2] - box[0], box[3] - box[1]
    return (height, width) if rotate in (90, 270) else (width, height)


def _assert_normalized(result: NormalizedSource, pages: int, workdir: Path) -> None:
    """Properties every successful ingest must have, whatever the input."""
    assert len(result.pages) == pages
    assert [p.number for p in result.pages] == list(range(1, pages + 1))
    assert result.base_pdf.parent == workdir and result.base_pdf.stat().st_size > 0
    with pikepdf.open(result.base_pdf) as pdf:
        assert len(pdf.pages) == pages
        assert not pdf.is_encrypted
        for key in ("/OpenAction", "/AA", "/AcroForm", "/Names"):
            assert key not in pdf.Root, key
        for page, source_page in zip(pdf.pages, result.pages):
            for key in ("/Annots", "/AA", "/CropBox"):
                assert key not in page.obj, key
            assert tuple(float(v) for v in page.obj.MediaBox) == pytest.approx(source_page.box, abs=1e-3)
            assert int(page.obj.get("/Rotate", 0)) == source_page.rotate
    for page in result.pages:
        assert page.rotate in (0, 90, 180, 270)
        assert page.raster.parent == workdir and page.raster.stat().st_size > 0
        with Image.open(page.raster) as im:
            assert im.format == "PNG" and im.mode in ("RGB", "L")
            width, height = im.size
        assert width * height <= LIMITS.max_pixels_per_page
        # The raster shows exactly the box, turned by /Rotate, with square pixels.
        box_w, box_h = _display_size(page.box, page.rotate)
        assert width == pytest.approx(box_w / 72 * page.dpi, abs=2)
        assert height == pytest.approx(box_h / 72 * page.dpi, abs=2)
        assert page.existing_text is None or page.existing_text.strip()


# --- hostile corpus -----------------------------------------------------------------


def test_hostile_table_covers_the_corpus(corpus_dir: Path) -> None:
    assert {p.name for p in corpus_files("hostile")} == set(HOSTILE)


@pytest.mark.corpus
@pytest.mark.timeout(180)
@pytest.mark.parametrize("source", _params("hostile"))
def test_hostile_input(source: Path, workdir: Path) -> None:
    assert source.name in HOSTILE, f"add {source.name} to the HOSTILE table (see SOURCES.md)"
    mode, expected = HOSTILE[source.name]
    try:
        result = normalize(source, workdir)
    except IngestError as exc:
        assert mode in (REJECT, "either"), f"unexpected rejection: {exc}"
        if mode == REJECT:
            assert isinstance(exc, expected), f"{type(exc).__name__}: {exc}"
        _assert_rejection(exc, source.name)
        assert list(workdir.iterdir()) == [], "a rejected file left files behind"
        return
    assert mode != REJECT, f"{source.name} should have been rejected"
    _assert_normalized(result, expected, workdir)
    if source.name == "pdf-page-without-contents.pdf":
        assert result.pages[0].blank
    if source.name.startswith("pdf-encrypted-owner-only"):
        assert any("decrypted" in w for w in result.warnings)


@pytest.mark.corpus
@pytest.mark.timeout(180)
@pytest.mark.parametrize("pair", ["md5-collision-{}.jpg", "sha1-collision-{}.pdf"])
def test_collision_twins_stay_distinct(pair: str, corpus_dir: Path, tmp_path: Path) -> None:
    rasters = []
    for twin, suffix in zip("ab", ("a-green-circle", "b-red-x") if "md5" in pair else ("a", "b")):
        work = tmp_path / twin
        work.mkdir()
        result = normalize(corpus_dir / "hostile" / pair.format(suffix), work)
        rasters.append(result.pages[0].raster.read_bytes())
    assert rasters[0] != rasters[1]


# --- real corpus --------------------------------------------------------------------


def test_real_table_covers_the_corpus(corpus_dir: Path) -> None:
    assert {p.name for p in corpus_files("real")} == set(REAL)


def _raster(result: NormalizedSource, index: int = 0) -> Image.Image:
    with Image.open(result.pages[index].raster) as im:
        return im.copy()


def _check_tiff_orientation_6(result: NormalizedSource) -> None:
    # Stored 590x88 with Orientation=6; Pillow's libtiff decoder turns it upright
    # ('This is a test file' on one horizontal line): the raster must be that line.
    im = _raster(result)
    assert im.width > 3 * im.height


def _check_jpeg_exif_6(result: NormalizedSource, source: Path) -> None:
    # Stored 180x320 portrait; upright the word 'Tesseract.js' runs across a landscape image.
    im = _raster(result)
    assert im.size == (320, 180)
    page = result.pages[0]
    assert page.rotate == 90  # original bytes kept, turned by /Rotate
    with pikepdf.open(result.base_pdf) as pdf:
        image = next(iter(pdf.pages[0].obj.Resources.XObject.values()))
        assert image.read_raw_bytes() == source.read_bytes()


def _check_jpeg_exif_3(result: NormalizedSource) -> None:
    assert result.pages[0].rotate == 180
    assert _raster(result).size == (752, 306)


def _check_rgba_on_white(result: NormalizedSource) -> None:
    for index in range(3):
        im = _raster(result, index).convert("L")
        assert min(im.getpixel(xy) for xy in ((0, 0), (im.width - 1, im.height - 1))) >= 240
        assert ImageStat.Stat(im).mean[0] > 200  # paper is white, not black


def _check_cmyk_not_inverted(result: NormalizedSource) -> None:
    im = _raster(result).convert("L")
    assert im.getpixel((0, 0)) >= 200
    assert ImageStat.Stat(im).mean[0] > 150  # a map on light paper; inverted it would be dark


def _check_anisotropic(result: NormalizedSource) -> None:
    with pikepdf.open(result.base_pdf) as pdf:
        image = next(iter(pdf.pages[0].obj.Resources.XObject.values()))
        width_px, height_px = int(image.Width), int(image.Height)
    box = result.pages[0].box
    assert (box[2] - box[0]) / (box[3] - box[1]) == pytest.approx((width_px / 200) / (height_px / 100), rel=0.01)


def _check_2400dpi(result: NormalizedSource) -> None:
    box = result.pages[0].box
    assert box[2] - box[0] == pytest.approx(120, abs=0.5)
    assert box[3] - box[1] == pytest.approx(86, abs=0.5)
    assert result.pages[0].dpi > LIMITS.raster_dpi  # small original: finer raster keeps the text


def _check_poster(result: NormalizedSource) -> None:
    page = result.pages[0]
    assert page.box == pytest.approx((0, 0, 1800, 3600), abs=0.5)
    im = _raster(result)
    assert im.width * im.height <= LIMITS.max_pixels_per_page


def _check_typewriter(result: NormalizedSource) -> None:
    box = result.pages[0].box
    assert (box[2] - box[0]) / 72 < 50  # the assumed dpi keeps the page a page
    assert result.pages[0].dpi == pytest.approx(300)


def _check_chinese_text_layer(result: NormalizedSource) -> None:
    text = result.pages[0].existing_text
    assert text is not None and CJK.search(text)


def _check_japanese_vertical(result: NormalizedSource) -> None:
    _check_chinese_text_layer(result)  # page 1 holds 日本語 あいうえお


def _check_mixed(result: NormalizedSource) -> None:
    assert [p.existing_text is None for p in result.pages] == [True] * 3 + [False] * 3
    for page in result.pages[3:]:
        assert f"Page {page.number}" in (page.existing_text or "")


def _check_sandwich(result: NormalizedSource) -> None:
    assert result.pages[0].existing_text  # already OCR'd: no second layer


def _check_six_pages(result: NormalizedSource) -> None:
    # Page 2 holds a 9000x9000 image on a 30 in page: the raster is capped, not giant.
    assert result.pages[1].dpi < LIMITS.raster_dpi
    assert result.pages[3].existing_text is not None


def _check_rotate_90(result: NormalizedSource) -> None:
    page = result.pages[0]
    assert page.rotate == 90
    im = _raster(result)
    assert im.height > im.width  # 792x612 MediaBox shown portrait


EXTRA_CHECKS = {
    "tiff-orientation-tag-6-g4.tif": _check_tiff_orientation_6,
    "jpeg-cjk-chinese-exif-orientation-3.jpg": _check_jpeg_exif_3,
    "tiff-multipage-3p-rgba-alpha-deflate.tiff": _check_rgba_on_white,
    "jpeg-cmyk-200dpi-multilingual-map.jpg": _check_cmyk_not_inverted,
    "scan-anisotropic-dpi-200x100.pdf": _check_anisotropic,
    "scan-2400dpi-tiny-page.pdf": _check_2400dpi,
    "scan-poster-page-25x50in-jpeg.pdf": _check_poster,
    "png-typewriter-palette-no-dpi.png": _check_typewriter,
    "pdf-cjk-simplified-chinese-text-layer.pdf": _check_chinese_text_layer,
    "pdf-cjk-japanese-vertical-text-layer.pdf": _check_japanese_vertical,
    "pdf-mixed-3-image-pages-3-text-pages.pdf": _check_mixed,
    "pdf-text-layer-already-ocred-sandwich.pdf": _check_sandwich,
    "scan-6pages-mixed-sizes-and-codecs.pdf": _check_six_pages,
    "scan-rotate90-and-skewed-jbig2.pdf": _check_rotate_90,
}


@pytest.mark.corpus
@pytest.mark.timeout(180)
@pytest.mark.parametrize("source", _params("real"))
def test_real_input(source: Path, workdir: Path) -> None:
    assert source.name in REAL, f"add {source.name} to the REAL table (see SOURCES.md)"
    result = normalize(source, workdir)
    assert result.path == source and result.kind == KIND_BY_SUFFIX[source.suffix]
    _assert_normalized(result, REAL[source.name], workdir)
    assert not any(p.blank for p in result.pages if result.kind != "pdf")
    if source.name == "jpeg-exif-orientation-6.jpg":
        _check_jpeg_exif_6(result, source)
    elif source.name in EXTRA_CHECKS:
        EXTRA_CHECKS[source.name](result)


# --- failure handling ---------------------------------------------------------------


@pytest.mark.corpus
@pytest.mark.timeout(60)
def test_timeout_mid_render_leaves_workdir_as_found(corpus_dir: Path, workdir: Path) -> None:
    keep = workdir / "someone-elses.txt"
    keep.write_text("keep me")
    # 30 pages at 600 dpi take far longer than 2 s on any machine here: the child is
    # killed after writing some rasters, whatever the load.
    source = corpus_dir / "hostile" / "pdf-xref-prev-loop-30pages.pdf"
    with pytest.raises(ResourceLimit) as info:
        normalize(source, workdir, Limits(seconds=2, raster_dpi=600))
    assert str(info.value) == f"cannot ingest '{source.name}': reading the file took longer than 2 s"
    assert [p.name for p in workdir.iterdir()] == [keep.name]


@pytest.mark.corpus
@pytest.mark.timeout(60)
def test_memory_limit_in_normalize(corpus_dir: Path, workdir: Path) -> None:
    # Rendering the 9000x9000 page 2 needs more than this.
    source = corpus_dir / "real" / "scan-6pages-mixed-sizes-and-codecs.pdf"
    with pytest.raises(ResourceLimit) as info:
        normalize(source, workdir, Limits(memory_bytes=350 * 1024**2))
    assert str(info.value) == f"cannot ingest '{source.name}': {MEMORY_REASON}"
    assert list(workdir.iterdir()) == []


# --- sandbox ------------------------------------------------------------------------
# Child-side helpers must be module-level so the 'spawn' child can import them.


def _allocate(size: int) -> int:
    return len(bytearray(size))


def _segfault() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)
    time.sleep(10)


def _refuse_password() -> None:
    raise PasswordProtected(Path("ignored.pdf"), "the PDF is password-protected; remove the password and try again")


def _add(a: int, b: int) -> int:
    return a + b


SANDBOX_FILE = Path("/uploads/scan.pdf")


@pytest.mark.timeout(60)
def test_sandbox_returns_the_result() -> None:
    assert run_limited(_add, (2, 3), path=SANDBOX_FILE, seconds=30, memory_bytes=2 * 1024**3) == 5


@pytest.mark.timeout(60)
def test_sandbox_stops_a_child_that_takes_too_long() -> None:
    started = time.monotonic()
    with pytest.raises(ResourceLimit) as info:
        run_limited(time.sleep, (60,), path=SANDBOX_FILE, seconds=2, memory_bytes=2 * 1024**3)
    assert str(info.value) == "cannot ingest 'scan.pdf': reading the file took longer than 2 s"
    assert time.monotonic() - started < 20


@pytest.mark.timeout(60)
def test_sandbox_stops_a_child_that_needs_too_much_memory() -> None:
    with pytest.raises(ResourceLimit) as info:
        run_limited(_allocate, (4 * 1024**3,), path=SANDBOX_FILE, seconds=30, memory_bytes=1024**3)
    assert str(info.value) == f"cannot ingest 'scan.pdf': {MEMORY_REASON}"


@pytest.mark.timeout(60)
def test_sandbox_reports_a_crashed_child() -> None:
    with pytest.raises(UnreadableInput) as info:
        run_limited(_segfault, (), path=SANDBOX_FILE, seconds=30, memory_bytes=2 * 1024**3)
    assert str(info.value) == "cannot ingest 'scan.pdf': the decoder crashed while reading the file (SIGSEGV)"


@pytest.mark.timeout(60)
def test_sandbox_passes_ingest_errors_through() -> None:
    with pytest.raises(PasswordProtected) as info:
        run_limited(_refuse_password, (), path=SANDBOX_FILE, seconds=30, memory_bytes=2 * 1024**3)
    # Re-raised in the parent, naming the parent's file.
    assert str(info.value) == (
        "cannot ingest 'scan.pdf': the PDF is password-protected; remove the password and try again"
    )
    from web.errors import ExitCode, exit_code_for

    assert exit_code_for(info.value) == ExitCode.permission


def test_error_messages_are_one_line() -> None:
    error = UnreadableInput(Path("/a/b/scan 1.pdf"), "the image data\nis damaged")
    assert str(error) == "cannot ingest 'scan 1.pdf': the image data is damaged"
    assert isinstance(ResourceLimit(Path("x"), "y"), UnreadableInput)
    assert isinstance(UnsupportedFormat(Path("x"), "y"), IngestError)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_an_image_page_is_kept_losslessly_in_the_base_pdf(mode: str, tmp_path: Path) -> None:
    """The base PDF's page image (made from the raster's own PNG data) is the scan, pixel for pixel."""
    import random

    import pypdfium2 as pdfium

    rng = random.Random(7)
    frames = []
    for k in range(2):  # a noisy scan-like page: flat regions, edges and grain
        frame = Image.effect_noise((640, 900), 40 + 20 * k).convert(mode)
        frame.paste(0 if mode == "L" else (10, 20, 200), (100, 100, 500, 140 + 30 * k))
        frame.putpixel((rng.randrange(640), rng.randrange(900)), 255 if mode == "L" else (255, 0, 0))
        frames.append(frame)
    source = tmp_path / "scan.tif"
    frames[0].save(source, save_all=True, append_images=frames[1:], compression="tiff_deflate",
                   dpi=(300, 300))
    work = tmp_path / "work"
    work.mkdir()
    result = normalize(source, work)
    with pikepdf.open(result.base_pdf) as pdf:
        for frame, page in zip(frames, pdf.pages):
            (_, raw), = page.get_images().items()
            kept = pikepdf.PdfImage(raw).as_pil_image()
            assert kept.mode == mode and kept.tobytes() == frame.tobytes()
    # and a PDF renderer draws the same pixels (the /Predictor data decodes there too)
    rendered = pdfium.PdfDocument(result.base_pdf)[1].render(scale=300 / 72).to_pil().convert(mode)
    assert abs(rendered.width - 640) <= 1 and abs(rendered.height - 900) <= 1  # rounding of 72ths
    small = [im.crop((0, 0, 640, 900)).resize((64, 90), Image.Resampling.BOX) for im in (rendered, frames[1])]
    assert ImageStat.Stat(ImageChops.difference(*small)).mean[0] < 3.0  # resampling, not garbage
