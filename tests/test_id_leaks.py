"""No full ID number reaches a reader: not on any page, in any JSON or CSV, nor from the CLI.

A household's approval form and register copy (generated, with a member table
that puts a birth date in each of the four styles, the ID number and a phone
number side by side) are ingested through the real pipeline (real OCR). Then
a user of each role without ``see_full_id`` (archivist, staff, reviewer,
auditor, administrator) and a citizen reading their own dossier walk the Flask
app: every link from search results for everyday words, names and numbers,
the dossier, the viewer, page text, downloads (their text layer), the audit
screen, its CSV export and "who read this", and the self-lookup queue. Every
CLI command that prints records runs too.

Every response is checked against the generator's ground truth, as served,
with spaces removed and full-width digits folded, and as shown (tags and
highlight brackets removed); and for any 18-character window that is a valid
ID number, which catches a number OCR read with a digit changed. Page images
are checked in ``test_id_redaction.py``. Failures name the member and the
request, never the number.
"""
from __future__ import annotations

import html
import re
import unicodedata
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit

import pypdfium2
import pytest
from click.testing import CliRunner

from ingest.synthetic import Household, is_valid_id_number
from ingest.synthetic_forms import BIRTH_DATE_STYLES, birth_date_text

PASSWORD = "Leak-check-pass-1"
SEED = 14  # one household of four: head, spouse (配偶), a daughter (女) and a son (子)
CERTIFICATE = "DB2203810047"
# user name -> (role, jurisdiction: None for the whole county, "township" for the household's)
USERS = {"keeper": ("archivist", None), "clerk": ("staff", "township"),
         "appraiser": ("reviewer", None), "inspector": ("auditor", None),
         "admin": ("administrator", None)}
WORDS = ("配偶", "出生日期", "女", "子", "户主", "公民身份号码", "身份证号", "联系电话", "常住人口登记卡")
CRAWL_LIMIT = 600  # requests per reader: far more than this small archive has pages


@dataclass(frozen=True)
class World:
    archive: object
    home: Path
    key_file: Path
    household: Household
    documents: tuple[int, ...]

    @property
    def ids(self) -> list[str]:
        return [p.id_number for p in self.household.members]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from ingest.archive import Archive, Settings
    from ingest.pipeline import IngestRequest, Ingestor
    from ingest.synthetic import generate_dossier_set
    from records.catalogue import add_household, add_region, add_user
    from records.self_lookup import set_certificate

    root = tmp_path_factory.mktemp("id-leaks")
    manifest = generate_dossier_set(root / "scans", seed=SEED, households=1,
                                    doc_types=["approval_form", "hukou_copy"])
    [household] = manifest.households
    truth = "\n".join(t for d in manifest.documents for t in d.ground_truth)
    for style in BIRTH_DATE_STYLES:  # the layout of issue 9, in each style, is on the pages
        assert any(f"{birth_date_text(p.birth, style)} {p.id_number}" in truth
                   for p in household.members), style
    home, key_file = root / "home", root / "keys" / "master.key"
    archive = Archive.init(Settings.from_env(home, key_file))
    with archive.Session() as s, s.begin():
        for region in sorted(manifest.regions, key=lambda r: len(r.code)):
            add_region(s, region.code, region.name, region.parent)
        sealed, index = archive.seal_id_number(household.head.id_number)
        row = add_household(s, household.number, household.head.name, household.region_code,
                            head_id_sealed=sealed, head_id_index=index)
        s.flush()
        set_certificate(s, row, archive.certificate_index(CERTIFICATE))
        for name, (role, scope) in USERS.items():
            add_user(s, name, PASSWORD, role, household.region_code[:9] if scope else None)
    documents = []
    with Ingestor(archive, workers=1) as ingestor:
        for doc in manifest.documents:
            documents.append(ingestor.ingest(IngestRequest(
                path=doc.files[0], household=doc.household, doc_type=doc.doc_type, seq=doc.seq,
                date=doc.date, title=doc.title, actor="test")).document_id)
    yield World(archive, home, key_file, household, tuple(documents))
    archive.close()


# -- reading a response as a person would -------------------------------------------------------
def _flat(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).upper()


def _readings(text: str, mimetype: str) -> list[str]:
    """``text`` as served, without spaces (NFKC), and as shown: no tags, entities decoded,
    no highlight brackets of a snippet."""
    shown = html.unescape(re.sub(r"<[^>]*>", "", text)) if "html" in mimetype else text
    return [text.upper(), _flat(text), _flat(shown), _flat(re.sub(r"[\[\]]", "", shown))]


def _valid_windows(text: str) -> int:
    flat = _flat(text)
    return sum(is_valid_id_number(flat[i:i + 18]) for i in range(len(flat) - 17))


def leaks(text: str, mimetype: str, ids: list[str]) -> list[str]:
    """What in ``text`` gives an ID number away, said without the number."""
    readings = _readings(text, mimetype)
    found = [f"full ID number of member {k + 1}" for k, number in enumerate(ids)
             if any(number in r for r in readings)]
    if not found and _valid_windows(text):
        found.append("an unmasked ID number that no member has (OCR changed a digit?)")
    return found


def _named(what: str, ids: list[str]) -> str:
    """``what`` (a request or command), URL-decoded, with any member's ID number in it
    replaced by a name."""
    what = unquote(what)
    for k, number in enumerate(ids):
        what = what.replace(number, f"<ID number of member {k + 1}>")
    return what


def _pdf_text(data: bytes) -> str:
    doc = pypdfium2.PdfDocument(data)
    try:
        return "\n".join(doc[i].get_textpage().get_text_bounded() for i in range(len(doc)))
    finally:
        doc.close()


class Reader:
    """A signed-in test client that checks every response it gets."""

    def __init__(self, client, who: str, ids: list[str], found: list[str]):
        self.client, self.who, self.ids, self.found = client, who, ids, found
        self.count = 0

    def check(self, response, what: str) -> None:
        self.count += 1
        mimetype = response.mimetype or ""
        if mimetype.startswith("image/"):
            return  # page images: tests/test_id_redaction.py
        text = _pdf_text(response.data) if mimetype == "application/pdf" else (
            response.get_data(as_text=True))
        self.found += [f"{leak} in {_named(what, self.ids)} ({self.who})"
                       for leak in leaks(text, mimetype, self.ids)]

    def get(self, url: str):
        response = self.client.get(url)
        self.check(response, f"GET {url}")
        return response

    def post(self, url: str, data: dict):
        response = self.client.post(url, data=data)
        self.check(response, f"POST {url}")
        return response


_LINK = re.compile(r'(?:href|src|action)="([^"]*)"')


def _links(body: str, base: str) -> list[str]:
    out = []
    for raw in _LINK.findall(body):
        url = urlsplit(urljoin("http://localhost" + base, html.unescape(raw)))
        if url.netloc == "localhost" and not url.path.startswith("/static/"):
            out.append(url.path + (f"?{url.query}" if url.query else ""))
    return out


def crawl(reader: Reader, seeds: list[str]) -> set[str]:
    """Every GET reachable from ``seeds`` by links, redirects and form actions."""
    queue, seen = deque(seeds), set()
    while queue and len(seen) < CRAWL_LIMIT:
        url = queue.popleft()
        if url in seen or url.endswith(("/logout", "/approve", "/reject", "/end")):
            continue  # sign-out and the POST-only steps are not reads
        seen.add(url)
        response = reader.get(url)
        if response.status_code in (301, 302, 303, 307, 308):
            queue.extend(_links(f'href="{response.headers["Location"]}"', url))
        elif (response.mimetype or "") == "text/html":
            queue.extend(_links(response.get_data(as_text=True), url))
    return seen


# -- who reads, and where they start ------------------------------------------------------------
def _app(archive):
    from web.app import create_app

    return create_app(archive=archive, test_config={
        "TESTING": True, "WTF_CSRF_ENABLED": False, "HUDANG_GRANTS": ""})


def _terms(world: World) -> list[str]:
    """What a clerk might type: everyday words, names, numbers and dates of the members."""
    h = world.household
    birth_dates = [birth_date_text(p.birth, style) for p in h.members for style in BIRTH_DATE_STYLES]
    return [*WORDS, h.number, h.number[:12], h.number[:6], *(p.name for p in h.members),
            *(p.phone for p in h.members), *birth_dates, *(str(p.birth.year) for p in h.members),
            *(p.id_number[:14] for p in h.members), *(p.id_number[-8:] for p in h.members)]


def _seeds(world: World) -> list[str]:
    number = world.household.number
    urls = ["/"]
    for term in _terms(world):
        urls += [f"/?q={quote(term)}", f"/api/search?q={quote(term)}"]
    # a full ID number typed into the search box comes back in the box (it is the reader's own
    # input); the JSON answer repeats no query, so it must hold no number at all
    urls += [f"/api/search?q={quote(n)}" for n in world.ids]
    urls += [f"/household/{number}", f"/household/{number}/purpose", "/self/queue",
             "/audit/", f"/audit/?household={number}", "/audit/?action=search",
             "/audit/export.csv", f"/audit/export.csv?household={number}",
             f"/audit/household/{number}"]
    for doc in world.documents:
        urls += [f"/document/{doc}/page/1", f"/document/{doc}/page/1/text",
                 f"/document/{doc}/download", f"/document/{doc}/edit"]
    # the archivist's desk: reports on screen, as CSV, PDF and JSON, the dossier's contents
    urls += ["/reports/", "/reports/roster?status=all", "/reports/roster?status=all&format=csv",
             "/reports/roster?status=all&format=pdf", "/reports/gaps?format=pdf",
             "/reports/reviews?within=3650&format=csv", "/api/reports/roster",
             f"/household/{number}/contents.pdf", f"/household/{number}/review"]
    return urls


def _sign_in(app, world: World, name: str, found: list[str]) -> Reader:
    reader = Reader(app.test_client(), name, world.ids, found)
    response = reader.post("/login", {"username": name, "password": PASSWORD})
    assert response.status_code == 302, f"{name} could not sign in"
    return reader


def _state_purpose(reader: Reader, world: World) -> None:
    # a purpose typed with a birth date and an ID number in it, as a clerk might write it
    head = world.household.head
    other = f"核对 {birth_date_text(head.birth, 'dotted')} {head.id_number} 的材料"
    reader.post(f"/household/{world.household.number}/purpose",
                {"purpose": "其他", "purpose_other": other})


def _citizen(app, world: World, found: list[str]) -> Reader:
    """The head of household, through self-lookup: request, staff approval, the code."""
    head = world.household.head
    public = Reader(app.test_client(), "citizen", world.ids, found)
    public.get("/self/")
    public.post("/self/", {"name": head.name, "id_number": head.id_number,
                           "certificate": CERTIFICATE})
    clerk = _sign_in(app, world, "clerk", found)
    queue = clerk.get("/self/queue").get_data(as_text=True)
    request_id = re.search(r"/self/queue/(\d+)/approve", queue).group(1)
    page = clerk.post(f"/self/queue/{request_id}/approve", {}).get_data(as_text=True)
    code = re.search(r'id="access-code">([^<]+)<', page).group(1)
    public.get("/self/read")
    redeemed = public.post("/self/read", {"id_number": head.id_number, "code": code})
    assert redeemed.status_code == 302, "the citizen's code did not open the dossier"
    return public


def _require(ok: bool, message: str) -> None:
    """Fail with ``message`` alone (no traceback, no values), so no number reaches the output."""
    if not ok:
        pytest.fail(message, pytrace=False)


def _fail_on(found: list[str]) -> None:
    if found:
        shown = list(dict.fromkeys(found))
        more = f"\n... and {len(shown) - 30} more" if len(shown) > 30 else ""
        pytest.fail(f"{len(found)} responses give an ID number away:\n" + "\n".join(shown[:30])
                    + more, pytrace=False)


# -- the tests -------------------------------------------------------------------------------
def test_no_page_json_or_csv_of_the_web_app_shows_a_full_id_number(world):
    app = _app(world.archive)
    found: list[str] = []
    # a failed sign-in with a date and an ID number as the user name lands in the audit log
    head = world.household.head
    stranger = Reader(app.test_client(), "anyone", world.ids, found)
    typed = f"{birth_date_text(head.birth, 'compact')} {head.id_number}"
    stranger.post("/login", {"username": typed, "password": "x"})
    visited = {}
    citizen = _citizen(app, world, found)
    visited["citizen"] = crawl(citizen, ["/self/read/dossier"])
    for name in ("keeper", "clerk", "appraiser", "admin", "inspector"):  # the auditor last
        reader = _sign_in(app, world, name, found)
        _state_purpose(reader, world)
        visited[name] = crawl(reader, _seeds(world))
    # the numbers are in the snippets, masked (so the check above had something to check)
    clerk = _sign_in(app, world, "clerk", found)
    hits = clerk.get(f"/api/search?q={quote('配偶')}").get_json()["hits"]
    _fail_on(found)
    _require(bool(hits) and any("**********" in h["snippet"] for h in hits),
             "no masked number in the snippets of 配偶: the check had nothing to check")
    # the crawl reached what each role may read
    for name in ("keeper", "clerk", "appraiser"):
        pages = {u for u in visited[name] if re.fullmatch(r"/document/\d+/page/1", u)}
        _require(len(pages) == len(world.documents), f"{name} did not reach every document")
    reached = {
        "page text (staff)": any(u.endswith("/page/1/text") for u in visited["clerk"]),
        "download (archivist)": any(u.endswith("/download") for u in visited["keeper"]),
        "audit CSV (auditor)": "/audit/export.csv" in visited["inspector"],
        "who read this (auditor)": any(u.startswith("/audit/household/")
                                       for u in visited["inspector"]),
        "own pages (citizen)": any(u.startswith("/self/read/document/")
                                   for u in visited["citizen"]),
    }
    _require(all(reached.values()), f"the crawl missed {[k for k, v in reached.items() if not v]}")


def _cli(world: World, args: list[str]) -> str:
    from web.cli import main

    result = CliRunner().invoke(main, ["--home", str(world.home), "--key-file",
                                       str(world.key_file), *args])
    assert result.exit_code == 0, f"hudang {args[0]} exited {result.exit_code}"
    return result.output


def test_no_cli_output_shows_a_full_id_number(world, monkeypatch):
    for name in ("HUDANG_GRANTS", "HUDANG_MASTER_KEY", "HUDANG_DATABASE_URL", "HUDANG_HOME"):
        monkeypatch.delenv(name, raising=False)
    found: list[str] = []

    def run(args: list[str], mimetype: str = "text/plain") -> str:
        output = _cli(world, args)
        command = _named(" ".join(args[:-2]), world.ids)
        found.extend(f"{leak} in hudang {command} ({args[-1]})"
                     for leak in leaks(output, mimetype, world.ids))
        return output

    terms = [*WORDS[:4], world.household.number, *(p.name for p in world.household.members),
             *world.ids]
    for user in ("keeper", "clerk"):
        for term in terms:
            run(["search", term, "--json", "--as", user], "application/json")
            run(["search", term, "--as", user])
    for doc in world.documents:
        for user in ("keeper", "clerk"):
            run(["text", str(doc), "--as", user])
    low = run(["pages", "low-confidence", "--below", "101", "--flagged", "--json", "--as", "keeper"],
              "application/json")
    run(["pages", "low-confidence", "--below", "101", "--flagged", "--as", "keeper"])
    # a correction typed with an ID number in its title and reason: said back masked, and
    # masked in the printed table of contents and roster
    head = world.household.head.id_number
    run(["document", "edit", str(world.documents[0]), "--title", f"核对 {head}", "--responsible",
         f"村委会 {head}", "--reason", f"号码 {head}", "--as", "keeper"])
    printed = world.home.parent / "printed"
    for kind, fmt, where in (("contents", "pdf", ["--household", world.household.number]),
                             ("roster", "csv", ["--region", world.household.region_code]),
                             ("gaps", "pdf", ["--region", world.household.region_code])):
        run(["report", kind, *where, "--format", fmt, "--out", str(printed), "--as", "keeper"])
        data = printed.read_bytes()
        text = _pdf_text(data) if fmt == "pdf" else data.decode("utf-8-sig")
        found.extend(f"{leak} in the printed {kind} report" for leak in
                     leaks(text, "application/pdf" if fmt == "pdf" else "text/csv", world.ids))
        if kind == "contents":
            _require("**********" in text, "the printed contents hold no masked number: "
                     "the check had nothing to check")
    exported = run(["audit", "export", "--as", "inspector"], "text/csv")
    _fail_on(found)
    _require(f'"document_id": {world.documents[0]}' in low, "the low-confidence listing is empty")
    _require("search" in exported and "**********" in exported,  # queries of ID numbers, masked
             "the audit export holds no masked search")


def _pdf_with_text(path: Path, text: str) -> Path:
    """A PDF with real text (Helvetica, not embedded): it is indexed as it is, without OCR."""
    import pikepdf

    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(600, 150))
    font = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
                                                BaseFont=pikepdf.Name.Helvetica))
    page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    page.obj.Contents = pdf.make_stream(f"BT /F1 18 Tf 30 70 Td ({text}) Tj ET".encode())
    pdf.save(path)
    return path


SPLIT_NUMBER = "220381198402176941"


def test_a_number_written_in_words_stays_masked_when_a_search_highlights_one_word(tmp_path):
    # Tesseract writes long numbers as words; searching a birth date highlights the middle
    # word, and masking each part of the snippet on its own left the whole number readable
    from ingest.pipeline import IngestRequest, Ingestor
    from records.catalogue import add_user
    from tests.conftest import make_archive

    number = SPLIT_NUMBER
    archive = make_archive(tmp_path)
    try:
        with archive.Session() as s, s.begin():
            add_user(s, "clerk", PASSWORD, "staff", "220381105")
        scan = _pdf_with_text(tmp_path / "card.pdf",
                              f"ID {number[:6]} {number[6:14]} {number[14:]} TEL 13812345678")
        with Ingestor(archive, workers=1) as ingestor:
            ingestor.ingest(IngestRequest(path=scan, household="220381105012-0042",
                                          doc_type="id_card_copy", actor="test"))
        app = _app(archive)
        found: list[str] = []
        reader = Reader(app.test_client(), "clerk", [number], found)
        assert reader.post("/login", {"username": "clerk", "password": PASSWORD}).status_code == 302
        hits = reader.get(f"/api/search?q={number[6:14]}").get_json()["hits"]
        reader.get(f"/?q={number[6:14]}")
        _fail_on(found)
        # found, and the number shown masked (the highlight inside it went with the digits)
        _require(bool(hits) and "2203**********6941" in hits[0]["snippet"],
                 "the page was not found, or its number not shown masked")
    finally:
        archive.close()
