"""``hudang reindex`` killed halfway goes on where it stopped: the index ends complete,
every document in it once, and a second run says how far the first got.

Three hundred generated documents (ingest/synthetic_catalogue.py: page text, no images)
are catalogued; ``hudang reindex --batch 10`` runs as a subprocess and is killed (SIGKILL,
or Ctrl-C's SIGINT) once its checkpoint shows a batch done.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from web.errors import ExitCode

N = 300


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    from conftest import make_archive
    from ingest.synthetic_catalogue import add_text_documents, text_documents

    root = tmp_path_factory.mktemp("reindex")
    archive = make_archive(root)
    try:
        assert add_text_documents(archive, text_documents(N, seed=3)) == N
    finally:
        archive.close()
    return root


def _env(root: Path) -> dict:
    env = {**os.environ, "HUDANG_HOME": str(root / "home"),
           "HUDANG_MASTER_KEY_FILE": str(root / "keys" / "master.key")}
    for name in ("HUDANG_MASTER_KEY", "HUDANG_DATABASE_URL"):
        env.pop(name, None)
    return env


def _hudang() -> str:
    return str(Path(sys.executable).with_name("hudang"))


def _indexed(root: Path) -> tuple[int, set[int], list]:
    from ingest.archive import Archive, Settings

    archive = Archive.open(Settings.from_env(root / "home", root / "keys" / "master.key"))
    try:
        hits = archive.index.search("D000017").hits
        return archive.index.doc_count(), archive.index.document_ids(), hits
    finally:
        archive.close()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["sigkill", "ctrl-c"])
def test_an_interrupted_reindex_goes_on_where_it_stopped(home: Path, how):
    checkpoint = home / "home" / "reindex-checkpoint.json"
    proc = subprocess.Popen([_hudang(), "reindex", "--batch", "10"], env=_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = 0
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            done = json.loads(checkpoint.read_text())["after"]
        except (FileNotFoundError, ValueError, KeyError):
            done = 0
        if done > 0:
            proc.send_signal(how)
            break
        time.sleep(0.005)
    out, err = proc.communicate(timeout=120)
    assert done > 0, f"the reindex ended before it could be interrupted: {err}"
    assert proc.returncode != 0, f"killed, it must not report success: {err}"
    assert "Traceback" not in err
    if how == signal.SIGINT:
        assert "run 'hudang reindex' again" in err
        assert proc.returncode == ExitCode.interrupted  # 130, from the one table
    assert checkpoint.exists()  # where it stopped, kept
    # halfway: some documents in, not all
    count, ids, _ = _indexed(home)
    assert 0 < count < N

    again = subprocess.run([_hudang(), "reindex", "--batch", "10"], env=_env(home),
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "going on with an interrupted reindex" in again.stderr
    assert f"reindexed {N} pages" in again.stdout
    assert not checkpoint.exists()
    count, ids, hits = _indexed(home)
    assert count == N  # each document once
    assert len(ids) == N
    assert len(hits) == 1 and hits[0].title.endswith("第17号")  # found, once
