"""Key rotation: a new master key, every data key re-wrapped, sealed ID numbers and blind
indexes carried over, the blobs untouched, resumable after a kill, every document readable
throughout; and per-object keys in a real archive.

Real parts: archives with really ingested pages (``browser_support.build_world``), each test
on its own copy with its own key file; ``hudang`` in-process (click's runner) and, for the
kill, as a subprocess killed with SIGKILL.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from browser_support import PASSWORD, World, build_world
from conftest import catalogue_sql
from ingest import keyrotation
from ingest.archive import Archive, Settings
from records.catalogue import add_household
from records.model import (Document, FailedAttempt, Household, HouseholdCertificate, KeyRotation,
                           Page, RotationState)
from records.self_lookup import set_certificate
from storage import MasterKey
from web.cli import main

HUDANG = str(Path(sys.executable).with_name("hudang"))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("rotation"))


@pytest.fixture
def mine(world, tmp_path, no_hudang_env) -> World:
    """A copy of the world with its own key file: a rotation here touches nothing else."""
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    shutil.copy(world.key_file, keys / "master.key")
    os.chmod(keys / "master.key", 0o600)
    copy = world.copy(tmp_path)
    return World(copy.root, copy.home, keys / "master.key", copy.a, copy.b)


def hudang(w: World, *args, input=None):
    return CliRunner().invoke(main, ["--home", str(w.home), "--key-file", str(w.key_file), *args],
                              input=input)


def blob_files(w: World) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (w.home / "blobs").glob("??/??/*")}


def read_everything(archive: Archive) -> int:
    """Open every blob of every document and every sealed ID number; returns blobs read."""
    n = 0
    with archive.Session() as s:
        for doc in s.scalars(select(Document)):
            archive.blobs.get(doc.pdf_ref, doc.pdf_key)
            archive.blobs.get(doc.original_ref, doc.original_key)
            n += 2
            for page in doc.pages:
                archive.blobs.get(page.image_ref, page.image_key)
                archive.blobs.get(page.text_ref, page.text_key)
                n += 2
        for household in s.scalars(select(Household)):
            if household.head_id_sealed is not None:
                assert len(archive.reveal_id_number(household)) == 18
    return n


def test_no_two_objects_of_an_archive_share_a_wrapped_key_or_a_nonce(world):
    archive = world.open()
    try:
        with archive.Session() as s:
            wrapped = [k for d in s.scalars(select(Document)) for k in (d.pdf_key, d.original_key)]
            wrapped += [k for p in s.scalars(select(Page)) for k in (p.image_key, p.text_key)]
        data_keys = {archive.master.unwrap(k) for k in wrapped}
    finally:
        archive.close()
    files = blob_files(world)
    nonces = {raw[5:17] for raw in files.values()}  # b"HDB1", version byte, 12-byte nonce
    assert len(wrapped) == len(files) == 8
    assert len(set(wrapped)) == len(data_keys) == len(nonces) == 8


class Interrupted(Exception):
    pass


def test_a_rotation_stopped_halfway_leaves_everything_readable_and_resumes(mine):
    archive = Archive.open(Settings.from_env(mine.home, mine.key_file))
    with archive.Session() as s, s.begin():  # a certificate kept sealed, and a lock-out counter
        household = s.scalar(select(Household).where(Household.number == mine.a.number))
        sealed, index = archive.seal_certificate(mine.a.certificate)
        set_certificate(s, household, index, sealed=sealed)
        s.add(FailedAttempt(kind="sign_in", key="0" * 64))
    stale = Archive.open(Settings.from_env(mine.home, mine.key_file))  # a server, say
    old_key = MasterKey.load(mine.key_file)
    blobs_before = blob_files(mine)
    done = []

    def stop_halfway(rows: int) -> None:
        done.append(rows)
        if sum(done) >= 4:
            raise Interrupted  # as a kill between two batches would leave it

    with pytest.raises(Interrupted):
        keyrotation.rotate(archive, "op", batch=1, progress=stop_halfway)
    archive.close()
    state, rows_done = catalogue_sql(mine.home, "SELECT state, rows_done FROM key_rotation")[0]
    assert state == "running" and 0 < rows_done < 7
    assert (mine.key_file.parent / "master.key.next").exists()

    # halfway: a process opened now, and one opened before it began, read everything
    fresh = Archive.open(Settings.from_env(mine.home, mine.key_file))
    assert read_everything(fresh) == 8
    fresh.close()
    assert read_everything(stale) == 8
    assert hudang(mine, "text", str(mine.a.document_id)).exit_code == 0

    resumed = hudang(mine, "key", "rotate")
    assert resumed.exit_code == 0, resumed.output
    assert "finished the interrupted rotation" in resumed.stdout
    new_key = MasterKey.load(mine.key_file)
    assert not new_key.same_key(old_key)
    [retired] = list(mine.key_file.parent.glob("master.key.retired-*"))
    assert MasterKey.load(retired).same_key(old_key)
    assert not (mine.key_file.parent / "master.key.next").exists()
    assert blob_files(mine) == blobs_before  # not one blob rewritten

    after = Archive.open(Settings.from_env(mine.home, mine.key_file))
    try:
        assert read_everything(after) == 8
        assert read_everything(stale) == 8  # the stale process catches up by itself
        with after.Session() as s:
            for model in (Document, Page, Household, HouseholdCertificate):
                assert set(s.scalars(select(model.key_id))) == {new_key.fingerprint()}, model
            household = s.scalar(select(Household).where(Household.number == mine.a.number))
            # blind indexes computed again under the new key: look-ups still find the household
            assert household.head_id_index == after.id_index(mine.a.id_number)
            assert s.get(HouseholdCertificate, household.id).certificate_no_index == \
                after.certificate_index(mine.a.certificate)
            assert s.scalar(select(func.count(FailedAttempt.id))) == 0
            assert s.scalar(select(KeyRotation.state)) is RotationState.done
    finally:
        after.close()
        stale.close()
    verified = hudang(mine, "verify")
    assert verified.exit_code == 0, verified.output
    assert hudang(mine, "audit", "verify").exit_code == 0
    # the old key file removed: the links it made are still checked, through the re-keying
    retired.unlink()
    checked = hudang(mine, "audit", "verify")
    assert checked.exit_code == 0, checked.output
    # the search index's files re-wrapped too: the new key alone opens them
    from search import SearchIndex

    with SearchIndex.open(mine.home / "index", keys=new_key) as index:
        assert not index.needs_rebuild
        assert index.search(mine.a.number).hits


def test_a_rotation_killed_with_sigkill_resumes_and_loses_nothing(mine):
    archive = Archive.open(Settings.from_env(mine.home, mine.key_file))
    numbers = {}
    with archive.Session() as s, s.begin():  # enough rows that the kill lands halfway
        for i in range(1, 1201):
            number = f"220381105012-{i + 100:04d}"
            id_number = _id_number(f"22038119800101{i % 1000:03d}")
            sealed, index = archive.seal_id_number(id_number)
            add_household(s, number, f"户主{i}", "220381105012", head_id_sealed=sealed,
                          head_id_index=index)
            numbers[number] = id_number
    archive.close()
    env = {**os.environ, "HUDANG_HOME": str(mine.home), "HUDANG_MASTER_KEY_FILE": str(mine.key_file)}
    env.pop("HUDANG_MASTER_KEY", None)
    child = subprocess.Popen([HUDANG, "key", "rotate", "--batch", "1"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while child.poll() is None:  # wait for the rotation to be under way, then kill it
            rows = catalogue_sql(mine.home, "SELECT rows_done FROM key_rotation")
            row = rows[0] if rows else None  # the row appears when the rotation starts
            if row and row[0] >= 50:
                child.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
    finally:
        child.wait(timeout=600)
    assert child.returncode == -signal.SIGKILL, "the rotation ended before it could be killed"
    state, done = catalogue_sql(mine.home, "SELECT state, rows_done FROM key_rotation")[0]
    assert state == "running" and done < 1200
    halfway = Archive.open(Settings.from_env(mine.home, mine.key_file))
    try:
        assert read_everything(halfway) == 8
    finally:
        halfway.close()
    resumed = hudang(mine, "key", "rotate")
    assert resumed.exit_code == 0, resumed.output
    after = Archive.open(Settings.from_env(mine.home, mine.key_file))
    try:
        assert read_everything(after) == 8
        with after.Session() as s:
            for household in s.scalars(select(Household).where(Household.number.in_(
                    list(numbers)[::97]))):
                assert after.reveal_id_number(household) == numbers[household.number]
                assert household.head_id_index == after.id_index(numbers[household.number])
    finally:
        after.close()
    # household a's certificate number was recorded the old way (no sealed copy): its blind
    # index could not be carried over; verify says so, and entering it again mends it
    code = hudang(mine, "verify", "--json")
    assert code.exit_code == 6
    assert [f["kind"] for f in json.loads(code.stdout)["findings"] if not f["note"]] == \
        ["certificate_not_carried"]
    assert hudang(mine, "household", "certificate", mine.a.number,
                  mine.a.certificate).exit_code == 0
    assert hudang(mine, "verify").exit_code == 0


def test_a_members_id_number_is_carried_over_by_a_rotation(mine):
    """Members' ID numbers are sealed and blind-indexed like the head's: a rotation seals
    them again under the new key, so they still open and are still found."""
    from records.model import HouseholdMember

    spouse = _id_number("22038119850302002")
    added = hudang(mine, "household", "member", "add", mine.a.number, "李梅", "配偶",
                   "--id-number", spouse)
    assert added.exit_code == 0, added.output
    old_key = MasterKey.load(mine.key_file).fingerprint()
    rotated = hudang(mine, "key", "rotate")
    assert rotated.exit_code == 0, rotated.output
    after = Archive.open(Settings.from_env(mine.home, mine.key_file))
    try:
        with after.Session() as s:
            member = s.scalar(select(HouseholdMember).where(HouseholdMember.name == "李梅"))
            assert member.key_id == after.master.fingerprint() != old_key
            assert after.open_id_number(member.id_sealed) == spouse
            assert member.id_index == after.id_index(spouse)
    finally:
        after.close()
    shown = hudang(mine, "household", "show", mine.a.number, "--json")
    assert shown.exit_code == 0 and spouse[-4:] in shown.output and spouse not in shown.output


def _id_number(first17: str) -> str:
    from records.idnumbers import check_digit

    return first17 + check_digit(first17)


def test_a_server_running_across_a_rotation_keeps_serving_pages(mine):
    from web.app import create_app

    archive = Archive.open(Settings.from_env(mine.home, mine.key_file))
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, archive=archive)
    client = app.test_client()
    assert client.post("/login", data={"username": mine.a.staff,
                                       "password": PASSWORD}).status_code == 302
    client.post(f"/household/{mine.a.number}/purpose", data={"purpose": "审核"})
    page = f"/document/{mine.a.document_id}/page/1/image"
    assert client.get(page).status_code == 200
    assert hudang(mine, "key", "rotate").exit_code == 0  # another process rotates
    after = client.get(page)
    assert after.status_code == 200 and after.mimetype == "image/jpeg"
    assert hudang(mine, "audit", "verify").exit_code == 0
    archive.close()


def test_rotation_needs_the_key_in_a_file(mine, monkeypatch):
    monkeypatch.setenv("HUDANG_MASTER_KEY", mine.key_file.read_text().split(":", 1)[1].strip())
    refused = hudang(mine, "key", "rotate")
    assert refused.exit_code == 78
    assert "HUDANG_MASTER_KEY" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_key_import_refuses_another_key_unless_forced_and_keeps_it_aside(mine, tmp_path):
    export = tmp_path / "key-export.json"
    passphrase = "a long office passphrase\n"
    assert hudang(mine, "key", "export", str(export), "--passphrase-stdin",
                  input=passphrase).exit_code == 0
    same = hudang(mine, "key", "import", str(export), "--passphrase-stdin", input=passphrase)
    assert same.exit_code == 0 and "already holds" in same.stdout
    other = tmp_path / "other" / "master.key"
    MasterKey.create_file(other)
    runner = CliRunner()
    base = ["--home", str(mine.home), "--key-file", str(other)]
    refused = runner.invoke(main, [*base, "key", "import", str(export), "--passphrase-stdin"],
                            input=passphrase)
    assert refused.exit_code == 78 and "--force" in refused.stderr
    forced = runner.invoke(main, [*base, "key", "import", str(export), "--passphrase-stdin",
                                  "--force"], input=passphrase)
    assert forced.exit_code == 0, forced.output
    assert MasterKey.load(other).same_key(MasterKey.load(mine.key_file))
    assert len(list(other.parent.glob("master.key.replaced-*"))) == 1


def test_a_wrong_passphrase_is_one_sentence_never_a_traceback(mine, tmp_path):
    export = tmp_path / "key-export.json"
    assert hudang(mine, "key", "export", str(export), "--passphrase-stdin",
                  input="a long office passphrase\n").exit_code == 0
    env = {**os.environ, "HUDANG_HOME": str(tmp_path / "new-home"),
           "HUDANG_MASTER_KEY_FILE": str(tmp_path / "new-keys" / "master.key")}
    env.pop("HUDANG_MASTER_KEY", None)
    proc = subprocess.run([HUDANG, "key", "import", str(export), "--passphrase-stdin"], env=env,
                          input="not the passphrase\n", capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 77
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"hudang: the passphrase does not open the key export '{export}' (or the "
                     "file was altered)"]
    assert not (tmp_path / "new-keys" / "master.key").exists()
