"""The command line's promises: clear one-line errors, keys kept apart, exit codes."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import pg_support

HUDANG = str(Path(sys.executable).with_name("hudang"))


def run(env, *args, input=None):
    return subprocess.run([HUDANG, *args], env=env, input=input, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def env(tmp_path):
    e = {**os.environ, "HUDANG_HOME": str(tmp_path / "home"),
         "HUDANG_MASTER_KEY_FILE": str(tmp_path / "keys" / "master.key")}
    e.pop("HUDANG_MASTER_KEY", None)
    e.pop("HUDANG_DATABASE_URL", None)
    return e


def one_line_error(proc) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_init_creates_home_and_a_private_key_outside_it(env, tmp_path):
    proc = run(env, "init")
    assert proc.returncode == 0, proc.stderr
    key = Path(env["HUDANG_MASTER_KEY_FILE"])
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    home = Path(env["HUDANG_HOME"])
    assert (home / "blobs").is_dir()
    # the catalogue is in the home, unless the suite runs on PostgreSQL
    assert (home / "catalogue.sqlite").is_file() != pg_support.enabled()
    assert not any(home.rglob("master.key"))
    # the key's bytes appear nowhere in the data home
    secret = key.read_text().strip().split(":", 1)[1].encode()
    for f in home.rglob("*"):
        if f.is_file():
            assert secret not in f.read_bytes()


def test_init_home_option_chooses_the_folder(env, tmp_path):
    proc = run(env, "init", "--home", str(tmp_path / "elsewhere"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "elsewhere" / "blobs").is_dir()


def test_missing_key_is_a_clear_one_line_error(env, tmp_path):
    assert run(env, "init").returncode == 0
    Path(env["HUDANG_MASTER_KEY_FILE"]).unlink()
    line = one_line_error(run(env, "search", "低保"))
    assert env["HUDANG_MASTER_KEY_FILE"] in line and "does not exist" in line


def test_wrong_key_is_a_clear_one_line_error_not_garbage(env, tmp_path):
    assert run(env, "init").returncode == 0
    other = {**env, "HUDANG_MASTER_KEY_FILE": str(tmp_path / "other" / "master.key"),
             "HUDANG_HOME": str(tmp_path / "other-home")}
    assert run(other, "init").returncode == 0
    wrong = {**env, "HUDANG_MASTER_KEY_FILE": other["HUDANG_MASTER_KEY_FILE"]}
    line = one_line_error(run(wrong, "search", "低保"))
    assert "does not open" in line


def test_no_archive_yet_says_to_run_init(env):
    line = one_line_error(run(env, "search", "低保"))
    assert "hudang init" in line


def test_key_inside_the_home_is_refused(env, tmp_path):
    inside = {**env, "HUDANG_MASTER_KEY_FILE": str(Path(env["HUDANG_HOME"]) / "master.key")}
    line = one_line_error(run(inside, "init"))
    assert "must not lie inside" in line


def test_administration_commands_and_their_errors(env):
    assert run(env, "init").returncode == 0
    assert "county" in run(env, "region", "add", "220381", "示范县").stdout
    assert "township" in run(env, "region", "add", "220381105", "东风镇").stdout
    assert "village" in run(env, "region", "add", "220381105012", "红星村").stdout
    ok = run(env, "household", "add", "220381105012-0042", "--head", "王德胜",
             "--region", "220381105012", "--id-number", "11010519491231002X")
    assert ok.returncode == 0, ok.stderr
    line = one_line_error(run(env, "household", "add", "220381105012-0043", "--head", "李四",
                              "--region", "220381105012", "--id-number", "110105194912310021"))
    assert "check digit" in line and "110105194912310021" not in line
    assert "already exists" in one_line_error(
        run(env, "household", "add", "220381105012-0042", "--head", "王德胜",
            "--region", "220381105012"))
    made = run(env, "user", "add", "clerk", "--role", "staff", "--region", "220381105",
               "--password-stdin", input="a long password\n")
    assert made.returncode == 0, made.stderr
    assert "unknown role" in one_line_error(
        run(env, "user", "add", "bob", "--role", "king", "--password-stdin", input="long enough\n"))
    missing = one_line_error(run(env, "ingest", "/nonexistent/scan.pdf", "--household",
                                 "220381105012-0042", "--type", "申请书"))
    assert "scan.pdf" in missing
    unknown = one_line_error(run(env, "ingest", "/nonexistent/scan.pdf", "--household",
                                 "220381105012-9999", "--type", "申请书"))
    assert "220381105012-9999" in unknown


def test_staff_may_not_ingest_and_outside_reads_look_like_missing(env, tmp_path):
    assert run(env, "init").returncode == 0
    run(env, "region", "add", "220381", "示范县")
    run(env, "region", "add", "220381105", "东风镇")
    run(env, "region", "add", "220381105012", "红星村")
    run(env, "household", "add", "220381105012-0042", "--head", "王德胜", "--region", "220381105012")
    run(env, "user", "add", "clerk", "--role", "staff", "--password-stdin", input="a long password\n")
    scan = tmp_path / "x.png"
    from PIL import Image

    Image.new("L", (100, 100), 255).save(scan)
    refused = run(env, "ingest", str(scan), "--household", "220381105012-0042", "--type", "申请书",
                  "--as", "clerk")
    assert "was not found" in one_line_error(refused)
    assert "was not found" in one_line_error(run(env, "text", "12345"))


def test_staff_reading_another_townships_document_gets_what_a_missing_one_gets(tmp_path):
    """From the CLI, as a staff account: a document outside the jurisdiction and a document
    that does not exist answer the same sentence and exit code; both are recorded as refused."""
    from browser_support import build_world
    from conftest import catalogue_sql

    world = build_world(tmp_path / "world")
    env = world.env()
    missing = world.b.document_id + 1000
    outside = run(env, "text", str(world.b.document_id), "--as", world.a.staff)
    absent = run(env, "text", str(missing), "--as", world.a.staff)
    assert outside.returncode == absent.returncode == 3
    assert (one_line_error(outside).replace(str(world.b.document_id), "N")
            == one_line_error(absent).replace(str(missing), "N"))
    assert "was not found" in one_line_error(outside)
    own = run(env, "text", str(world.a.document_id), "--as", world.a.staff)
    assert own.returncode == 0 and world.a.name in own.stdout
    refused = catalogue_sql(world.home, "SELECT object_id, household FROM audit_event "
                            "WHERE actor = :actor AND outcome = 'refused' ORDER BY id",
                            {"actor": world.a.staff})
    # the refusal outside is on record under the other township's household
    assert refused == [(str(world.b.document_id), world.b.number), (str(missing), None)]
