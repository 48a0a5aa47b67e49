"""A small archive for the retention and destruction tests.

Two townships; households with born-digital documents (a text layer, no OCR needed),
stopped (停保) on dates long enough ago that their approval records (3 years after the stop)
are due, one still receiving; accounts for every role of the procedure, and one person who
holds both the reviewer and the approver role. Real parts: the SQLite catalogue, encrypted
blobs, the Whoosh index, the ingest pipeline, the status-change service.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from desk_support import text_pdf

PASSWORD = "Retain-password-9"
EAST, WEST = "220381105", "220381106"
VILLAGE_EAST, VILLAGE_WEST = "220381105012", "220381106003"
# household number -> (head, stop date or None, document words)
HOUSEHOLDS = {
    "220381105012-0001": ("张三", date(2020, 3, 1), ["zhangsan application", "zhangsan income"]),
    "220381105012-0002": ("李四", date(2021, 6, 30), ["lisi application"]),
    "220381105012-0003": ("王五", date(2022, 1, 15), ["wangwu application", "wangwu survey"]),
    "220381105012-0004": ("赵六", None, ["zhaoliu application"]),  # receiving: never due
    "220381106003-0001": ("钱七", date(2020, 5, 5), ["qianqi application"]),  # the other township
}
ACCOUNTS = {
    "reviewer": ("reviewer", EAST), "approver": ("approver", EAST),
    "witness-a": ("witness", EAST), "witness-b": ("witness", EAST),
    "archivist": ("archivist", None), "admin": ("administrator", None),
    "auditor": ("auditor", None), "clerk": ("staff", EAST),
    "both": ("reviewer,approver", EAST),  # one person, two roles: still one person
    "judge": ("approver,witness", EAST),  # may approve and witness, never the same list
    "west-reviewer": ("reviewer", WEST), "west-approver": ("approver", WEST),
}
OPERATOR = "test-operator"


def operator():
    from records.policy import Principal, Role

    return Principal(OPERATOR, frozenset({Role.operator}))


def at(day: date, hour: int = 3) -> datetime:
    """A UTC time on ``day`` (11:00 in the office's zone, Asia/Shanghai)."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Retained:
    root: Path
    home: Path
    key_file: Path
    documents: dict[str, list[int]]  # household -> document ids

    def open(self, **values):
        from ingest.archive import Archive, Settings

        archive = Archive.open(Settings.from_env(self.home, self.key_file))
        if values:
            archive = archive.reconfigured(archive.settings.with_values(values))
        return archive

    def copy(self, dest: Path) -> Retained:
        from conftest import copy_home

        copy_home(self.home, dest / "home")
        return Retained(dest, dest / "home", self.key_file, self.documents)

    def cli(self) -> list[str]:
        return ["--home", str(self.home), "--key-file", str(self.key_file)]

    def env(self) -> dict[str, str]:
        import os

        env = {**os.environ, "HUDANG_HOME": str(self.home),
               "HUDANG_MASTER_KEY_FILE": str(self.key_file)}
        for name in ("HUDANG_MASTER_KEY", "HUDANG_DATABASE_URL", "HUDANG_CONFIG"):
            env.pop(name, None)
        return env


def principal(archive, name: str):
    from records.catalogue import get_user, principal_of

    with archive.Session() as s:
        return principal_of(get_user(s, name), archive.settings.grants)


def build_retained(root: Path) -> Retained:
    from conftest import make_archive
    from ingest import households as service
    from ingest.pipeline import IngestRequest, Ingestor
    from records.catalogue import add_household, add_region, add_user
    from records.model import StatusChange

    archive = make_archive(root)
    with archive.Session() as s, s.begin():
        add_region(s, WEST, "西山镇")
        add_region(s, VILLAGE_WEST, "青石村")
        for number, (head, _stop, _words) in HOUSEHOLDS.items():
            if number != "220381105012-0042":
                add_household(s, number, head, number[:12])
        for name, (roles, region) in ACCOUNTS.items():
            add_user(s, name, PASSWORD, roles.split(","), region)
    documents: dict[str, list[int]] = {}
    with Ingestor(archive, workers=1) as ingestor:
        for number, (_head, _stop, words) in HOUSEHOLDS.items():
            for i, text in enumerate(words):
                path = text_pdf(root / f"{number}-{i}.pdf", f"{text} {number}")
                result = ingestor.ingest(IngestRequest(
                    path=path, household=number, doc_type="申请书" if i == 0 else "收入证明",
                    actor="test", date=date(2019, 4, 1 + i)))
                documents.setdefault(number, []).append(result.document_id)
    for number, (_head, stop, _words) in HOUSEHOLDS.items():
        if stop is not None:
            service.change_status(archive, operator(), number, StatusChange.stop, stop, "收入超标")
    archive.close()
    return Retained(root, root / "home", root / "keys" / "master.key", documents)


# -- destruction lists in every state, for the door's walk --------------------------------------
@dataclass(frozen=True)
class ListsInEveryState:
    executed: int  # approved, witnessed, executed: its certificate exists
    draft: int  # drafted by the reviewer: anyone else with the role may submit it
    submitted: int  # submitted by the reviewer: another person may approve it
    to_return: int  # submitted by the reviewer: to return, then take a dossier off, withdraw
    approved: int  # approved by the approver, its waiting period over: anyone else witnesses


def lists_in_every_state(archive, scans: Path, village: str, *, reviewer: str, approver: str,
                         witnesses: tuple[str, str]) -> ListsInEveryState:
    """Five households of ``village`` stopped long ago, each on its own list, the lists
    brought through the steps by the named accounts (real services, real shredding)."""
    from ingest import destruction, households as service, shredding
    from ingest.pipeline import IngestRequest, Ingestor
    from records.catalogue import add_household
    from records.model import StatusChange

    numbers = [f"{village}-{9900 + i}" for i in range(5)]
    with archive.Session() as s, s.begin():
        for n in numbers:
            add_household(s, n, f"户主{n[-3:]}", village)
    with Ingestor(archive, workers=1) as ingestor:
        for n in numbers:
            ingestor.ingest(IngestRequest(path=text_pdf(scans / f"{n}.pdf", f"retained {n}"),
                                          household=n, doc_type="申请书", actor="test",
                                          date=date(2014, 4, 1)))
    made = []
    long_ago = at(date(2016, 1, 4))
    for n in numbers:
        service.change_status(archive, operator(), n, StatusChange.stop, date(2015, 1, 2),
                              "收入超标")
        drafted = destruction.draft(archive, principal(archive, reviewer), village[:9])
        made.append(drafted.number)
    rev, app = principal(archive, reviewer), principal(archive, approver)
    executed, draft, submitted, to_return, approved = made
    for n in (executed, submitted, to_return, approved):
        destruction.submit(archive, rev, n, now=long_ago)
    for n in (executed, approved):
        destruction.approve(archive, app, n, now=long_ago)
    for w in witnesses:
        destruction.witness(archive, principal(archive, w), executed)
    shredding.execute(archive, rev, executed)
    return ListsInEveryState(executed, draft, submitted, to_return, approved)
