"""What an archivist's home page opens on: recent ingests (from the audit log's ``ingest``
events), beside the incomplete dossiers (``ingest.regions.browse``) and the pages OCR
flagged (``ingest.reocr.low_confidence_pages``). Confined to the reader's jurisdiction.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select

from ingest.archive import Archive
from records.audit import ALLOWED
from records.model import AuditEvent
from records.policy import Action, Principal, decide, region_scope


@dataclass(frozen=True)
class Ingested:
    at: str  # ISO 8601 UTC, as the audit log keeps it
    actor: str
    household: str | None
    document_id: str | None
    pages: int | None


def recent_ingests(archive: Archive, who: Principal, limit: int = 10) -> list[Ingested]:
    """The latest documents ingested into households ``who`` may ingest into, newest first."""
    q = select(AuditEvent).where(AuditEvent.action == "ingest", AuditEvent.outcome == ALLOWED)
    scope = region_scope(who)
    if scope is not None:
        q = q.where(AuditEvent.household.startswith(scope, autoescape=True))
    found = []
    with archive.Session() as s:
        for e in s.scalars(q.order_by(AuditEvent.id.desc()).limit(limit * 3)):
            if not decide(who, Action.ingest, (e.household or "")[:12], e.household):
                continue
            try:
                pages = json.loads(e.detail or "{}").get("pages")
            except ValueError:
                pages = None
            found.append(Ingested(e.at, e.actor, e.household, e.object_id, pages))
            if len(found) == limit:
                break
    return found
