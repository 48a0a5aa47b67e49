"""What the crash-safety tests share: small scans, killing a real ``hudang`` subprocess,
counting what it leaves running, the archive's invariants, and a small disk (tmpfs)."""
from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, func, select

HUDANG = str(Path(sys.executable).with_name("hudang"))
HOUSEHOLD = "220381105012-0042"
LINES = ("最低生活保障申请书", "申请人王德胜 家庭人口三人", "户号 220381105012-0042",
         "村民委员会审核意见 同意上报")


def write_scan(path: Path, *, pages: int, variant: int) -> Path:
    """A small multi-page TIFF (820 x 420 px pages at 150 dpi, four lines of Chinese each);
    each ``variant`` has its own bytes (so its own SHA-256) and the same pages."""
    from PIL import Image, ImageDraw

    from ingest.fonts import cjk_font

    font = cjk_font(34)
    frames = []
    for _ in range(pages):
        image = Image.new("L", (820, 420), 255)
        draw = ImageDraw.Draw(image)
        for i, line in enumerate(LINES):
            draw.text((30, 30 + 95 * i), line, font=font, fill=0)
        frames.append(image)
    frames[0].save(path, save_all=True, append_images=frames[1:], compression="tiff_deflate",
                   dpi=(150, 150), description=f"scan {variant}")
    return path


def hudang_env(root: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "HUDANG_HOME": str(root / "home"),
           "HUDANG_MASTER_KEY_FILE": str(root / "keys" / "master.key"),
           "HUDANG_OCR_ENGINE": "tesseract", **extra}
    env.pop("HUDANG_MASTER_KEY", None)
    env.pop("HUDANG_DATABASE_URL", None)
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([HUDANG, *args], env=env, capture_output=True, text=True, timeout=600)


def start(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen:
    """``hudang`` in a session of its own: everything it starts stays in that session."""
    with log.open("wb") as out:
        return subprocess.Popen([HUDANG, *args], env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=out, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    """End what :func:`start` started, with its session: SIGTERM, then SIGKILL after 60 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


# -- processes ---------------------------------------------------------------------------

def session_processes(sid: int) -> list[tuple[int, str]]:
    """(pid, command) of every live process of session ``sid`` (zombies hold nothing and
    only wait for init to reap them)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        state, session = fields[0], int(fields[3])
        if session == sid and state not in ("Z", "X"):
            found.append((int(entry), cmdline.replace(b"\0", b" ").decode(errors="replace")[:90]))
    return found


def survivors(sid: int, grace: float = 20.0) -> list[tuple[int, str]]:
    """The processes of a killed session still alive after ``grace`` seconds (a child's
    lifeline acts at once; the grace covers a loaded machine)."""
    deadline = time.monotonic() + grace
    while True:
        left = session_processes(sid)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


@dataclass
class Kill:
    completed: bool  # the run ended by itself before the kill
    processes: int  # processes of its session just before the kill
    at: float  # seconds after the start


def kill_after(proc: subprocess.Popen, seconds: float) -> Kill:
    started = time.monotonic()
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return _kill(proc, started)
    return Kill(True, 0, time.monotonic() - started)


def kill_at_journal(proc: subprocess.Popen, journal: Path, lines: int,
                    timeout: float = 300) -> Kill:
    """Kill as soon as a journal of the run holds ``lines`` whole lines (a stage reached)."""
    started = time.monotonic()
    while proc.poll() is None:
        if any(_whole_lines(p) >= lines for p in journal.glob("*.wal")):
            return _kill(proc, started)
        if time.monotonic() - started > timeout:
            break
        time.sleep(0.002)
    proc.wait()
    return Kill(True, 0, time.monotonic() - started)


def _whole_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _kill(proc: subprocess.Popen, started: float) -> Kill:
    proc.send_signal(signal.SIGSTOP)  # frozen where it is, while its processes are counted
    count = len(session_processes(proc.pid))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return Kill(False, count, time.monotonic() - started)


# -- the archive's invariants ----------------------------------------------------------------

def visible_rows_have_blobs(settings) -> list[str]:
    """Before any recovery: every catalogue row's blobs are there (no half-document is
    visible), read with a plain engine that recovers nothing."""
    from records.model import Document, Page

    engine = create_engine(settings.catalogue_url)
    missing = []
    try:
        with engine.connect() as conn:
            refs = [*conn.execute(select(Document.id, Document.pdf_ref)),
                    *conn.execute(select(Page.document_id, Page.image_ref)),
                    *conn.execute(select(Page.document_id, Page.text_ref))]
    finally:
        engine.dispose()
    for document_id, ref in refs:
        if not (settings.blob_dir / ref[:2] / ref[2:4] / ref).is_file():
            missing.append(f"document {document_id} lacks blob {ref}")
    return missing


def broken_invariants(archive) -> list[str]:
    """What is wrong with an opened archive: rows without blobs, blobs without rows,
    leftovers of writes, an index that disagrees with the catalogue, a broken audit chain."""
    from records.model import Document, Page

    problems = []
    referenced = set()
    with archive.Session() as s:
        documents = {d.id: d for d in s.scalars(select(Document))}
        pages = s.scalar(select(func.count(Page.id)))
        for doc in documents.values():
            blobs = [(doc.pdf_ref, doc.pdf_key, doc.pdf_sha256)]
            if doc.original_ref is not None:  # the file as received, kept since issue 11
                blobs.append((doc.original_ref, doc.original_key, doc.sha256))
            for p in doc.pages:
                blobs += [(p.image_ref, p.image_key, p.image_sha256),
                          (p.text_ref, p.text_key, p.text_sha256)]
            for ref, key, sha in blobs:
                referenced.add(ref)
                try:
                    archive.blobs.verify(ref, key, sha)
                except Exception as exc:  # noqa: BLE001 - each becomes a finding
                    problems.append(f"document {doc.id}: {type(exc).__name__}")
    on_disk = set(archive.blobs.iter_refs())
    problems += [f"blob {r} has no row" for r in sorted(on_disk - referenced)]
    partial = [p.name for p in archive.blobs.root.rglob(".tmp-*")]
    problems += [f"partial blob write left: {name}" for name in partial]
    indexed = archive.index.document_ids()
    if indexed != set(documents):
        problems.append(f"index holds documents {sorted(indexed)}, catalogue {sorted(documents)}")
    if archive.index.doc_count() != pages:
        problems.append(f"index holds {archive.index.doc_count()} pages, catalogue {pages}")
    chain = archive.verify_audit()
    if not chain.ok:
        problems.append(f"audit chain: {chain.reason}")
    settings = archive.settings
    problems += [f"journal left: {p.name}" for p in settings.journal_dir.glob("*.wal")]
    problems += [f"work dir left: {p.name}" for p in settings.tmp_dir.glob("*")]
    return problems


def documents_with_sha(archive, sha256: str) -> list[int]:
    from records.model import Document

    with archive.Session() as s:
        return list(s.scalars(select(Document.id).where(Document.sha256 == sha256)))


# -- a small disk -------------------------------------------------------------------------------

@contextlib.contextmanager
def small_disk(folder: Path, megabytes: int) -> Iterator[Path]:
    """A tmpfs of ``megabytes`` mounted on ``folder`` (root only), unmounted after."""
    import pytest

    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0700",
                              "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"a small disk needs 'mount -t tmpfs' (root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the disk holding ``folder`` with one file, then free ``leave`` bytes of it."""
    filler = folder / "filler"
    chunk = b"\0" * (1 << 20)
    with filler.open("wb", buffering=0) as f:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    f.write(chunk[:size])
                    f.flush()
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler
