"""A document rescan killed with SIGKILL at each stage of its unit leaves nothing half-done:
the document holds either its old file or the rescan, whole, once the archive is opened
again (the recovery), and every invariant holds (crash_support.broken_invariants).

Real parts: the ``hudang replace-document`` command in a subprocess of its own session,
killed as soon as its journal reaches a stage; real Tesseract on one-page scans.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import make_archive
from crash_support import (HOUSEHOLD, broken_invariants, hudang_env, kill_at_journal, run,
                           start, survivors, visible_rows_have_blobs, write_scan)
from ingest.archive import Archive
from ingest.settings import Settings
from records.model import Correction, Document

pytestmark = pytest.mark.slow

# Journal lines of a one-page document rescan: 1 the unit; 2-5 its blobs (the archival PDF,
# the page's access image and text, the file as received); 6 the blobs it retires; 7 the
# document taken out of the index; 8 the document indexed again; 9 indexed.
STAGES = (2, 5, 6, 7, 9)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check(settings: Settings, what: str) -> tuple[str, int]:
    """After a kill: no half-document is visible; opening recovers; every invariant holds.
    Returns the document's file (its SHA-256) and how many corrections it has."""
    assert visible_rows_have_blobs(settings) == [], what
    archive = Archive.open(settings)
    try:
        assert broken_invariants(archive) == [], what
        with archive.Session() as s:
            doc = s.scalars(select(Document)).one()
            count = len(s.scalars(select(Correction)).all())
            return doc.sha256, count
    finally:
        archive.close()


@pytest.mark.timeout(1800)
def test_a_document_rescan_killed_at_any_stage_is_finished_or_rolled_back(tmp_path):
    make_archive(tmp_path).close()
    settings = Settings.from_env(tmp_path / "home", tmp_path / "keys" / "master.key")
    env = hudang_env(tmp_path)
    scans = tmp_path / "scans"
    scans.mkdir()
    first = write_scan(scans / "v0.tif", pages=1, variant=0)
    done = run(env, "ingest", str(first), "--household", HOUSEHOLD, "--type", "申请书")
    assert done.returncode == 0, done.stderr
    holds, variant, outcomes = _sha(first), 1, []
    for lines in STAGES:
        rescan = write_scan(scans / f"v{variant}.tif", pages=1, variant=variant)
        proc = start(env, "replace-document", "1", str(rescan), log=tmp_path / "trial.log")
        kill = kill_at_journal(proc, settings.journal_dir, lines)
        what = f"killed at journal line {lines}"
        assert survivors(proc.pid) == [], what
        sha, _ = _check(settings, what)
        assert sha in (holds, _sha(rescan)), what  # the old file or the rescan, whole
        outcomes.append("finished" if sha != holds else "rolled back")
        if sha != holds:
            holds, variant = sha, variant + 1
        assert not kill.completed or sha == _sha(rescan), what
    assert "rolled back" in outcomes, outcomes
    # a rescan run again after the kills goes in whole, exactly once
    rescan = write_scan(scans / f"v{variant}.tif", pages=1, variant=variant)
    again = run(env, "replace-document", "1", str(rescan))
    assert again.returncode == 0, again.stderr
    assert _check(settings, "after a whole run")[0] == _sha(rescan)
