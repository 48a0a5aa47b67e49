"""Every corpus file through the whole pipeline: stored whole, or refused leaving nothing behind.

Each hostile file must end in a one-line error naming the file (or, where
SOURCES.md allows it, a repaired ingest), and a refusal must leave the
catalogue, the blob store, the index and the work space exactly as they
were. Each real file must ingest with the page count SOURCES.md states,
upright: its text reads the right way up, and the archival PDF displays
each page in the orientation of its access image.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
import pytest
from sqlalchemy import func, select

from conftest import CORPUS, corpus_files, make_archive
from corpus_table import HOSTILE, REAL, REJECT
from ingest.exceptions import IngestError
from ingest.pipeline import IngestRequest, Ingestor
from records.model import Document, Page

HOUSEHOLD = "220381105012-0042"
NO_CORPUS = f"the shared test corpus is not at {CORPUS}"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    a = make_archive(tmp_path_factory.mktemp("corpus"))
    yield a
    a.close()


@pytest.fixture(scope="module")
def ingestor(archive):
    with Ingestor(archive) as i:
        yield i


def state(archive) -> dict:
    with archive.Session() as s:
        docs = s.scalar(select(func.count(Document.id)))
        pages = s.scalar(select(func.count(Page.id)))
    return {
        "documents": docs, "pages": pages,
        "blobs": sorted(archive.blobs.iter_refs()),
        "index": archive.index.document_ids(),
        "tmp": sorted(p.name for p in archive.settings.tmp_dir.iterdir()),
    }


def _params(sub):
    files = corpus_files(sub)
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=NO_CORPUS))]
    return [pytest.param(f, id=f.name) for f in files]


def ingest(ingestor, path: Path):
    return ingestor.ingest(IngestRequest(path=path, household=HOUSEHOLD, doc_type="other",
                                         title=path.name, actor="test"))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("source", _params("hostile"))
def test_hostile_file_is_refused_cleanly_or_repaired(source, archive, ingestor):
    mode, expected = HOSTILE[source.name]
    before = state(archive)
    try:
        result = ingest(ingestor, source)
    except IngestError as exc:
        message = str(exc)
        assert mode != "pages", f"{source.name} should ingest, but: {message}"
        assert message.startswith(f"cannot ingest '{source.name}': ") and "\n" not in message
        if mode == REJECT:
            assert isinstance(exc, expected), message
        assert state(archive) == before, "a refused file left something behind"
        return
    assert mode != REJECT, f"{source.name} should have been refused"
    assert result.pages == expected
    _assert_stored_whole(archive, result.document_id, expected)


def _assert_stored_whole(archive, document_id: int, pages: int) -> None:
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        assert doc.page_count == pages == len(doc.pages)
        pdf = archive.blobs.get(doc.pdf_ref, doc.pdf_key)
        for p in doc.pages:
            archive.blobs.verify(p.image_ref, p.image_key, p.image_sha256)
            archive.blobs.verify(p.text_ref, p.text_key, p.text_sha256)
    with pikepdf.open(io.BytesIO(pdf)) as archival:
        assert len(archival.pages) == pages
        assert not archival.is_encrypted
        assert "/OpenAction" not in archival.Root and "/Names" not in archival.Root
    assert document_id in archive.index.document_ids()


def _texts(archive, document_id: int) -> list[str]:
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        return [archive.blobs.get(p.text_ref, p.text_key).decode() for p in doc.pages]


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z]{5,}", text)}


def _ground_truth(name: str) -> set[str]:
    return _words((CORPUS / "real" / "groundtruth" / name).read_text(encoding="utf-8"))


BROCHURE = "scan-brochure-2col.groundtruth.txt"


def _reads_like(text: str, truth: set[str], share: float) -> bool:
    found = _words(text) & truth
    return len(found) >= share * len(truth)


# What proves each page was read the right way up.
UPRIGHT_TEXT = {
    "scan-4pages-baked-rotation-0-90-180-270-jbig2.pdf":
        lambda texts: all(_reads_like(t, _ground_truth(BROCHURE), 0.5) for t in texts),
    "scan-rotate90-and-skewed-jbig2.pdf":
        lambda texts: _reads_like(texts[0], _ground_truth(BROCHURE), 0.5),
    "scan-brochure-2col-jbig2-letter-300dpi.pdf":
        lambda texts: _reads_like(texts[0], _ground_truth(BROCHURE), 0.7),
    "tiff-page-rotated-90-in-pixels-lzw.tif":
        lambda texts: _reads_like(texts[0], _ground_truth("tiff-page-rotated-90.groundtruth.txt"), 0.7),
    "tiff-g4-magazine-spread-landscape-300dpi.tif":
        lambda texts: _reads_like(texts[0], _ground_truth("tiff-g4-magazine-spread.groundtruth.txt"), 0.5),
    "jpeg-cjk-chinese-exif-orientation-3.jpg": lambda texts: "我是中国人" in texts[0],
    "jpeg-exif-orientation-6.jpg": lambda texts: "tesseract" in texts[0].lower(),
    "tiff-orientation-tag-6-g4.tif": lambda texts: "test file" in " ".join(texts[0].lower().split()),
    "scan-4pages-content-rotated-0-90-180-270-jpeg.pdf":
        lambda texts: [s in t for s, t in zip(
            ("appears on the first page", "still gets the job done", "really weird file",
             "your own fault"), texts)] == [True] * 4,
    "pdf-mixed-3-image-pages-3-text-pages.pdf":
        lambda texts: all(f"page {n}" in t.lower() for n, t in enumerate(texts, 1)),
    "tiff-multipage-3p-gray-deflate.tiff":
        lambda texts: all(f"page {n}" in t.lower() for n, t in enumerate(texts, 1)),
    "tiff-multipage-3p-rgba-alpha-deflate.tiff":
        lambda texts: all(f"page {n}" in t.lower() for n, t in enumerate(texts, 1)),
    "pdf-cjk-simplified-chinese-text-layer.pdf":
        lambda texts: len(re.findall(r"[\u4e00-\u9fff]", texts[0])) >= 10,
}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("source", _params("real"))
def test_real_scan_ingests_with_its_page_count_upright(source, archive, ingestor):
    if source.is_dir():
        pytest.skip("groundtruth/ holds expected texts, not inputs")
    result = ingest(ingestor, source)
    assert not result.duplicate
    assert result.pages == REAL[source.name]
    _assert_stored_whole(archive, result.document_id, result.pages)
    _assert_pdf_displays_like_access_images(archive, result.document_id)
    check = UPRIGHT_TEXT.get(source.name)
    if check is not None:
        assert check(_texts(archive, result.document_id)), "text does not read upright"


def _assert_pdf_displays_like_access_images(archive, document_id: int) -> None:
    with archive.Session() as s:
        doc = s.get(Document, document_id)
        pdf = archive.blobs.get(doc.pdf_ref, doc.pdf_key)
        shapes = [(p.width, p.height) for p in doc.pages]
    document = pdfium.PdfDocument(pdf)
    try:
        for i, (w, h) in enumerate(shapes):
            pw, ph = document[i].get_size()  # as displayed, /Rotate applied
            if abs(w - h) > 0.05 * max(w, h):  # square-ish pages say nothing
                assert (pw > ph) == (w > h), f"page {i + 1} is not displayed upright"
    finally:
        document.close()
