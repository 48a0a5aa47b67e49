"""Crash safety (issue 11): a ``hudang ingest`` or ``hudang reocr`` killed with SIGKILL at
any moment leaves no half-document, no orphan blob, no index entry without its row and no
process behind; ``hudang recover`` (also run on every opening of the archive) finishes or
rolls back what was in flight, never a running process's write; a full disk is one sentence
and loses nothing.

Everything is real: the ``hudang`` console script in a subprocess killed with SIGKILL,
Tesseract (the quicker engine to start) on small one-page scans, SQLite, the encrypted blob
store and the Whoosh index.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import signal
import time
import traceback
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import make_archive
from crash_support import (HOUSEHOLD, Kill, broken_invariants, documents_with_sha, fill,
                           hudang_env, kill_after, kill_at_journal, run, small_disk, start,
                           survivors, visible_rows_have_blobs, write_scan)
from ingest.archive import Archive
from ingest.settings import Settings
from records.model import AuditEvent, Document

pytestmark = pytest.mark.slow

# One-page scans keep a run short (about 6 s on two idle cores): the OCR pool still runs
# (forkserver, a worker, its Tesseract, the resource tracker) and the commit still writes
# three blobs. Journal lines of such an ingest: 1 the unit; 2-4 its blobs (the archival
# PDF, the page's access image, its text); 5 the committed document; 6 indexed.
INGEST_STAGES = (1, 3, 4, 5, 5, 6, 6, 2)
UNIFORM_KILLS = 22  # at offsets spread evenly over a whole run, each at a random point


def _settings(root: Path) -> Settings:
    return Settings.from_env(root / "home", root / "keys" / "master.key")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ingest_args(scan: Path, *extra: str) -> list[str]:
    return ["ingest", str(scan), "--household", HOUSEHOLD, "--type", "申请书", *extra]


def _check(root: Path, what: str) -> dict[int, str]:
    """After a kill: nothing half-done is visible; opening the archive recovers; then every
    invariant holds. Returns the archive's documents: the SHA-256 of each one's scan by id."""
    settings = _settings(root)
    assert visible_rows_have_blobs(settings) == [], what
    archive = Archive.open(settings)  # runs the recovery, as the CLI and the server do
    try:
        assert broken_invariants(archive) == [], what
        with archive.Session() as s:
            return dict(s.execute(select(Document.id, Document.sha256)).all())
    finally:
        archive.close()


@pytest.fixture
def world(tmp_path):
    make_archive(tmp_path).close()
    return tmp_path


@pytest.mark.timeout(1800)  # about 21 runs of a small ingest: 2-3 minutes on two idle cores
def test_ingest_killed_at_any_moment_leaves_nothing_half_done_and_no_process(world):
    root, env = world, hudang_env(world)
    journal = _settings(root).journal_dir
    scans = root / "scans"
    scans.mkdir()
    # one whole run first: how long an ingest takes here, to spread the kills over it
    started = time.monotonic()
    whole = run(env, *_ingest_args(write_scan(scans / "v0.tif", pages=1, variant=0)))
    runs = [time.monotonic() - started]
    assert whole.returncode == 0, whole.stderr
    rng = random.Random(11)
    # "after" kills land at these fractions of a run, spread evenly over it
    plan: list[tuple[str, float]] = [("after", (i + rng.random()) / UNIFORM_KILLS)
                                     for i in range(UNIFORM_KILLS)]
    plan += [("journal", lines) for lines in INGEST_STAGES]
    rng.shuffle(plan)
    assert len(plan) >= 30

    variant, committed = 1, {}
    scan = write_scan(scans / "v1.tif", pages=1, variant=1)
    kills: list[tuple[str, float, Kill]] = []
    for trial, (how, when) in enumerate(plan):
        duration = sum(runs) / len(runs)  # a machine's load changes: the mean of whole runs
        proc = start(env, *_ingest_args(scan), log=root / "trial.log")
        if how == "after":
            kill = kill_after(proc, when * duration)
        else:
            kill = kill_at_journal(proc, journal, int(when))
        kills.append((how, when, kill))
        what = f"trial {trial}: killed {how} {when:.2f} (at {kill.at:.2f} s of ~{duration:.1f})"
        if kill.completed:
            runs.append(kill.at)
        left = survivors(proc.pid)
        assert left == [], f"{what}: processes left running: {left}"
        documents = _check(root, what)
        mine = [i for i, sha in documents.items() if sha == _sha(scan)]
        assert len(mine) <= 1, f"{what}: the scan went in {len(mine)} times"
        print(f"{what}: {'ran to the end' if kill.completed else 'killed'} with "
              f"{kill.processes} processes; {'in' if mine else 'not in'}", flush=True)
        if mine:  # it went in (whole, or finished by the recovery): the next scan
            committed[scan] = mine[0]
            variant += 1
            scan = write_scan(scans / f"v{variant}.tif", pages=1, variant=variant)
        # otherwise the next trial is the same ingest run again
    assert len(documents) == 1 + len(committed)

    # the interrupted ingest run again completes, exactly once
    again = run(env, *_ingest_args(scan, "--json"))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["duplicate"] is False
    for done, document_id in list(committed.items())[:2]:
        twice = run(env, *_ingest_args(done, "--json"))
        assert json.loads(twice.stdout) == {"document_id": document_id, "household": HOUSEHOLD,
                                            "pages": 1, "duplicate": True, "findings": {}}
    assert len(_check(root, "after the re-runs")) == 2 + len(committed)

    killed = [k for _, _, k in kills if not k.completed]
    # the kills hit every part of a run: its start, the OCR pool at work, and the commit
    assert any(how == "after" and when < 0.2 and not k.completed for how, when, k in kills)
    assert max(k.processes for k in killed) >= 4, "no kill found the OCR pool running"
    outcomes = _recover_outcomes(root)
    assert "rolled back" in outcomes and "finished" in outcomes, outcomes
    print(f"\n{len(plan)} kills over a {duration:.1f} s ingest: {len(killed)} killed, "
          f"{len(committed)} scans in, recoveries {outcomes}")


def _recover_outcomes(root: Path) -> dict[str, int]:
    archive = Archive.open(_settings(root))
    try:
        with archive.Session() as s:
            details = s.scalars(select(AuditEvent.detail).where(AuditEvent.action == "recover"))
            counts: dict[str, int] = {}
            for detail in details:
                outcome = json.loads(detail)["outcome"]
                counts[outcome] = counts.get(outcome, 0) + 1
            return counts
    finally:
        archive.close()


def test_reocr_killed_at_each_stage_keeps_the_document_whole(world):
    root, env = world, hudang_env(world)
    journal = _settings(root).journal_dir
    scan = write_scan(root / "scan.tif", pages=1, variant=0)
    first = run(env, *_ingest_args(scan, "--json"))
    assert first.returncode == 0, first.stderr
    document_id = json.loads(first.stdout)["document_id"]
    # journal lines of a re-OCR of a page: 1 the unit; 2 the new PDF; 3 the new text; 4 the
    # old PDF and text it retires; 5 the document, committed; 6 indexed
    # (the document's blobs, old or new, all decrypt to their recorded SHA-256: _check)
    for lines in (2, 4, 5):
        proc = start(env, "reocr", str(document_id), "--ocr-engine", "tesseract",
                     log=root / "reocr.log")
        kill = kill_at_journal(proc, journal, lines)
        what = f"re-OCR killed at journal line {lines}"
        assert not kill.completed, f"{what}: it ended first"
        assert survivors(proc.pid) == [], what
        assert list(_check(root, what)) == [document_id]
    # killed before its commit it is rolled back; after it, finished (the old blobs shredded)
    assert set(_recover_outcomes(root)) == {"rolled back", "finished"}


def test_recover_leaves_a_running_ingest_alone_and_finishes_a_killed_one(world):
    root, env = world, hudang_env(world)
    journal = _settings(root).journal_dir
    live_scan = write_scan(root / "live.tif", pages=1, variant=1)
    proc = start(env, *_ingest_args(live_scan, "--json"), log=root / "live.log")
    try:
        # paused while it writes its blobs: the process lives, its unit is in flight
        stopped = _stop_at_journal(proc, journal, lines=3)
        assert stopped, (root / "live.log").read_text()
        recovered = run(env, "recover", "--json")
        assert recovered.returncode == 0, recovered.stderr
        report = json.loads(recovered.stdout)
        assert report["units"] == [] and report["live"] == 1
    finally:
        proc.send_signal(signal.SIGCONT)
    assert proc.wait(timeout=600) == 0, (root / "live.log").read_text()
    assert len(_check(root, "the paused ingest went on")) == 1

    killed, tries = _killed_after_its_commit(env, root, journal)
    (unit,) = journal.glob("*.wal")
    _assert_content_free(unit.read_text())
    recovered = run(env, "recover")
    assert recovered.returncode == 0, recovered.stderr
    assert re.fullmatch(rf"finished the ingest of process {killed.pid} \(document \d+\)\n"
                        r"removed 1 work directory of stopped processes\n",
                        recovered.stdout), recovered.stdout
    assert run(env, "recover").stdout == "nothing to recover\n"
    # the paused one, the killed one, and any that ended before the kill could land
    assert len(_check(root, "after hudang recover")) == 1 + tries


def _killed_after_its_commit(env, root: Path, journal: Path):
    """An ingest killed between its catalogue commit and its end (journal line 6, after the
    unit, the PDF, the page's image and text and the file as received: the document is in,
    its index entries not yet), left for ``hudang recover``. A loaded machine
    may let the run finish before the kill lands: then another scan."""
    for tries in range(1, 5):
        scan = write_scan(root / f"killed-{tries}.tif", pages=1, variant=1 + tries)
        proc = start(env, *_ingest_args(scan), log=root / "killed.log")
        if not kill_at_journal(proc, journal, lines=6).completed:
            return proc, tries
    pytest.fail("every ingest ended before it could be killed after its commit")


def _stop_at_journal(proc, journal: Path, lines: int) -> bool:
    while proc.poll() is None:
        for path in journal.glob("*.wal"):
            if path.read_bytes().count(b"\n") >= lines:
                proc.send_signal(signal.SIGSTOP)
                return True
        time.sleep(0.002)
    return False


def _assert_content_free(text: str) -> None:
    """A journal names refs, a document id, a process and a stage: nothing of the record."""
    allowed = {"unit", "pid", "started", "blob", "retire", "document", "stage"}
    for line in text.splitlines():
        record = json.loads(line)
        assert set(record) <= allowed, record
        refs = [record["blob"]] if "blob" in record else record.get("retire", [])
        assert all(re.fullmatch(r"[0-9a-f]{32}", ref) for ref in refs), record
        assert isinstance(record.get("document", 0), int), record


def test_only_a_unit_whose_process_has_died_is_claimed(tmp_path):
    from ingest.journal import Journal, claim_dead_units

    live = Journal.begin(tmp_path, "ingest")
    live.blob("0" * 32)
    dead = Journal.begin(tmp_path, "reocr")
    dead.blob("1" * 32)
    dead.retire(["2" * 32])
    dead.document(7)
    with dead.path.open("ab") as torn:  # a power cut in the middle of a line
        torn.write(b'{"stage": "ind')
    dead.leave()  # its lock goes as a dead process's does; the file stays
    claimed, running = claim_dead_units(tmp_path)
    try:
        assert running == 1 and [c.record.path for c in claimed] == [dead.path]
        record = claimed[0].record
        assert (record.label, record.blobs, record.retired, record.documents, record.stages) \
            == ("reocr", ["1" * 32], ["2" * 32], [7], [])
        # a second recovery meanwhile finds nothing to take: this one holds it
        assert claim_dead_units(tmp_path)[0] == []
    finally:
        for unit in claimed:
            unit.done()
    live.end()
    assert list(tmp_path.glob("*.wal")) == []


def test_a_full_disk_is_one_sentence_and_loses_nothing(tmp_path):
    from ingest.exceptions import NoSpace
    from ingest.pipeline import IngestRequest, Ingestor
    from web.errors import binding_for, exit_code_for

    root, home = tmp_path, tmp_path / "home"
    sentence = (r"cannot (ingest 'late\.tif'|open the archive): the disk holding the data "
                rf"home '{re.escape(str(home))}' is full; free some space and run the "
                r"command again")
    with small_disk(home, 20):
        archive = make_archive(root)
        try:
            with Ingestor(archive, engine="tesseract", workers=1) as ingestor:
                kept = write_scan(root / "kept.tif", pages=1, variant=0)
                ingestor.ingest(IngestRequest(kept, HOUSEHOLD, "申请书"))
                late = write_scan(root / "late.tif", pages=1, variant=1)
                # the disk fills at a later moment of the ingest each time: reading the
                # scan, building the PDF, the journal, the blobs, the catalogue...
                failures = 0
                for leave in range(0, 1 << 20, 64 << 10):
                    filler = fill(home, leave)
                    try:
                        ingestor.ingest(IngestRequest(late, HOUSEHOLD, "申请书"))
                        break
                    except NoSpace as exc:
                        failures += 1
                        where = traceback.extract_tb(exc.__cause__.__traceback__)
                        print(f"disk full with {leave >> 10} KiB free: met in "
                              f"{' > '.join(frame.name for frame in where[-4:])}")
                        assert re.fullmatch(sentence, str(exc)), str(exc)
                        assert int(exit_code_for(exc)) == 74
                        assert binding_for(exc).http_status == 507
                        assert broken_invariants(archive) == [], f"{leave} bytes left"
                    finally:
                        filler.unlink()
                        # space freed: the next opening takes the journal's reserve back
                        Archive.open(archive.settings).close()
                assert failures >= 3
            assert len(documents_with_sha(archive, _sha(kept))) == 1
            assert len(documents_with_sha(archive, _sha(late))) == 1
        finally:
            archive.close()
        # from the command line: the same sentence, its exit code, and the next ingest
        # after space is freed works
        env = hudang_env(root)
        later = write_scan(root / "late.tif", pages=1, variant=2)
        filler = fill(home, 32 << 10)
        try:
            attempt = run(env, *_ingest_args(later))
        finally:
            filler.unlink()
        assert attempt.returncode == 74
        assert re.fullmatch(f"hudang: {sentence}\n", attempt.stderr), attempt.stderr
        assert run(env, *_ingest_args(later)).returncode == 0
        assert len(_check(root, "after the disk had room again")) == 3
