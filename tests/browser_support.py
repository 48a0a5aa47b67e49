"""A small archive for the self-lookup and browser tests, the real server, and Chromium.

``build_world`` makes a data home with two households in two townships, each
with one ingested page (real OCR, encryption, catalogue, index), and staff of
each township. ``serve`` runs ``hudang serve`` on it in a subprocess, and
``chromium`` launches Debian's Chromium through Playwright.
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from PIL import Image, ImageDraw, ImageFont

HUDANG = str(Path(sys.executable).with_name("hudang"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
PASSWORD = "Clerk-password-1"


def _id_number(first17: str) -> str:
    from records.idnumbers import check_digit

    return first17 + check_digit(first17)


@dataclass(frozen=True)
class Person:
    number: str  # household number
    name: str  # head of household
    id_number: str
    certificate: str | None
    township: str
    staff: str  # a staff account of the household's township
    document_id: int = 0


@dataclass(frozen=True)
class World:
    root: Path
    home: Path
    key_file: Path
    a: Person  # 东风镇, certificate on file
    b: Person  # 西山镇, no certificate on file

    def env(self) -> dict[str, str]:
        env = {**os.environ, "HUDANG_HOME": str(self.home),
               "HUDANG_MASTER_KEY_FILE": str(self.key_file)}
        env.pop("HUDANG_MASTER_KEY", None)
        env.pop("HUDANG_DATABASE_URL", None)
        return env

    def copy(self, dest: Path) -> World:
        """A private copy of the data home (same key), so a test cannot disturb another."""
        from conftest import copy_home

        copy_home(self.home, dest / "home")
        return World(dest, dest / "home", self.key_file, self.a, self.b)

    def open(self):
        from ingest.archive import Archive, Settings

        return Archive.open(Settings.from_env(self.home, self.key_file))


def _page(path: Path, lines: list[str]) -> Path:
    from ingest.synthetic import fonts_available

    image = Image.new("RGB", (1240, 877), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(fonts_available()[0], 44)
    for i, line in enumerate(lines):
        draw.text((90, 90 + i * 90), line, font=font, fill="black")
    draw.ellipse((900, 600, 1100, 800), outline=(200, 20, 20), width=8)  # a red stamp
    image.save(path, dpi=(150, 150))
    return path


def build_world(root: Path) -> World:
    """Two households in two townships, one ingested page each, and a staff user per township."""
    from ingest.archive import Archive, Settings
    from ingest.pipeline import IngestRequest, Ingestor
    from records.catalogue import add_household, add_region, add_user
    from records.self_lookup import set_certificate

    home, key_file = root / "home", root / "keys" / "master.key"
    archive = Archive.init(Settings.from_env(home, key_file))
    a = Person("220381105012-0042", "王德胜", _id_number("22038119650304123"), "DB2203810042",
               "220381105", "clerk")
    b = Person("220381106003-0007", "李秀英", _id_number("22038119720811402"), None,
               "220381106", "other-clerk")
    try:
        with archive.Session() as s, s.begin():
            add_region(s, "220381", "示范县")
            add_region(s, "220381105", "东风镇")
            add_region(s, "220381105012", "红星村")
            add_region(s, "220381106", "西山镇")
            add_region(s, "220381106003", "青石村")
            for p in (a, b):
                sealed, index = archive.seal_id_number(p.id_number)
                h = add_household(s, p.number, p.name, p.number[:12], head_id_sealed=sealed,
                                  head_id_index=index)
                if p.certificate:
                    s.flush()
                    set_certificate(s, h, archive.certificate_index(p.certificate))
                add_user(s, p.staff, PASSWORD, "staff", p.township)
            add_user(s, "auditor", PASSWORD, "auditor")  # the whole county
        scans = root / "scans"
        scans.mkdir()
        people = []
        with Ingestor(archive, workers=1) as ingestor:
            for p in (a, b):
                scan = _page(scans / f"{p.number}.png",
                             [f"低保申请书 户号 {p.number}", f"申请人 {p.name}", "家庭收入低于当地标准"])
                result = ingestor.ingest(IngestRequest(path=scan, household=p.number,
                                                       doc_type="申请书", actor="test"))
                people.append(Person(**{**p.__dict__, "document_id": result.document_id}))
    finally:
        archive.close()
    return World(root, home, key_file, *people)


def sign_in(page, base: str, username: str, password: str = PASSWORD) -> None:
    """Sign ``page`` in as ``username`` on the sign-in form."""
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.login button[type=submit]")
    page.wait_for_selector("#current-user")
    assert page.inner_text("#current-user") == username


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(env: dict[str, str]):
    """``hudang serve`` (one process per core) in a subprocess; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen([HUDANG, "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # a minute: on a busy machine the processes take a while
            if proc.poll() is not None:
                raise AssertionError(f"hudang serve exited: {proc.stdout.read()}")
            try:
                requests.get(base + "/login", timeout=1)
                break
            except (requests.ConnectionError, requests.Timeout):  # workers still starting
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.contextmanager
def chromium():
    """Debian's Chromium driven by Playwright (never ``playwright install``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
