"""The viewer under load: page images from ``hudang serve`` to N logged-in users.

Set-up: a fresh archive with one document of generated pages ingested through
the real pipeline, and one archivist account per simulated user. The server
is ``hudang serve --workers W`` exactly as it ships, for W = 1 (waitress: one
process, ``--threads`` threads, default 8, sharing the GIL) and W = one per
core (gunicorn: W processes of 8 threads). The load generator is a separate
process on 127.0.0.1: one thread per user, each with its own keep-alive
connection and session cookie, in two modes: closed loop (the next page as
soon as the last arrived: the saturated images/s) and paced (a page every
``--pace`` seconds, 2 by default, as a person reads: the latency a reader
feels). Each user signs in (GET /login, csrf_token, POST username/password)
and, when the app asks for one (GET /household/<no> redirects to
/household/<no>/purpose), states the purpose 审核 first.

The audit log must gain exactly one read_page event per image served.

For sizing (docs/scale.md) it also measures the catalogue bytes per page (the
document's rows copied ``--copies`` times), the blob-store bytes per page of the
ingested document, and the catalogue's growth per audited read.
"""
from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from bench.common import REPO, dir_size, log, out_dir, profile_call, summary_ms, write_json
from bench.ingest_bench import HOUSEHOLD, _archive, multipage_tiff, page_set

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
OPTION_RE = re.compile(r'<option value="([^"]+)"')
PASSWORD = "bench-password-1"


class Client:
    """One user: a keep-alive connection and a cookie jar of one cookie."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: dict | None = None):
        headers = {"Connection": "keep-alive"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                payload = resp.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        for header, value in resp.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return resp.status, resp.getheader("Location") or "", payload

    def login(self, user: str) -> None:
        _, _, page = self.request("GET", "/login")
        token = CSRF_RE.search(page.decode("utf-8")).group(1)
        status, _, _ = self.request("POST", "/login", {"username": user, "password": PASSWORD,
                                                        "csrf_token": token})
        if status not in (302, 303):
            raise RuntimeError(f"login of {user} answered {status}")

    def state_purpose(self, household: str) -> bool:
        """True if the app asked for a purpose (and it was stated)."""
        status, location, _ = self.request("GET", f"/household/{household}")
        if status not in (301, 302, 303) or "purpose" not in location:
            return False
        path = urlsplit(location).path or f"/household/{household}/purpose"
        _, _, page = self.request("GET", path)
        text = page.decode("utf-8")
        token = CSRF_RE.search(text).group(1)
        options = OPTION_RE.findall(text)
        chosen = "审核" if "审核" in options or not options else options[0]
        status, _, _ = self.request("POST", path, {"purpose": chosen, "csrf_token": token})
        if status not in (302, 303):
            raise RuntimeError(f"stating the purpose answered {status}")
        return True


def _audit_reads(db: Path) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("SELECT count(*) FROM audit_event WHERE action = 'read_page' "
                           "AND outcome = 'allowed'").fetchone()[0]
    finally:
        con.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load(port: int, users: list[str], paths: list[str], seconds: float,
         pace: float | None = None) -> dict:
    """``users`` sign in, then each requests page images for ``seconds``: back to back
    (closed loop, ``pace`` None), or one every ``pace`` seconds (paced: a person turning a
    page every 2 s; a late answer does not make the next request come sooner than that)."""
    clients = []
    purpose_asked = False
    for user in users:
        c = Client(port)
        c.login(user)
        purpose_asked = c.state_purpose(HOUSEHOLD) or purpose_asked
        clients.append(c)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = [0]
    lock = threading.Lock()
    start_gate = threading.Barrier(len(clients) + 1)
    stop_at = [0.0]

    def worker(k: int, c: Client) -> None:
        mine, codes, errs = [], {}, 0
        i = k
        start_gate.wait()
        # paced users start spread over the first interval, as people do
        next_at = time.perf_counter() + (pace * k / len(clients) if pace else 0.0)
        while True:
            if pace:
                delay = next_at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                next_at = max(next_at + pace, time.perf_counter())
            if time.perf_counter() >= stop_at[0]:
                break
            path = paths[i % len(paths)]
            i += 1
            t0 = time.perf_counter()
            try:
                status, _, body = c.request("GET", path)
            except Exception:
                errs += 1
                continue
            mine.append(time.perf_counter() - t0)
            codes[status] = codes.get(status, 0) + 1
            if status != 200 or not body.startswith(b"\xff\xd8"):
                errs += 1
        with lock:
            latencies.extend(mine)
            errors[0] += errs
            for code, n in codes.items():
                statuses[code] = statuses.get(code, 0) + n

    threads = [threading.Thread(target=worker, args=(k, c)) for k, c in enumerate(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start_gate.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    for c in clients:
        c.conn.close()
    return {"users": len(users), "mode": "paced" if pace else "closed", "pace_s": pace,
            "seconds": elapsed, "requests": len(latencies),
            "ok": statuses.get(200, 0), "rps": statuses.get(200, 0) / elapsed,
            "errors": errors[0], "statuses": {str(k): v for k, v in statuses.items()},
            "purpose_asked": purpose_asked, **summary_ms(latencies)}


def _db_bytes(db: Path) -> int:
    """Bytes the catalogue's pages take (the WAL checkpointed first)."""
    con = sqlite3.connect(str(db), timeout=30)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return (con.execute("PRAGMA page_count").fetchone()[0]
                * con.execute("PRAGMA page_size").fetchone()[0])
    finally:
        con.close()


def catalogue_sizing(db: Path, document_id: int, copies: int) -> dict:
    """Catalogue bytes per page and per document: the ingested document's rows (document,
    pages, with their wrapped keys, refs, hashes and ID-number regions) copied ``copies``
    times into the same SQLite catalogue, and the growth of the file divided out."""
    con = sqlite3.connect(str(db), timeout=30)
    try:
        doc_cols = [r[1] for r in con.execute("PRAGMA table_info(document)") if r[1] != "id"]
        page_cols = [r[1] for r in con.execute("PRAGMA table_info(page)")
                     if r[1] not in ("id", "document_id")]
        pages = con.execute("SELECT count(*) FROM page WHERE document_id = ?",
                            (document_id,)).fetchone()[0]
        top = con.execute("SELECT max(seq) FROM document").fetchone()[0] or 0
    finally:
        con.close()
    before = _db_bytes(db)
    con = sqlite3.connect(str(db), timeout=30)
    try:
        with con:
            for k in range(copies):
                values = ", ".join("? " if c in ("seq", "sha256") else c for c in doc_cols)
                cur = con.execute(f"INSERT INTO document ({', '.join(doc_cols)}) "
                                  f"SELECT {values} FROM document WHERE id = ?",
                                  [top + 1 + k if c == "seq" else f"{k:064x}"
                                   for c in doc_cols if c in ("seq", "sha256")] + [document_id])
                con.execute(f"INSERT INTO page (document_id, {', '.join(page_cols)}) "
                            f"SELECT ?, {', '.join(page_cols)} FROM page WHERE document_id = ?",
                            (cur.lastrowid, document_id))
    finally:
        con.close()
    grown = _db_bytes(db) - before
    return {"copies": copies, "pages_per_document": pages, "pages_added": copies * pages,
            "bytes_per_page": grown / (copies * pages),
            "catalogue_mb_per_100k_pages": grown / (copies * pages) * 100_000 / 1e6}


def _start_server(env: dict, port: int, workers: int, threads: int | None) -> subprocess.Popen:
    cmd = [str(REPO / ".venv" / "bin" / "hudang"), "serve", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers)]
    if threads:
        cmd += ["--threads", str(threads)]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if Client(port).request("GET", "/login")[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    time.sleep(1.0 if workers > 1 else 0)  # every worker up, not only the first
    return server


def _stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def run(levels: list[int], seconds: float, pages: int, threads: int | None,
        workers: list[int], pace: float, copies: int) -> dict:
    from sqlalchemy import select

    from ingest.pipeline import IngestRequest, Ingestor
    from records.catalogue import add_user, get_user, principal_of
    from records.model import Document

    work = Path(tempfile.mkdtemp(prefix="viewer-", dir=out_dir("tmp")))
    server = None
    try:
        log(f"viewer: ingesting {pages} pages for the viewer archive")
        files = [p for p, _ in page_set(1, False)][:pages]
        tiff = multipage_tiff(files, work / "doc.tif")
        archive = _archive(work)
        with Ingestor(archive) as ingestor:
            result = ingestor.ingest(IngestRequest(path=tiff, household=HOUSEHOLD,
                                                   doc_type="application", actor="bench"))
        blob_bytes_per_page = dir_size(work / "home" / "blobs") / pages
        users = [f"bench{k:02d}" for k in range(1, max(levels) + 1)]
        with archive.Session() as s, s.begin():
            for u in users:
                add_user(s, u, PASSWORD, "archivist")
        with archive.Session() as s:
            doc = s.scalar(select(Document).where(Document.id == result.document_id))
            image_bytes = [len(archive.blobs.get(p.image_ref, p.image_key)) for p in doc.pages]
            principal = principal_of(get_user(s, users[0]))
        # in-process profile of one page image (decrypt + watermark), for the report
        from web import reading

        def one_image():
            reading.page_image(archive, principal, result.document_id, 1,
                               purposes={HOUSEHOLD: "审核"})

        try:
            profile = profile_call(one_image, "viewer-page-image", repeat=10)
        except Exception as exc:  # the purpose rules may refuse an in-process read
            profile = {"error": f"{type(exc).__name__}"}
        archive.close()
        db = work / "home" / "catalogue.sqlite"
        log(f"viewer: catalogue size, {copies} copies of the document's rows")
        sizing = catalogue_sizing(db, result.document_id, copies)
        sizing["blob_bytes_per_page"] = blob_bytes_per_page
        sizing["scan_bytes_per_page"] = tiff.stat().st_size / pages

        env = {**os.environ, "HUDANG_HOME": str(work / "home"),
               "HUDANG_MASTER_KEY_FILE": str(work / "keys" / "master.key")}
        env.pop("HUDANG_MASTER_KEY", None)
        paths = [f"/document/{result.document_id}/page/{n}/image" for n in range(1, pages + 1)]
        runs = []
        events, event_bytes = 0, 0
        for count in workers:
            port = _free_port()
            server = _start_server(env, port, count, threads)
            rows = []
            for mode_pace in (None, pace):
                for n in levels:
                    log(f"viewer: {count} process(es), {'paced' if mode_pace else 'closed loop'}, "
                        f"{n} users for {seconds:.0f} s")
                    before, bytes_before = _audit_reads(db), _db_bytes(db)
                    row = load(port, users[:n], paths, seconds, mode_pace)
                    time.sleep(0.5)
                    row["audit_read_page_events"] = _audit_reads(db) - before
                    row["audit_matches"] = row["audit_read_page_events"] == row["ok"]
                    events += row["audit_read_page_events"]
                    event_bytes += _db_bytes(db) - bytes_before
                    rows.append(row)
            _stop_server(server)
            server = None
            label = ("waitress, 1 process" if count == 1 else f"gunicorn, {count} processes") + \
                f", {threads or 8} threads each"
            runs.append({"workers": count, "server": f"hudang serve --workers {count} ({label})",
                         "levels": rows})
        sizing["audit_bytes_per_read"] = event_bytes / events if events else None
        return {"runs": runs, "pages": pages, "threads": threads or 8, "pace_s": pace,
                "cores": os.cpu_count() or 1,
                "image_kb_mean": sum(image_bytes) / len(image_bytes) / 1024,
                "sizing": sizing, "profile_page_image": profile}
    finally:
        if server is not None:
            _stop_server(server)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--levels", default="1,8,32")
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--pages", type=int, default=5)
    p.add_argument("--threads", type=int)
    p.add_argument("--workers", default=f"1,{os.cpu_count() or 1}",
                   help="server processes to measure, comma-separated (default: 1 and one per core)")
    p.add_argument("--pace", type=float, default=2.0, help="seconds between pages, paced mode")
    p.add_argument("--copies", type=int, default=2000,
                   help="copies of the document's rows for the catalogue size per page")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    workers = sorted({int(x) for x in a.workers.split(",")})
    write_json(a.out, run([int(x) for x in a.levels.split(",")], a.seconds, a.pages, a.threads,
                          workers, a.pace, a.copies))


if __name__ == "__main__":
    main()
