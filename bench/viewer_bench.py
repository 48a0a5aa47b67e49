"""The viewer under load: page images from ``hudang serve`` to N logged-in users.

Set-up: a fresh archive with one document of generated pages ingested through
the real pipeline, and one archivist account per simulated user. The server
is ``hudang serve`` exactly as it ships (waitress: ONE process, a pool of
``--threads`` worker threads, default 8, sharing the GIL). The load generator
is a separate process on 127.0.0.1: one thread per user, each with its own
keep-alive connection and session cookie, requesting page images back to back
(closed loop, no think time). Each user signs in (GET /login, csrf_token, POST
username/password) and, when the app asks for one (GET /household/<no>
redirects to /household/<no>/purpose), states the purpose 审核 first.

The audit log must gain exactly one read_page event per image served.
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

from bench.common import REPO, log, out_dir, profile_call, summary_ms, write_json
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


def load(port: int, users: list[str], paths: list[str], seconds: float) -> dict:
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
        while time.perf_counter() < stop_at[0]:
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
    return {"users": len(users), "seconds": elapsed, "requests": len(latencies),
            "ok": statuses.get(200, 0), "rps": statuses.get(200, 0) / elapsed,
            "errors": errors[0], "statuses": {str(k): v for k, v in statuses.items()},
            "purpose_asked": purpose_asked, **summary_ms(latencies)}


def run(levels: list[int], seconds: float, pages: int, threads: int | None) -> dict:
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
            try:  # with the purpose stated, as the web view passes it
                reading.page_image(archive, principal, result.document_id, 1,
                                   purposes={HOUSEHOLD: "审核"})
            except TypeError:  # before the purpose-of-use change
                reading.page_image(archive, principal, result.document_id, 1)

        try:
            profile = profile_call(one_image, "viewer-page-image", repeat=10)
        except Exception as exc:  # the purpose rules may refuse an in-process read
            profile = {"error": f"{type(exc).__name__}"}
        archive.close()

        port = _free_port()
        env = {**os.environ, "HUDANG_HOME": str(work / "home"),
               "HUDANG_MASTER_KEY_FILE": str(work / "keys" / "master.key")}
        env.pop("HUDANG_MASTER_KEY", None)
        cmd = [str(REPO / ".venv" / "bin" / "hudang"), "serve", "--host", "127.0.0.1", "--port", str(port)]
        if threads:
            cmd += ["--threads", str(threads)]
        server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        paths = [f"/document/{result.document_id}/page/{n}/image" for n in range(1, pages + 1)]
        db = work / "home" / "catalogue.sqlite"
        rows = []
        for n in levels:
            log(f"viewer: {n} users for {seconds:.0f} s")
            before = _audit_reads(db)
            row = load(port, users[:n], paths, seconds)
            time.sleep(0.5)
            row["audit_read_page_events"] = _audit_reads(db) - before
            row["audit_matches"] = row["audit_read_page_events"] == row["ok"]
            rows.append(row)
        return {"levels": rows, "pages": pages, "threads": threads or 8,
                "image_kb_mean": sum(image_bytes) / len(image_bytes) / 1024,
                "server": "hudang serve (waitress, 1 process, threads=%d)" % (threads or 8),
                "profile_page_image": profile}
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--levels", default="1,8,32")
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--pages", type=int, default=5)
    p.add_argument("--threads", type=int)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    write_json(a.out, run([int(x) for x in a.levels.split(",")], a.seconds, a.pages, a.threads))


if __name__ == "__main__":
    main()
