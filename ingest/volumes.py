"""Daily-management records (日常管理档案) as they are catalogued: by region, year, month,
type and title, filed in one volume per region and year.

Records are filed by ingest (``ingest.pipeline``, a request with a region and a year); this
module lists them for the screens, ``hudang records ...`` and ``/api/records``, and says
what a volume holds. Every list passes the one door for ``read_household`` and is confined
to the reader's jurisdiction (a township's clerk sees the township's and its villages'
records, not the county's); a list that names records is recorded in the audit log.
Reading a volume (with its stated purpose) is ``web.reading.open_volume``.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest.archive import Archive
from ingest.cataloguing import volume_target
from ingest.locations import Where, where
from records import audit
from records.door import Knock, Target
from records.idnumbers import mask_in_text
from records.model import Document, DocumentType, Region, Volume
from records.policy import Action, Principal, region_scope


@dataclass(frozen=True)
class RecordLine:
    """One daily-management record in a list."""

    document_id: int
    volume_id: int
    region_code: str
    region_name: str
    year: int
    month: int | None
    seq: int
    type_code: str
    type_name: str
    title: str
    date: str | None
    page_count: int
    retention_class: str | None

    def as_json(self) -> dict:
        return {"document_id": self.document_id, "volume_id": self.volume_id,
                "region": self.region_code, "region_name": self.region_name,
                "year": self.year, "month": self.month, "seq": self.seq,
                "type": self.type_code, "type_name": self.type_name, "title": self.title,
                "date": self.date, "pages": self.page_count,
                "retention_class": self.retention_class}


@dataclass(frozen=True)
class Found:
    records: list[RecordLine]
    total: int
    offset: int
    limit: int
    filters: dict

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.records) < self.total

    def as_json(self) -> dict:
        return {"records": [r.as_json() for r in self.records], "total": self.total,
                "offset": self.offset, "limit": self.limit, "has_next": self.has_next,
                "filters": self.filters}


SORTS = {"region": (Volume.region_code, Volume.year, Document.month, Document.seq),
         "year": (Volume.year.desc(), Volume.region_code, Document.month, Document.seq),
         "type": (Document.type_code, Volume.year.desc(), Volume.region_code, Document.seq)}


def records(archive: Archive, who: Principal, *, region: str | None = None,
            year: int | None = None, month: int | None = None, doc_type: str | None = None,
            sort: str = "year", offset: int = 0, limit: int = 50) -> Found:
    """Daily-management records within the reader's jurisdiction (and ``region``), by year,
    month and type; titles shown with ID numbers masked."""
    scope = region_scope(who)
    region = (region or "").strip() or None
    with archive.Session() as s:
        if region is not None:
            found = s.get(Region, region[:12])
            archive.admit(Knock(who, Action.read_household, Target(
                "region", region[:12], region=found and found.code, found=found is not None),
                event="list_records"))
        else:
            archive.admit(Knock(who, Action.read_household, event="list_records"))
        q = (select(Document, Volume, Region, DocumentType)
             .join(Volume, Document.volume_id == Volume.id)
             .join(Region, Volume.region_code == Region.code)
             .join(DocumentType, Document.type_code == DocumentType.code))
        for prefix in (scope, region):
            if prefix:
                q = q.where(Volume.region_code.startswith(prefix, autoescape=True))
        if year:
            q = q.where(Volume.year == year)
        if month:
            q = q.where(Document.month == month)
        if doc_type:
            q = q.where((DocumentType.code == doc_type) | (DocumentType.name_zh == doc_type))
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = s.execute(q.order_by(*SORTS.get(sort, SORTS["year"])).offset(offset)
                         .limit(limit)).all()
        lines = [RecordLine(d.id, v.id, v.region_code, r.name, v.year, d.month, d.seq, t.code,
                            t.name_zh, mask_in_text(d.title),
                            d.date.isoformat() if d.date else None, d.page_count,
                            d.retention_class) for d, v, r, t in rows]
    filters = {k: v for k, v in (("region", region), ("year", year), ("month", month),
                                 ("type", doc_type), ("sort", sort if sort != "year" else None))
               if v}
    if lines:
        archive.record(audit.Event(actor=who.name, action="list_records",
                                   object_type="region" if region else None, object_id=region,
                                   detail={**filters, "offset": offset, "shown": len(lines)}))
    return Found(lines, total, offset, limit, filters)


# -- one volume ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class VolumeFacts:
    """A volume: whose, which year, its code and retention class, where it lies."""

    id: int
    region_code: str
    region_name: str
    year: int
    archival_code: str | None
    retention_class: str
    documents: int
    pages: int
    location: Where

    @property
    def key(self) -> str:
        """REGION/YEAR, as ``hudang location move`` names it."""
        return f"{self.region_code}/{self.year}"

    def as_json(self) -> dict:
        return {"id": self.id, "region": self.region_code, "region_name": self.region_name,
                "year": self.year, "archival_code": self.archival_code,
                "retention_class": self.retention_class, "documents": self.documents,
                "pages": self.pages, "location": self.location.as_json()}


def facts(session: Session, volume: Volume) -> VolumeFacts:
    """The caller has passed the door for the volume."""
    return VolumeFacts(volume.id, volume.region_code, volume.region.name, volume.year,
                       volume.archival_code, volume.retention_class, len(volume.documents),
                       sum(d.page_count for d in volume.documents), where(session, volume))


def find(session: Session, ref: str | int) -> Volume | None:
    """A volume by its id or by REGION/YEAR."""
    if isinstance(ref, int) or str(ref).isdigit():
        return session.get(Volume, int(ref))
    region, _, year = str(ref).partition("/")
    if not year.isdigit():
        return None
    return session.scalar(select(Volume).where(Volume.region_code == region,
                                               Volume.year == int(year)))
