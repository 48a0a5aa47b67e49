"""Backup and restore: a consistent snapshot taken while the server serves and an ingest
runs, restored into an empty home with every document readable, the index rebuilt and the
audit chain verifying; a second backup copies only what changed; a backup holds no
plaintext and never the master key.

Real parts: an archive with really ingested pages, ``hudang serve`` and ``hudang ingest``
running as subprocesses while ``hudang backup`` runs, SQLite's online backup, real OCR.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from PIL import Image, ImageDraw
from sqlalchemy import select

import pg_support
from browser_support import PASSWORD, World, build_world, serve
from ingest.archive import Archive, Settings
from ingest.backup import PG_SNAPSHOT, SQLITE_SNAPSHOT
from ingest.fonts import cjk_font
from records.model import Document
from web.cli import main

HUDANG = str(Path(sys.executable).with_name("hudang"))
PAGE_TEXT = "家庭收入低于当地标准"  # printed on every page of the world
NEW_TEXT = "备份期间入库的调查表"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("backup"))


@pytest.fixture
def mine(world, tmp_path, no_hudang_env) -> World:
    return world.copy(tmp_path)


def hudang(home: Path, key_file: Path, *args):
    return CliRunner().invoke(main, ["--home", str(home), "--key-file", str(key_file), *args])


def scan(path: Path) -> Path:
    image = Image.new("L", (1240, 600), 255)
    ImageDraw.Draw(image).text((80, 250), NEW_TEXT, font=cjk_font(56), fill=0)
    image.save(path, dpi=(150, 150))
    return path


def readable(home: Path, key_file: Path) -> dict[int, str]:
    """Every document of the home opened (PDF, file as received, pages): {id: page text}."""
    archive = Archive.open(Settings.from_env(home, key_file))
    texts = {}
    try:
        with archive.Session() as s:
            for doc in s.scalars(select(Document)):
                assert archive.blobs.get(doc.pdf_ref, doc.pdf_key).startswith(b"%PDF")
                archive.blobs.verify(doc.original_ref, doc.original_key, doc.sha256)
                texts[doc.id] = "".join(
                    archive.blobs.get(p.text_ref, p.text_key).decode() for p in doc.pages
                    if archive.blobs.get(p.image_ref, p.image_key)[:3] == b"\xff\xd8\xff")
    finally:
        archive.close()
    return texts


def test_backup_while_serving_and_ingesting_then_restore_into_an_empty_home(mine, tmp_path):
    env = mine.env()
    dest = tmp_path / "backup"
    with serve(env) as base:
        web = requests.Session()
        csrf = web.get(base + "/login").text.split('name="csrf_token" value="')[1].split('"')[0]
        assert web.post(base + "/login", data={"username": mine.a.staff, "password": PASSWORD,
                                               "csrf_token": csrf}).status_code == 200
        ingest = subprocess.Popen(
            [HUDANG, "ingest", str(scan(tmp_path / "new.png")), "--household", mine.a.number,
             "--type", "入户调查表", "--ocr-engine", "tesseract", "--json"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            while ingest.poll() is None and not any((mine.home / "tmp").glob("ingest-*")):
                time.sleep(0.05)  # until the ingest is under way (its work folder exists)
            first = subprocess.run([HUDANG, "backup", str(dest)], env=env, capture_output=True,
                                   text=True, timeout=600)
            served = web.get(base + "/", params={"q": mine.a.name})
        finally:
            out, err = ingest.communicate(timeout=600)
    assert first.returncode == 0, first.stderr
    assert served.status_code == 200 and mine.a.number in served.text  # it went on serving
    assert ingest.returncode == 0, err

    # a second backup to the same place copies only what changed: the new document's blobs
    second = hudang(mine.home, mine.key_file, "backup", str(dest))
    assert second.exit_code == 0, second.output
    copied = int(second.stdout.split("(")[1].split(" copied")[0])
    assert copied in (0, 4)  # 0 if the first backup already caught the new document
    third = hudang(mine.home, mine.key_file, "backup", str(dest))
    assert "(0 copied now, 0 removed)" in third.stdout

    # restore into an empty home, with the same key
    home2 = tmp_path / "restored"
    restored = hudang(home2, mine.key_file, "restore", str(dest))
    assert restored.exit_code == 0, restored.output
    assert "search index rebuilt" in restored.stdout and "audit log intact" in restored.stdout
    texts = readable(home2, mine.key_file)
    assert texts.keys() == readable(mine.home, mine.key_file).keys() and len(texts) == 3
    assert sum(PAGE_TEXT in t for t in texts.values()) == 2
    found = hudang(home2, mine.key_file, "search", mine.a.name)
    assert found.exit_code == 0 and mine.a.number in found.stdout
    assert hudang(home2, mine.key_file, "audit", "verify").exit_code == 0
    verified = hudang(home2, mine.key_file, "verify")
    assert verified.exit_code == 0, verified.output


def test_a_backup_holds_no_plaintext_and_never_the_master_key(mine, tmp_path):
    dest = tmp_path / "backup"
    assert hudang(mine.home, mine.key_file, "backup", str(dest)).exit_code == 0
    raw_key = base64.b64decode(mine.key_file.read_text().strip().split(":", 1)[1])
    forms = [raw_key, raw_key.hex().encode(), raw_key.hex().upper().encode(),
             base64.b64encode(raw_key), base64.b64encode(raw_key).rstrip(b"="),
             base64.urlsafe_b64encode(raw_key).rstrip(b"=")]
    plaintext = [PAGE_TEXT.encode(), PAGE_TEXT.encode("utf-16-le"), mine.a.id_number.encode(),
                 mine.b.id_number.encode(), b"%PDF", b"\x89PNG", b"JFIF"]
    files = [p for p in dest.rglob("*") if p.is_file()]
    catalogue = PG_SNAPSHOT if pg_support.enabled() else SQLITE_SNAPSHOT
    assert {p.name for p in files} >= {"hudang-backup.json", catalogue, "hudang-blobstore.json"}
    assert not (dest / "index").exists()
    for path in files:
        data = path.read_bytes()
        for secret in forms:
            assert secret not in data, path
        for clear in plaintext:
            assert clear not in data, path


def test_restore_refuses_a_home_that_is_not_empty_and_a_wrong_key(mine, tmp_path):
    dest = tmp_path / "backup"
    assert hudang(mine.home, mine.key_file, "backup", str(dest)).exit_code == 0
    busy = hudang(mine.home, mine.key_file, "restore", str(dest))
    assert busy.exit_code == 1 and "is not empty" in busy.stderr
    other_key = tmp_path / "other" / "master.key"
    from storage import MasterKey

    MasterKey.create_file(other_key)
    wrong = hudang(tmp_path / "fresh", other_key, "restore", str(dest))
    assert wrong.exit_code == 1 and "import the backup's key first" in wrong.stderr
    assert not (tmp_path / "fresh").exists()
    stray = tmp_path / "not-a-backup"
    stray.mkdir()
    (stray / "notes.txt").write_text("x")
    refused = hudang(mine.home, mine.key_file, "backup", str(stray))
    assert refused.exit_code == 1 and "holds no hudang backup" in refused.stderr
    shutil.rmtree(stray)


def test_an_old_backup_restores_after_a_key_rotation_with_the_retired_key_beside(mine, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    key_file = keys / "master.key"
    shutil.copy(mine.key_file, key_file)
    os.chmod(key_file, 0o600)
    dest = tmp_path / "before-rotation"
    assert hudang(mine.home, key_file, "backup", str(dest)).exit_code == 0
    assert hudang(mine.home, key_file, "key", "rotate").exit_code == 0
    home2 = tmp_path / "restored"
    restored = hudang(home2, key_file, "restore", str(dest))
    assert restored.exit_code == 0, restored.output
    assert len(readable(home2, key_file)) == 2
    # its rows are still under the retired key: verify says so, a rotation mends it
    assert kinds(home2, key_file) == {"retired_key", "certificate_not_carried"}
    assert hudang(home2, key_file, "audit", "verify").exit_code == 0
    rotated = hudang(home2, key_file, "key", "rotate")
    assert rotated.exit_code == 0, rotated.output
    # (but for a certificate number recorded before it was kept sealed: entered again)
    assert kinds(home2, key_file) == {"certificate_not_carried"}
    assert hudang(home2, key_file, "household", "certificate", mine.a.number,
                  mine.a.certificate).exit_code == 0
    assert hudang(home2, key_file, "verify").exit_code == 0


def kinds(home: Path, key_file: Path) -> set[str]:
    result = hudang(home, key_file, "verify", "--json")
    return {f["kind"] for f in json.loads(result.stdout)["findings"] if not f["note"]}
