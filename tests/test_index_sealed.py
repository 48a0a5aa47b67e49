"""Nothing readable on disk: after pages are ingested, no file under the data home (index,
catalogue, blobs, journal, temporary files, logs) holds an ID number of those pages, nor a
run of four Han characters of their OCR text, nor the text of a stored field.

A household's approval form and register copy (generated, with every member's ID number
on them) go through the real pipeline (real OCR). Then every byte of every file under the
home is read as Whoosh writes it: as UTF-8 (terms and pickled stored fields are UTF-8),
and every zlib stream found in it decompressed (Whoosh compresses stored fields). The
same scan of a plain Whoosh index of the same pages finds them, so the scan can fail.

Han runs also written by the clerk as catalogue metadata (the document's title, its
type's name, region and head-of-household names: what the catalogue holds by design, not
page text) are not counted as page text. Failures name the file and what was found,
never the number or the text.
"""
from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.synthetic import is_valid_id_number

SEED = 14
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{4,}")
_ID_SHAPE = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9Xx])")
_ZLIB_HEADS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")


@dataclass(frozen=True)
class Ingested:
    home: Path
    ids: frozenset[str]  # upper case
    han: frozenset[str]  # every 4-character Han window of the page texts
    pages: tuple  # the PageDocs the index was given


def _windows(text: str) -> set[str]:
    return {run[i:i + 4] for run in _HAN_RUN.findall(text) for i in range(len(run) - 3)}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Iterator[Ingested]:
    from sqlalchemy import select

    from ingest.archive import Archive, Settings
    from ingest.indexing import iter_catalogue
    from ingest.pipeline import IngestRequest, Ingestor
    from ingest.synthetic import generate_dossier_set
    from records.catalogue import add_household, add_region
    from records.model import Document, DocumentType, Region

    root = tmp_path_factory.mktemp("sealed")
    manifest = generate_dossier_set(root / "scans", seed=SEED, households=1,
                                    doc_types=["approval_form", "hukou_copy"])
    [household] = manifest.households
    home = root / "home"
    archive = Archive.init(Settings.from_env(home, root / "keys" / "master.key"))
    try:
        with archive.Session() as s, s.begin():
            for region in sorted(manifest.regions, key=lambda r: len(r.code)):
                add_region(s, region.code, region.name, region.parent)
            sealed, index = archive.seal_id_number(household.head.id_number)
            add_household(s, household.number, household.head.name, household.region_code,
                          head_id_sealed=sealed, head_id_index=index)
        with Ingestor(archive, workers=1) as ingestor:
            for doc in manifest.documents:
                ingestor.ingest(IngestRequest(
                    path=doc.files[0], household=doc.household, doc_type=doc.doc_type, seq=doc.seq,
                    date=doc.date, title=doc.title, actor="test"))
        pages = tuple(iter_catalogue(archive))
        with archive.Session() as s:
            metadata = [*s.scalars(select(Document.title)), *s.scalars(select(DocumentType.name_zh)),
                        *s.scalars(select(Region.name)), household.head.name]
        exempt = set().union(*(_windows(m) for m in metadata))
        texts = [p.text for p in pages]
        ids = {p.id_number.upper() for p in household.members}
        ids |= {m.upper() for t in texts for m in _ID_SHAPE.findall(re.sub(r"\s", "", t))
                if is_valid_id_number(m.upper())}
        han = set().union(*(_windows(t) for t in texts)) - exempt
        assert any(n in re.sub(r"\s", "", t).upper() for t in texts for n in ids), \
            "OCR read no ID number: the test would prove nothing"
        assert len(han) > 50, "too little page text to prove anything"
        yield Ingested(home, frozenset(ids), frozenset(han), pages)
    finally:
        archive.close()


def _readings(data: bytes) -> Iterator[bytes]:
    """The bytes as they are, and every zlib stream in them decompressed."""
    yield data
    for head in _ZLIB_HEADS:
        at = data.find(head)
        while at >= 0:
            try:
                out = zlib.decompressobj().decompress(data[at:], 1 << 24)
            except zlib.error:
                out = b""
            if len(out) > 2:
                yield out
            at = data.find(head, at + 1)


def findings(folder: Path, ids: frozenset[str], han: frozenset[str]) -> list[str]:
    """What any file under ``folder`` gives away, named by file and kind, never the value."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        kinds = set()
        for reading in _readings(data):
            text = reading.decode("utf-8", errors="replace")
            upper = text.upper()
            if any(n in upper for n in ids):
                kinds.add("an ID number")
            if any(w in han for run in _HAN_RUN.findall(text) for w in _windows(run)):
                kinds.add("four Han characters of page text")
        found += [f"{path.relative_to(folder)}: {k}" for k in sorted(kinds)]
    return found


def test_no_file_under_the_home_holds_an_id_number_or_page_text(ingested: Ingested):
    files = [p for p in ingested.home.rglob("*") if p.is_file()]
    assert any(p.parent.name == "index" and p.suffix == ".seg" for p in files)  # there is an index
    assert findings(ingested.home, ingested.ids, ingested.han) == []


def test_the_same_scan_finds_them_in_a_plain_whoosh_index(ingested: Ingested, tmp_path: Path):
    from search import SearchIndex

    with SearchIndex.create(tmp_path / "plain") as plain:
        plain.add_pages(ingested.pages)
    found = findings(tmp_path / "plain", ingested.ids, ingested.han)
    assert any("an ID number" in f for f in found), found
    assert any("four Han characters" in f for f in found), found


def test_the_sealed_index_still_finds_ids_names_and_phrases_with_highlights(ingested: Ingested):
    from ingest.archive import Archive, Settings

    archive = Archive.open(Settings.from_env(ingested.home, ingested.home.parent / "keys" / "master.key"))
    try:
        assert archive.index.sealed
        text = next(p.text for p in ingested.pages if any(n in re.sub(r"\s", "", p.text).upper()
                                                           for n in ingested.ids))
        number = next(n for n in ingested.ids if n in re.sub(r"\s", "", text).upper())
        for query in (number, ingested.pages[0].head_name, ingested.pages[0].household,
                      sorted(w for w in _windows(text) if w in ingested.han)[0]):
            result = archive.index.search(query)
            assert result.hits, "a query found nothing in the sealed index"
        phrase = sorted(w for w in _windows(text) if w in ingested.han)[0]
        hit = archive.index.search(phrase).hits[0]
        assert any(matched for _seg, matched in hit.fragments)
    finally:
        archive.close()


def test_a_sealed_index_opens_only_with_its_keys(tmp_path: Path):
    from search import PageDoc, SearchIndex
    from storage import MasterKey

    key, other = MasterKey.generate(), MasterKey.generate()
    page = PageDoc(1, 1, "220381105012-0042", "王德胜", "220381105012", "application", "申请书",
                   "低保申请书", None, "申请人王德胜身份证号220381198402176941申请最低生活保障")
    with SearchIndex.create(tmp_path / "ix", keys=key) as ix:
        ix.add_pages([page])
    with SearchIndex.open(tmp_path / "ix", keys=key) as ix:
        assert [h.document_id for h in ix.search("220381198402176941").hits] == [1]
    # another key, or none: the index cannot be read, and asks to be rebuilt
    for keys in (other, None):
        with SearchIndex.open(tmp_path / "ix", keys=keys) as ix:
            assert ix.needs_rebuild


def test_a_sealed_files_parts_read_back_exactly_as_written(tmp_path: Path):
    """What a search reads of a compound segment (terms and columns decrypted whole,
    postings and stored fields through windows on the chunks, pickled block headers of
    any size) is byte for byte what a plain file gives, across chunk boundaries."""
    import random

    from whoosh.filedb.filestore import FileStorage

    from search.sealed import CHUNK, SealedStorage
    from storage import MasterKey

    rng = random.Random(7)
    blob = rng.randbytes(3 * CHUNK + 123)
    pickles = [{"n": 1}, list(range(400)), "审批表" * 3000]  # small, > 1 KiB, > 8 KiB
    sealed = SealedStorage(str(tmp_path / "sealed"), MasterKey.generate()).create()
    plain = FileStorage(str(tmp_path / "plain")).create()
    for storage in (sealed, plain):
        with storage.create_file("seg") as f:
            f.write(blob)
            for value in pickles:
                f.write_pickle(value)
            f.write_int(-42)
    head = len(blob)
    for part in ("pages_x.trm", "pages_x.pst"):  # decrypted whole / read through a window
        with sealed.open_file("seg") as s, plain.open_file("seg") as p:
            ours, theirs = s.subset(5, head - 5, name=part), p.subset(5, head - 5, name=part)
            for pos, n in [(0, 10), (CHUNK - 7, 20), (2 * CHUNK - 5, CHUNK + 9),
                           (head - 5 - 3, 100), (head, 4)]:
                assert ours.get(pos, n) == theirs.get(pos, n), (part, pos, n)
            ours.seek(CHUNK - 3)
            theirs.seek(CHUNK - 3)
            assert ours.read(10) == theirs.read(10)
            assert ours.tell() == theirs.tell()
        with sealed.open_file("seg") as s:
            rest = s.subset(head, sealed.file_length("seg") - head, name=part)
            assert [rest.read_pickle() for _ in pickles] == pickles
            assert rest.read_int() == -42
