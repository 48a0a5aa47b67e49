"""Retention, holds and destruction lists through the services (issue 16).

- The disposition date: one pure function, table-driven over each trigger, a corrected
  stop date, re-enrolment (恢复) and a permanent document inside a dossier.
- The procedure: a reviewer drafts from due dossiers, an approver (another person) approves,
  the waiting period holds, two witnesses (neither the approver, not the same person twice)
  confirm, then execution crypto-shreds each dossier: its blobs are gone, a copy of an old
  blob opens with nothing the archive still holds, search finds nothing, the catalogue keeps
  the metadata marked destroyed, and the sealed register verifies.
- A hold placed after approval keeps that dossier at execution; the rest proceed.
- A crash in the middle of execution, then a rerun: every item fully destroyed or untouched.
- A restore from before the destruction destroys the dossiers again from the register.

Real parts: SQLite, encrypted blobs, Whoosh, the ingest pipeline on born-digital PDFs
(``retention_support``); the clock is the services' ``now`` argument.
"""
from __future__ import annotations

import shutil
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from records.model import (Document, Dossier, Household, ItemStatus, ListStatus,
                           RetentionTrigger, StatusChange)
from records.retention import Rule, disposition_date
from retention_support import EAST, build_retained, principal

STOP, RESUME = StatusChange.stop, StatusChange.resume
APPROVAL = Rule("approval-3y", 3, RetentionTrigger.stop_date)
DAILY = Rule("daily-5y", 5, RetentionTrigger.document_date)
FOREVER = Rule("permanent", 0, RetentionTrigger.permanent)


# -- the disposition date ---------------------------------------------------------------------
@pytest.mark.parametrize("rule, events, document_date, parts, expected", [
    # 3 years after the stop date
    (APPROVAL, [(STOP, date(2021, 6, 30))], None, (), date(2024, 6, 30)),
    # still receiving: not started
    (APPROVAL, [], None, (), None),
    # a later 停保 corrects the date
    (APPROVAL, [(STOP, date(2021, 6, 30)), (STOP, date(2022, 1, 15))], None, (),
     date(2025, 1, 15)),
    # 恢复 clears it
    (APPROVAL, [(STOP, date(2021, 6, 30)), (RESUME, date(2021, 9, 1))], None, (), None),
    # stopped again after re-enrolment: counted from the new stop
    (APPROVAL, [(STOP, date(2020, 3, 1)), (RESUME, date(2020, 9, 1)), (STOP, date(2023, 2, 1))],
     None, (), date(2026, 2, 1)),
    # 29 February plus whole years
    (APPROVAL, [(STOP, date(2020, 2, 29))], None, (), date(2023, 2, 28)),
    # daily-management records: 5 years from their own date, whatever the household does
    (DAILY, [], date(2019, 4, 1), (), date(2024, 4, 1)),
    (DAILY, [(STOP, date(2020, 1, 1))], None, (), None),
    # permanent: never
    (FOREVER, [(STOP, date(2020, 1, 1))], date(2019, 1, 1), (), None),
    # a dossier falls due when everything in it has: a later daily record pushes it out
    (APPROVAL, [(STOP, date(2021, 6, 30))], None, [(DAILY, date(2022, 5, 1))],
     date(2027, 5, 1)),
    # one permanent document keeps the dossier for ever
    (APPROVAL, [(STOP, date(2021, 6, 30))], None, [(FOREVER, None)], None),
])
def test_disposition_date(rule, events, document_date, parts, expected):
    assert disposition_date(rule, events, document_date=document_date, parts=parts) == expected


# -- the archive -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_retained(tmp_path_factory.mktemp("retained"))


@pytest.fixture
def retained(built, tmp_path):
    """A private copy of the small archive: destruction cannot be undone."""
    return built.copy(tmp_path)


@pytest.fixture
def archive(retained):
    arch = retained.open(HUDANG_DESTRUCTION_WAIT_DAYS="7")
    yield arch
    arch.close()


def _who(archive, name):
    return principal(archive, name)


def _approved_list(archive, now):
    """A list of the east township's due dossiers, drafted and submitted by the reviewer,
    approved by the approver at ``now``."""
    from ingest import destruction

    drafted = destruction.draft(archive, _who(archive, "reviewer"), EAST, now=now)
    destruction.submit(archive, _who(archive, "reviewer"), drafted.number, now=now)
    destruction.approve(archive, _who(archive, "approver"), drafted.number, now=now)
    return drafted


def _witnessed_list(archive, now):
    from ingest import destruction

    drafted = _approved_list(archive, now)
    later = now + timedelta(days=8)
    destruction.witness(archive, _who(archive, "witness-a"), drafted.number, now=later)
    destruction.witness(archive, _who(archive, "witness-b"), drafted.number, now=later)
    return drafted, later


def _dossier_state(archive, number):
    with archive.Session() as s:
        h = s.scalar(select(Household).where(Household.number == number))
        docs = list(h.dossier.documents)
        return (h.dossier.destroyed_at, [(d.id, d.pdf_ref, d.pdf_key, d.destroyed_at)
                                         for d in docs])


def test_the_queue_lists_due_dossiers_by_region_and_scope(archive):
    from ingest import retention

    east = retention.due(archive, _who(archive, "reviewer"), None, 0, "json").data
    households = {d.household for d in east.rows}
    # stopped 2020, 2021, 2022 (+3 years, all past); still receiving: not due; west: not theirs
    assert households == {"220381105012-0001", "220381105012-0002", "220381105012-0003"}
    whole = retention.due(archive, _who(archive, "archivist"), None, 0, "json").data
    assert "220381106003-0001" in {d.household for d in whole.rows}
    assert sorted(c for c, _n, _k in whole.by_region) == sorted(
        {c for c, _n, _k in whole.by_region})


def test_four_eyes_and_the_waiting_period(archive):
    from ingest import destruction
    from records.destruction import OutOfTurn

    from records.clock import utcnow

    now = utcnow()
    drafted = destruction.draft(archive, _who(archive, "both"), EAST, now=now)
    assert drafted.number is not None and drafted.dossiers == 3
    destruction.submit(archive, _who(archive, "both"), drafted.number, now=now)
    # the person who drew it up cannot approve it, though they hold the approver role
    with pytest.raises(OutOfTurn, match="another approver"):
        destruction.approve(archive, _who(archive, "both"), drafted.number, now=now)
    destruction.approve(archive, _who(archive, "judge"), drafted.number, now=now)
    # the waiting period (7 days): no witness before it ends
    with pytest.raises(OutOfTurn, match="waiting period"):
        destruction.witness(archive, _who(archive, "witness-a"), drafted.number,
                            now=now + timedelta(days=6))
    later = now + timedelta(days=8)
    # the approver cannot witness; nor can a witness confirm twice
    with pytest.raises(OutOfTurn, match="a witness must be someone else"):
        destruction.witness(archive, _who(archive, "judge"), drafted.number, now=later)
    destruction.witness(archive, _who(archive, "witness-a"), drafted.number, now=later)
    with pytest.raises(OutOfTurn, match="second witness must be someone else"):
        destruction.witness(archive, _who(archive, "witness-a"), drafted.number, now=later)
    # not executed before the second witness
    from ingest import shredding
    with pytest.raises(OutOfTurn, match="two witnesses"):
        shredding.execute(archive, _who(archive, "reviewer"), drafted.number, now=later)


def test_the_life_cycle_destroys_by_crypto_shredding(archive, retained, tmp_path):
    from ingest import destruction, shredding
    from records.clock import utcnow
    from storage.exceptions import StorageError

    before = _dossier_state(archive, "220381105012-0001")
    refs = [ref for _id, ref, _key, _at in before[1]]
    old_copy = tmp_path / "old-blob"
    shutil.copy(archive.blobs.path_of(refs[0]), old_copy)
    assert archive.index.search("zhangsan").hits
    drafted, later = _witnessed_list(archive, utcnow())
    done = shredding.execute(archive, _who(archive, "reviewer"), drafted.number, now=later)
    assert done.counts.get("destroyed") == 3

    destroyed_at, docs = _dossier_state(archive, "220381105012-0001")
    assert destroyed_at is not None
    # the metadata remains, every data key is gone, every blob is gone
    assert [d[0] for d in docs] == [d[0] for d in before[1]]
    assert all(key == b"" and at is not None for _id, _ref, key, at in docs)
    assert not any(archive.blobs.exists(r) for r in refs)
    # a copy of an old blob, put back, opens with nothing the archive holds
    shutil.copy(old_copy, archive.blobs.path_of(refs[0]))
    with pytest.raises(StorageError):
        archive.blobs.get(refs[0], docs[0][2])
    # search finds nothing of it
    assert not archive.index.search("zhangsan").hits
    assert not archive.index.search("lisi").hits
    # the list: executed, each item destroyed, its certificate a stored permanent record
    view = destruction.show(archive, _who(archive, "auditor"), drafted.number, fmt="json")
    assert view.status == ListStatus.executed.value
    assert {i.status for i in view.items} == {ItemStatus.destroyed.value}
    pdf = destruction.printed(archive, _who(archive, "auditor"), drafted.number, "certificate")
    assert pdf.startswith(b"%PDF")
    # the register verifies and names every destroyed dossier
    entries = shredding.open_register(archive).read()
    assert {e["household"] for e in entries if e["kind"] == "destroyed"} == {
        "220381105012-0001", "220381105012-0002", "220381105012-0003"}
    # running it again is harmless
    again = shredding.execute(archive, _who(archive, "reviewer"), drafted.number, now=later)
    assert again.already
    # every step is in the audit log, by whom it was taken
    from records.model import AuditEvent
    with archive.Session() as s:
        steps = {(e.action, e.actor) for e in s.scalars(select(AuditEvent).where(
            AuditEvent.action.like("destruction_%"), AuditEvent.outcome != "refused"))}
    assert {("destruction_draft", "reviewer"), ("destruction_submit", "reviewer"),
            ("destruction_approve", "approver"), ("destruction_witness", "witness-a"),
            ("destruction_witness", "witness-b"), ("destruction_execute", "reviewer"),
            ("destruction_item", "reviewer"), ("destruction_executed", "reviewer")} <= steps


def test_the_register_refuses_an_altered_line(archive):
    from ingest import shredding
    from records.clock import utcnow
    from storage.register import RegisterBroken

    drafted, later = _witnessed_list(archive, utcnow())
    shredding.execute(archive, _who(archive, "reviewer"), drafted.number, now=later)
    path = shredding.register_path(archive)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-2] + lines[-1:]))  # one entry taken out
    with pytest.raises(RegisterBroken):
        shredding.open_register(archive).read()


def test_a_hold_after_approval_stops_that_dossier_and_the_rest_proceed(archive):
    from ingest import retention, shredding
    from records.clock import utcnow

    drafted = _approved_list(archive, utcnow())
    retention.add_hold(archive, _who(archive, "archivist"), "household", "220381105012-0002",
                       "复议中")
    later = utcnow() + timedelta(days=8)
    from ingest import destruction
    destruction.witness(archive, _who(archive, "witness-a"), drafted.number, now=later)
    destruction.witness(archive, _who(archive, "witness-b"), drafted.number, now=later)
    done = shredding.execute(archive, _who(archive, "reviewer"), drafted.number, now=later)
    assert done.counts.get("held") == 1 and done.counts.get("destroyed") == 2
    kept_at, kept_docs = _dossier_state(archive, "220381105012-0002")
    assert kept_at is None and all(key and archive.blobs.exists(ref)
                                   for _id, ref, key, _at in kept_docs)
    assert archive.index.search("lisi").hits
    assert _dossier_state(archive, "220381105012-0001")[0] is not None
    # and a held dossier never enters a new list
    again = destruction.draft(archive, _who(archive, "reviewer"), EAST, now=later)
    assert again.number is None and again.held == ["220381105012-0002"]


class Crash(Exception):
    pass


def test_a_crash_in_the_middle_then_a_rerun_leaves_each_item_whole(archive):
    from ingest import shredding
    from records.clock import utcnow

    drafted, later = _witnessed_list(archive, utcnow())

    def crash_after_first(position, _household, _status):
        if position == 1:
            raise Crash()

    with pytest.raises(Crash):
        shredding.execute(archive, _who(archive, "reviewer"), drafted.number, now=later,
                          on_item=crash_after_first)

    def whole(number):
        destroyed_at, docs = _dossier_state(archive, number)
        if destroyed_at is None:  # untouched: keys kept, blobs there, searchable
            return all(key and archive.blobs.exists(ref) for _i, ref, key, _a in docs)
        return all(not key and not archive.blobs.exists(ref) for _i, ref, key, _a in docs)

    numbers = ("220381105012-0001", "220381105012-0002", "220381105012-0003")
    states = [_dossier_state(archive, n)[0] is not None for n in numbers]
    assert states.count(True) == 1 and all(whole(n) for n in numbers)
    with archive.Session() as s:
        from records.model import DestructionList
        assert s.get(DestructionList, drafted.number).status is ListStatus.executing
    shredding.execute(archive, _who(archive, "reviewer"), drafted.number, now=later)
    assert all(_dossier_state(archive, n)[0] is not None and whole(n) for n in numbers)


def test_a_restore_from_before_the_destruction_destroys_again(built, retained, tmp_path):
    from ingest import shredding
    from records.clock import utcnow

    backup = retained.copy(tmp_path / "backup")  # taken before the destruction
    archive = retained.open()
    try:
        drafted, later = _witnessed_list(archive, utcnow())
        shredding.execute(archive, _who(archive, "reviewer"), drafted.number, now=later)
        register = shredding.register_path(archive)
    finally:
        archive.close()
    restored = backup.open()
    try:
        assert _dossier_state(restored, "220381105012-0001")[0] is None
        done = shredding.reapply_destructions(restored, [register])
        assert len(done.dossiers) == 3
        destroyed_at, docs = _dossier_state(restored, "220381105012-0001")
        assert destroyed_at is not None and all(not key for _i, _r, key, _a in docs)
        assert not restored.index.search("zhangsan").hits
    finally:
        restored.close()



def test_hudang_restore_destroys_again_what_the_register_copies_say(retained, tmp_path,
                                                                    no_hudang_env, monkeypatch):
    """A backup made before a destruction, restored with ``hudang restore``: the copies of
    the destruction register outside the data home (HUDANG_REGISTER_COPIES) say what was
    destroyed since, and the restore destroys it again before anyone can read it."""
    from click.testing import CliRunner

    from ingest import shredding
    from records.clock import utcnow
    from web.cli import main

    copies = tmp_path / "register-copies"
    copies.mkdir()
    monkeypatch.setenv("HUDANG_REGISTER_COPIES", str(copies))
    made = CliRunner().invoke(main, [*retained.cli(), "backup", str(tmp_path / "backup")])
    assert made.exit_code == 0, made.output
    archive = retained.open(HUDANG_REGISTER_COPIES=str(copies))
    try:
        drafted, later = _witnessed_list(archive, utcnow())
        shredding.execute(archive, _who(archive, "reviewer"), drafted.number, now=later)
    finally:
        archive.close()
    assert list(copies.iterdir()), "the execution wrote a copy of the register"
    home2 = tmp_path / "restored"
    done = CliRunner().invoke(main, ["--home", str(home2), "--key-file", str(retained.key_file),
                                     "restore", str(tmp_path / "backup")])
    assert done.exit_code == 0, done.output
    assert "destroyed again, as the destruction register says: 3 dossiers" in done.output
    from ingest.archive import Archive, Settings

    restored = Archive.open(Settings.from_env(home2, retained.key_file))
    try:
        destroyed_at, docs = _dossier_state(restored, "220381105012-0001")
        assert destroyed_at is not None and all(not key for _i, _r, key, _a in docs)
        assert not restored.index.search("zhangsan").hits
    finally:
        restored.close()


def test_after_a_destruction_verify_passes_and_a_key_rotation_carries_the_rest(
        retained, tmp_path, no_hudang_env):
    """A destroyed dossier's blobs and data keys are gone on purpose: the four-property check
    does not report them, and a key rotation re-wraps everything else and skips them."""
    import os
    import shutil

    from click.testing import CliRunner

    from ingest import shredding
    from records.clock import utcnow
    from web.cli import main

    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    key_file = keys / "master.key"
    shutil.copy(retained.key_file, key_file)
    os.chmod(key_file, 0o600)
    mine = type(retained)(retained.root, retained.home, key_file, retained.documents)
    archive = mine.open()
    try:
        drafted, later = _witnessed_list(archive, utcnow())
        shredding.execute(archive, _who(archive, "reviewer"), drafted.number, now=later)
    finally:
        archive.close()
    checked = CliRunner().invoke(main, [*mine.cli(), "verify"])
    assert checked.exit_code == 0, checked.output
    rotated = CliRunner().invoke(main, [*mine.cli(), "key", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert CliRunner().invoke(main, [*mine.cli(), "verify"]).exit_code == 0
    again = CliRunner().invoke(main, [*mine.cli(), "destruction", "reapply"])
    assert again.exit_code == 0, again.output  # the register still opens after the rotation
    for retired in keys.glob("master.key.retired-*"):  # the operator removes the old key
        retired.unlink()
    certificate = CliRunner().invoke(main, [*mine.cli(), "destruction", "certificate",
                                            str(drafted.number), "--out",
                                            str(tmp_path / "certificate.pdf")])
    assert certificate.exit_code == 0, certificate.output  # re-wrapped under the new key
    assert (tmp_path / "certificate.pdf").read_bytes().startswith(b"%PDF")
    kept = [d for number, ids in mine.documents.items() for d in ids
            if _dossier_state(mine.open(), number)[0] is None]
    assert kept, "the archive keeps documents that were not on the list"
    shown = CliRunner().invoke(main, [*mine.cli(), "text", str(kept[0])])
    assert shown.exit_code == 0, shown.output


def test_daily_management_types_keep_their_records_five_years_from_their_date(archive):
    """The seeded defaults: a household's approval records 3 years after the stop, the
    types of daily-management records (花名册, 公示记录 ...) 5 years from their date, and a
    daily type added later the same."""
    from records.doctypes import add_type
    from records.model import DocumentType, RetentionClass, RetentionTrigger

    with archive.Session() as s, s.begin():
        types = list(s.scalars(select(DocumentType)))
        daily = {t.code: t.retention_class for t in types if t.daily}
        household = {t.code: t.retention_class for t in types if not t.daily}
        assert daily and set(daily.values()) == {"daily-5y"}
        assert set(household.values()) == {"approval-3y"}
        rule = s.get(RetentionClass, "daily-5y")
        assert (rule.years, rule.trigger) == (5, RetentionTrigger.document_date)
        added = add_type(s, "door_ledger", "门卫台账", "gate ledger", daily=True)
        s.flush()
        assert added.retention_class == "daily-5y"
