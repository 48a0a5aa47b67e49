"""What the several-process server tests share: ``hudang serve --workers N`` in a subprocess,
a client that holds one keep-alive connection at a time, and which worker process answered
on a connection (read from /proc: the worker that holds the server end of the socket)."""
from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

HUDANG = str(Path(sys.executable).with_name("hudang"))
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
OPTION_RE = re.compile(r'<option value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


@contextlib.contextmanager
def serve(env: dict[str, str], workers: int):
    """``hudang serve --workers N`` on a free port; yields (port, server process) once every
    worker answers."""
    port = free_port()
    proc = subprocess.Popen([HUDANG, "serve", "--port", str(port), "--workers", str(workers)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"hudang serve exited: {proc.stdout.read()}")
            if time.monotonic() > deadline:
                raise AssertionError("hudang serve did not start in 120 s")
            if len(children(proc.pid)) >= workers:
                try:
                    status, _, _ = Client(port).request("GET", "/login")
                    if status == 200:
                        break
                except OSError:
                    pass
            time.sleep(0.2)
        yield port, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Client:
    """A browser in miniature: a cookie jar and one keep-alive connection, which
    :meth:`reconnect` replaces (the next request may reach another worker)."""

    def __init__(self, port: int, cookies: dict[str, str] | None = None,
                 timeout: float = 120) -> None:
        self.port, self.timeout = port, timeout
        self.cookies: dict[str, str] = dict(cookies or {})
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.used = False  # has the connection carried a request (and been kept alive)?
        self.stale_retries = 0

    def reconnect(self) -> None:
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        self.used = False

    def close(self) -> None:
        self.conn.close()

    @property
    def local_port(self) -> int:
        return self.conn.sock.getsockname()[1]

    def request(self, method: str, path: str, form: dict | None = None):
        headers = {"Connection": "keep-alive"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if not (self.used and method == "GET"):
                raise
            # the server closed a kept-alive connection that sat idle past its keep-alive
            # time before reading this request: as a browser does, send it again on a new one
            self.stale_retries += 1
            self.reconnect()
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
        payload = resp.read()
        self.used = True
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                cookie = rest.split(";", 1)[0]
                if cookie and "expires=thu, 01 jan 1970" not in value.lower():
                    self.cookies[key.strip()] = cookie
                else:
                    self.cookies.pop(key.strip(), None)
        return resp.status, resp.getheader("Location") or "", payload

    def csrf_token(self, path: str) -> str:
        status, _, page = self.request("GET", path)
        assert status == 200, f"GET {path} answered {status}"
        return CSRF_RE.search(page.decode("utf-8")).group(1)

    def sign_in(self, user: str, password: str, token: str | None = None) -> int:
        token = token or self.csrf_token("/login")
        status, _, _ = self.request("POST", "/login", {"username": user, "password": password,
                                                       "csrf_token": token})
        return status

    def state_purpose(self, household: str) -> None:
        """Open the dossier; state the purpose 审核 when the app asks for one."""
        status, location, _ = self.request("GET", f"/household/{household}")
        if status in (301, 302, 303) and "purpose" in location:
            path = urlsplit(location).path
            _, _, page = self.request("GET", path)
            text = page.decode("utf-8")
            options = OPTION_RE.findall(text)
            chosen = "审核" if "审核" in options or not options else options[0]
            status, _, _ = self.request("POST", path, {
                "purpose": chosen, "csrf_token": CSRF_RE.search(text).group(1)})
            assert status in (302, 303), f"stating the purpose answered {status}"


def _tcp_inode(server_port: int, client_port: int) -> int | None:
    """The inode of the server end of the loopback connection from ``client_port``."""
    want_local, want_remote = f"{server_port:04X}", f"{client_port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], int(fields[9])
            if local.endswith(":" + want_local) and remote.endswith(":" + want_remote) and inode:
                return inode
    return None


def served_by(server: subprocess.Popen, server_port: int, client: Client) -> int:
    """The pid of the worker that holds the server end of ``client``'s connection (call it
    after a request, while the connection is kept alive)."""
    inode = _tcp_inode(server_port, client.local_port)
    assert inode, "the server end of the connection is not in /proc/net/tcp"
    target = f"socket:[{inode}]"
    for pid in children(server.pid):
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            for fd in os.listdir(fd_dir):
                with contextlib.suppress(OSError):
                    if os.readlink(fd_dir / fd) == target:
                        return pid
        except OSError:
            continue
    raise AssertionError("no worker holds the connection")


def client_on_worker(server: subprocess.Popen, port: int, worker: int, cookies: dict[str, str],
                     path: str = "/login", other: bool = False, tries: int = 200) -> Client:
    """A client (with ``cookies``) whose connection is served by ``worker`` (or, with
    ``other``, by any worker but that one): new connections until the kernel hands one to
    it. Its first request, ``GET path``, is already answered."""
    for _ in range(tries):
        c = Client(port, cookies)
        c.request("GET", path)
        if (served_by(server, port, c) == worker) != other:
            return c
        c.close()
    raise AssertionError(f"no connection reached {'another worker than ' if other else ''}"
                         f"worker {worker} in {tries} tries")
