"""A small archive to narrow searches in (issue 12, "Narrowing results"): households from the
synthetic generator in two townships of two villages each, documents of several types and
dates in each dossier (an income certificate of two pages), one daily-management record, a
clerk per township and a county-wide auditor.

The catalogue rows are real (regions, households, users) and the pages go into the real
Whoosh index through the facade; no OCR is run, the page text is written from the
generated household's facts.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from ingest.synthetic import DOC_TYPES, make_households, make_regions
from search import PageDoc

PASSWORD = "Narrow-test-7"
SEED = 1207
HOUSEHOLDS = 12  # three in each of four villages
# the document types of every dossier, in order, and how many pages each has
TYPES = {"application": 1, "approval_form": 1, "hukou_copy": 1, "income_certificate": 2}
DAILY_DOC = 9000  # the daily-management record (a roster of one township)


@dataclass
class Doc:
    id: int
    household: str  # "" for the daily-management record
    region: str
    type: str
    date: date
    head: str


@dataclass
class World:
    root: Path
    townships: list[str]
    villages: list[str]
    households: list  # ingest.synthetic.Household
    docs: list[Doc] = field(default_factory=list)
    stopped: str = ""  # the household stopped after indexing

    def docs_where(self, **conditions) -> set[int]:
        out = set()
        for d in self.docs:
            if all(cond(getattr(d, key)) if callable(cond) else getattr(d, key) == cond
                   for key, cond in conditions.items()):
                out.add(d.id)
        return out

    def env(self) -> dict[str, str]:
        import os

        env = {**os.environ, "HUDANG_HOME": str(self.root / "home"),
               "HUDANG_MASTER_KEY_FILE": str(self.root / "keys" / "master.key")}
        env.pop("HUDANG_MASTER_KEY", None)
        env.pop("HUDANG_DATABASE_URL", None)
        return env


def page_text(h, type_code: str, page: int, on: date) -> str:
    lines = [f"{DOC_TYPES[type_code]}", f"户主{h.head.name} 户号{h.number}",
             f"住址{h.address}", f"家庭月收入{h.monthly_income}元 日期{on.isoformat()}"]
    if page > 1:
        lines.append(f"第{page}页 附件")
    return "\n".join(lines)


def build(root: Path):
    """The archive (open) and the :class:`World` it holds."""
    from conftest import make_archive
    from records.catalogue import add_household, add_region, add_user
    from records.model import Region

    archive = make_archive(root)
    rng = random.Random(SEED)
    regions = make_regions(rng)
    households = make_households(rng, regions, HOUSEHOLDS)
    townships = [r.code for r in regions if len(r.code) == 9]
    villages = [r.code for r in regions if len(r.code) == 12]
    world = World(root, townships, villages, households)
    with archive.Session() as s, s.begin():
        for r in regions:
            if s.get(Region, r.code) is None:
                add_region(s, r.code, r.name)
        for h in households:
            add_household(s, h.number, h.head.name, h.region_code)
        add_user(s, "clerk-a", PASSWORD, "staff", townships[0])
        add_user(s, "clerk-b", PASSWORD, "staff", townships[1])
        add_user(s, "chief", PASSWORD, "auditor")
    pages = []
    for i, h in enumerate(households):
        for k, (type_code, count) in enumerate(TYPES.items()):
            on = h.applied_on + timedelta(days=30 * k)
            doc = Doc(i * 10 + k + 1, h.number, h.region_code, type_code, on, h.head.name)
            world.docs.append(doc)
            for p in range(1, count + 1):
                pages.append(PageDoc(document_id=doc.id, page=p, household=h.number,
                                     head_name=h.head.name, region=h.region_code,
                                     doc_type=type_code, doc_type_name=DOC_TYPES[type_code],
                                     title=f"{h.head.name}{DOC_TYPES[type_code]}",
                                     date=on.isoformat(), text=page_text(h, type_code, p, on)))
    roster = Doc(DAILY_DOC, "", townships[0], "daily_roster", date(2024, 6, 30), "")
    world.docs.append(roster)
    pages.append(PageDoc(document_id=DAILY_DOC, page=1, household="", head_name="",
                         region=townships[0], doc_type="daily_roster", doc_type_name="花名册",
                         title="低保花名册", date="2024-06-30",
                         text=f"低保花名册 {townships[0]} 2024年 共{HOUSEHOLDS}户"))
    archive.index.add_pages(pages)
    return archive, world


def stop(archive, number: str) -> None:
    """Record 停保 for a household (after its pages were indexed)."""
    from sqlalchemy import select

    from records.households import record_change
    from records.kinds import StatusChange
    from records.model import Household

    with archive.Session() as s, s.begin():
        h = s.scalar(select(Household).where(Household.number == number))
        record_change(s, h, StatusChange.stop, date(2025, 3, 1), "收入超过标准", by="test",
                      today=date(2026, 11, 30))
