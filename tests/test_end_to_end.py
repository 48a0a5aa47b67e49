"""The whole path: generate a page, ingest it, find it, read it through the web app, audit it.

Everything is real: the ``hudang`` console script in a subprocess, Tesseract,
a SQLite file, the encrypted blob store, the Whoosh index, and ``hudang serve``
(gunicorn, one process per core) answering HTTP on loopback.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import catalogue_sql
from ingest.synthetic import generate_dossier_set

HUDANG = str(Path(sys.executable).with_name("hudang"))
VILLAGE_PASSWORD = "staff-password-1"


def run(env, *args, input: str | None = None, check: bool = True):
    proc = subprocess.run([HUDANG, *args], env=env, input=input, capture_output=True, text=True,
                          timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"hudang {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An archive with one generated, ingested application letter, and its ground truth."""
    root = tmp_path_factory.mktemp("e2e")
    env = {**os.environ, "HUDANG_HOME": str(root / "home"),
           "HUDANG_MASTER_KEY_FILE": str(root / "keys" / "master.key")}
    env.pop("HUDANG_MASTER_KEY", None)
    env.pop("HUDANG_DATABASE_URL", None)
    manifest = generate_dossier_set(root / "scans", seed=7, households=1,
                                    doc_types=["application"])
    household = manifest.households[0]
    doc = manifest.documents[0]
    run(env, "init")
    for region in sorted(manifest.regions, key=lambda r: len(r.code)):
        run(env, "region", "add", region.code, region.name)
    run(env, "household", "add", household.number, "--head", household.head.name,
        "--region", household.region_code, "--id-number", household.head.id_number)
    township = household.region_code[:9]
    run(env, "user", "add", "clerk", "--role", "staff", "--region", township, "--password-stdin",
        input=VILLAGE_PASSWORD + "\n")
    out = run(env, "ingest", str(doc.files[0]), "--household", household.number,
              "--type", "申请书", "--date", "2024-03-01", "--json").stdout
    result = json.loads(out)
    return {"env": env, "root": root, "household": household, "doc": doc, "result": result,
            "ground_truth": doc.ground_truth[0]}


def test_ingest_json_reports_the_new_document(world):
    r = world["result"]
    assert r["household"] == world["household"].number
    assert r["pages"] == 1 and r["duplicate"] is False and isinstance(r["document_id"], int)


def test_same_file_again_is_a_duplicate_not_a_second_document(world):
    out = run(world["env"], "ingest", str(world["doc"].files[0]), "--household",
              world["household"].number, "--type", "application", "--json").stdout
    again = json.loads(out)
    assert again["duplicate"] is True
    assert again["document_id"] == world["result"]["document_id"]


def test_household_number_and_head_name_come_back_exactly_in_the_ocr_text(world):
    text = run(world["env"], "text", str(world["result"]["document_id"]), "--page", "1").stdout
    assert world["household"].number in text
    assert world["household"].head.name in text
    # the head's ID number is printed on the letter, but shown masked
    assert world["household"].head.id_number not in text


def _search(world, query, *extra):
    out = run(world["env"], "search", query, "--json", *extra).stdout
    return json.loads(out)


def test_found_by_a_chinese_word_of_its_text_by_name_and_by_household_number(world):
    doc_id = world["result"]["document_id"]
    words = [w for w in re.findall(r"[\u4e00-\u9fff]{4,}", world["ground_truth"])
             if world["household"].head.name not in w]
    text = run(world["env"], "text", str(doc_id)).stdout
    word = next(w[:4] for w in words if w[:4] in text)
    for query in (word, world["household"].head.name, world["household"].number):
        hits = _search(world, query)
        assert [h["document_id"] for h in hits] == [doc_id], query
        hit = hits[0]
        assert hit["household"] == world["household"].number
        assert hit["type"] == "application" and hit["page"] == 1
    hit = _search(world, word)[0]
    assert f"[{word[:2]}" in hit["snippet"] or f"[{word}]" in hit["snippet"]


def test_cli_reads_are_recorded_under_the_os_user_or_as_user(world):
    _search(world, world["household"].head.name, "--as", "clerk")
    actors = [r[0] for r in catalogue_sql(Path(world["env"]["HUDANG_HOME"]),
                                          "SELECT actor FROM audit_event WHERE action='search' "
                                          "ORDER BY id")]
    assert "clerk" in actors
    assert any(a != "clerk" for a in actors)


def test_reindex_rebuilds_a_lost_index_from_catalogue_and_blobs(world):
    import shutil

    index = Path(world["env"]["HUDANG_HOME"]) / "index"
    shutil.rmtree(index)
    index.mkdir()
    assert _search(world, world["household"].number) == []
    out = run(world["env"], "reindex").stdout
    assert "reindexed 1 pages" in out
    hits = _search(world, world["household"].number)
    assert [h["document_id"] for h in hits] == [world["result"]["document_id"]]


def test_stored_blobs_hold_no_plaintext(world):
    blobs = [p for p in (Path(world["env"]["HUDANG_HOME"]) / "blobs").rglob("*")
             if p.is_file() and not p.name.startswith("hudang-blobstore")]
    assert len(blobs) >= 3  # archival PDF, access image, page text
    words = {w for w in re.findall(r"[\u4e00-\u9fff]{2,}", world["ground_truth"])}
    # 4 bytes and more: a shorter needle turns up in random ciphertext by chance
    needles = [b"%PDF", b"JFIF", world["household"].number.encode()]
    needles += [w.encode("utf-8") for w in words]
    for blob in blobs:
        raw = blob.read_bytes()
        for needle in needles:
            assert needle not in raw, f"{blob.name} contains plaintext"


@pytest.fixture(scope="module")
def server(world):
    port = free_port()
    proc = subprocess.Popen([HUDANG, "serve", "--port", str(port)], env=world["env"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # a minute: on a busy machine the processes take a while to start
            try:
                requests.get(base + "/login", timeout=1)
                break
            except (requests.ConnectionError, requests.Timeout):  # listening, workers starting
                time.sleep(0.1)
        yield base
    finally:  # also when it never answered: no server left behind
        proc.terminate()
        proc.wait(timeout=30)


def login(base: str, user: str, password: str) -> requests.Session:
    s = requests.Session()
    page = s.get(base + "/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = s.post(base + "/login", data={"csrf_token": token, "username": user,
                                      "password": password})
    assert r.status_code == 200 and "clerk" in r.text
    return s


def test_the_server_is_a_production_server_not_the_flask_development_server(server):
    r = requests.get(server + "/login")
    assert r.headers.get("Server") == "hudang"


def test_login_without_csrf_token_is_refused(server):
    r = requests.post(server + "/login", data={"username": "clerk", "password": VILLAGE_PASSWORD})
    assert r.status_code == 400


def test_session_cookie_is_httponly_and_samesite(server):
    s = requests.Session()
    page = s.get(server + "/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = s.post(server + "/login", data={"csrf_token": token, "username": "clerk",
                                        "password": VILLAGE_PASSWORD}, allow_redirects=False)
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_search_open_dossier_and_read_a_page_in_the_viewer(world, server):
    s = login(server, "clerk", VILLAGE_PASSWORD)
    household = world["household"]
    doc_id = world["result"]["document_id"]
    page = s.get(server + "/", params={"q": household.head.name})
    assert page.status_code == 200 and household.number in page.text
    # no purpose stated yet: the dossier does not open, the purpose form (利用登记) does
    asked = s.get(server + f"/household/{household.number}", allow_redirects=False)
    assert asked.status_code == 302
    assert asked.headers["Location"].endswith(f"/household/{household.number}/purpose")
    form = s.get(server + f"/household/{household.number}/purpose").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    dossier = s.post(server + f"/household/{household.number}/purpose",
                     data={"csrf_token": token, "purpose": "审核", "purpose_other": ""})
    assert dossier.status_code == 200 and dossier.url.endswith(f"/household/{household.number}")
    assert "申请书" in dossier.text and f"/document/{doc_id}/page/1" in dossier.text
    assert household.head.id_number not in dossier.text  # masked on screen
    assert household.head.id_number[:4] + "*" * 10 + household.head.id_number[-4:] in dossier.text
    viewer = s.get(server + f"/document/{doc_id}/page/1")
    assert viewer.status_code == 200 and f"/document/{doc_id}/page/1/image" in viewer.text
    image = s.get(server + f"/document/{doc_id}/page/1/image")
    assert image.status_code == 200
    assert image.headers["Content-Type"] == "image/jpeg"
    assert image.headers["Cache-Control"] == "no-store"
    assert image.content[:3] == b"\xff\xd8\xff"
    # the audit log records this very read: user, object, page, outcome
    row = catalogue_sql(Path(world["env"]["HUDANG_HOME"]),
                        "SELECT actor, object_id, page, outcome, purpose FROM audit_event "
                        "WHERE action='read_page' ORDER BY id DESC LIMIT 1")[0]
    assert row == ("clerk", str(doc_id), 1, "allowed", "审核")


def test_a_missing_page_is_404_and_recorded_as_refused(world, server):
    s = login(server, "clerk", VILLAGE_PASSWORD)
    r = s.get(server + "/document/999999/page/1/image")
    assert r.status_code == 404
    row = catalogue_sql(Path(world["env"]["HUDANG_HOME"]),
                        "SELECT actor, outcome FROM audit_event WHERE action='read_page' "
                        "AND object_id='999999'")[0]
    assert row == ("clerk", "refused")


def test_anonymous_reader_is_sent_to_login_and_gets_no_image(world, server):
    doc_id = world["result"]["document_id"]
    r = requests.get(server + f"/document/{doc_id}/page/1/image", allow_redirects=False)
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_english_interface_on_request(server):
    r = requests.get(server + "/login", params={"lang": "en"})
    assert "Sign in" in r.text
    assert "登录" in requests.get(server + "/login").text


def test_audit_verify_passes_then_fails_after_one_row_is_altered(world, server):
    # runs last in this module: it breaks the log on purpose
    ok = run(world["env"], "audit", "verify")
    assert ok.returncode == 0 and "intact" in ok.stdout
    home = Path(world["env"]["HUDANG_HOME"])
    catalogue_sql(home, "UPDATE audit_event SET actor='nobody' WHERE action='read_page' "
                  "AND outcome='allowed'")
    bad_id = catalogue_sql(home, "SELECT min(id) FROM audit_event WHERE actor='nobody'")[0][0]
    broken = run(world["env"], "audit", "verify", check=False)
    assert broken.returncode != 0
    assert f"event {bad_id}" in broken.stderr
    assert "Traceback" not in broken.stderr
