"""A small archive for the desk's tests: two townships, four households with classes and
areas, born-digital documents (a text layer, so no OCR is needed) of known types, and one
account per role. Real parts: SQLite catalogue, encrypted blobs, Whoosh index, the ingest
pipeline."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pikepdf

PASSWORD = "Desk-password-7"
HEAD_ID = "22038119800101123X"
EAST, WEST = "220381105", "220381106"
COMPLETE = "220381105012-0001"  # every required type
PARTIAL = "220381105012-0042"  # three documents: application, approval form, survey
EMPTY = "220381105012-0002"  # no documents, class 3, urban
OTHER = "220381106003-0007"  # the other township
ACCOUNTS = {"archivist": ("archivist", None), "clerk": ("staff", EAST),
            "other-clerk": ("staff", WEST), "admin": ("administrator", None),
            "auditor": ("auditor", None)}
REQUIRED = ["申请书", "申报审批表", "入户调查表", "诚信承诺书", "户口簿复印件", "身份证复印件", "收入证明"]


def text_pdf(path: Path, words: str, *more_pages: str) -> Path:
    """A born-digital PDF whose text layer says ``words`` (ASCII) on its first page, and
    each of ``more_pages`` on a page of its own."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font,
                                                Subtype=pikepdf.Name.Type1,
                                                BaseFont=pikepdf.Name.Helvetica))
    for text in (words, *more_pages):
        page = pdf.add_blank_page(page_size=(595, 842))
        page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
        page.obj.Contents = pdf.make_stream(f"BT /F1 24 Tf 72 700 Td ({text}) Tj ET".encode())
    pdf.save(path)
    return path


def pdf_text(data: bytes) -> str:
    """The text layer of every page of a PDF, as pypdfium2 extracts it."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        return "\n".join(pdf[i].get_textpage().get_text_bounded() for i in range(len(pdf)))
    finally:
        pdf.close()


@dataclass(frozen=True)
class Desk:
    root: Path
    home: Path
    key_file: Path
    documents: dict[str, list[int]]  # household -> document ids in order

    def open(self):
        from ingest.archive import Archive, Settings

        return Archive.open(Settings.from_env(self.home, self.key_file))

    def copy(self, dest: Path) -> Desk:
        """A private copy of the data home (same key), for a test that changes things."""
        from conftest import copy_home

        copy_home(self.home, dest / "home")
        return Desk(dest, dest / "home", self.key_file, self.documents)

    def cli(self) -> list[str]:
        return ["--home", str(self.home), "--key-file", str(self.key_file)]


def build_desk(root: Path) -> Desk:
    from ingest.pipeline import IngestRequest, Ingestor
    from records.catalogue import add_household, add_region, add_user, get_household
    from records.model import Area
    from tests.conftest import make_archive

    archive = make_archive(root)
    sealed, index = archive.seal_id_number(HEAD_ID)
    with archive.Session() as s, s.begin():
        add_region(s, WEST, "西山镇")
        add_region(s, "220381106003", "青石村")
        add_household(s, COMPLETE, "张三", "220381105012", head_id_sealed=sealed,
                      head_id_index=index)
        add_household(s, EMPTY, "李四", "220381105012")
        add_household(s, OTHER, "李秀英", "220381106003")
        for number, cls, area in ((COMPLETE, 1, Area.rural), (PARTIAL, 2, Area.rural),
                                  (EMPTY, 3, Area.urban), (OTHER, 2, Area.rural)):
            h = get_household(s, number)
            h.review_class, h.area = cls, area
            h.enrolled_on = date(2026, 1, 10)
        for name, (role, region) in ACCOUNTS.items():
            add_user(s, name, PASSWORD, role, region)
    plan = {COMPLETE: REQUIRED, PARTIAL: ["申请书", "申报审批表", "入户调查表"],
            OTHER: ["申请书"]}
    documents: dict[str, list[int]] = {}
    with Ingestor(archive, workers=1) as ingestor:
        for number, types in plan.items():
            for i, doc_type in enumerate(types):
                path = text_pdf(root / f"{number}-{i}.pdf", f"desk {number} document {i}")
                result = ingestor.ingest(IngestRequest(
                    path=path, household=number, doc_type=doc_type, actor="test",
                    title=f"{doc_type}（{number[-4:]}）"))
                documents.setdefault(number, []).append(result.document_id)
    archive.close()
    return Desk(root, root / "home", root / "keys" / "master.key", documents)
