"""The one door: no route and no command shows or changes records without passing it.

- Every endpoint of the Flask URL map and every command of the ``hudang`` tree declares
  what it does (``web.door``, ``web.cli.door``); one that declares nothing fails here.
- Walked for real: every declared route and command, used by someone allowed, passes the
  door (a guarded one that answers without knocking raises ``DoorSkipped``); used by
  someone refused, it answers like a missing object and leaves a refused audit event.
- No view catches ``Refused`` itself: one error handler answers every refusal.

Real parts: a SQLite archive with really ingested pages (``browser_support.build_world``),
the app through Flask's test client, the CLI through click's runner.
"""
from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from browser_support import PASSWORD, build_world
from desk_support import text_pdf
from retention_support import lists_in_every_state
from records.catalogue import add_user
from records.model import AccessRequest, AuditEvent, RequestStatus, Volume
from records.policy import ROLE_ACTIONS, Action, Principal, Role
from web.app import create_app
from web.cli import main
from web.door import declaration

REPO = Path(__file__).resolve().parents[1]
# Flask's own route for static files shows no records
FRAMEWORK_ENDPOINTS = {"static"}
# one account per role, all in household a's township (220381105) except the whole-county ones
ACCOUNTS = {"d-archivist": ("archivist", None), "d-auditor": ("auditor", None),
            "d-admin": ("administrator", None), "d-reviewer": ("reviewer", "220381105"),
            "d-approver": ("approver", "220381105"), "d-witness": ("witness", "220381105"),
            "d-witness-2": ("witness", "220381105"), "d-inspector": ("inspector", None)}
# a cabinet of household a's township with a box holding a's dossier, and a volume of
# daily-management records of a's village (filled in by the ``world`` fixture)
CABINET, BOX, VOLUME = "C-DOOR", "B-DOOR", "220381105012/2025"
PLACES: dict[str, int] = {}
# the destruction lists the world's fixture brings into every state (retention_support)
LISTS: list = []


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    world = build_world(tmp_path_factory.mktemp("door"))
    archive = world.open()
    with archive.Session() as s, s.begin():
        for name, (role, region) in ACCOUNTS.items():
            add_user(s, name, PASSWORD, role, region)
    _place_things(world, archive)
    LISTS.append(lists_in_every_state(archive, world.root / "scans", world.a.number[:12],
                                       reviewer="d-reviewer", approver="d-approver",
                                       witnesses=("d-witness", "d-witness-2")))
    archive.close()
    return world


def _place_things(world, archive) -> None:
    from ingest import locations
    from ingest.pipeline import IngestRequest, Ingestor

    operator = Principal("test", frozenset({Role.operator}))
    locations.add(archive, operator, "cabinet", CABINET, region=world.a.township)
    locations.add(archive, operator, "box", BOX, parent=CABINET)
    locations.move(archive, operator, world.a.number, BOX)
    record = text_pdf(world.root / "roster.pdf", "roster of the village 2025")
    with Ingestor(archive, workers=1) as ingestor:
        ingestor.ingest(IngestRequest(path=record, household=None, doc_type="daily_roster",
                                      region=VOLUME[:12], year=2025, month=3, actor="test"))
    with archive.Session() as s:
        PLACES["volume_id"] = s.scalar(select(Volume.id))
    # a digitisation batch of one box (ingest.box): batch 1
    from ingest.box import from_directory, ingest_box

    box = world.root / "door-box"
    box.mkdir()
    text_pdf(box / "door.pdf", "door box page")
    (box / "manifest.csv").write_text(f"file,household_no,doc_type\ndoor.pdf,{world.a.number},"
                                      "申请书\n", encoding="utf-8")
    ingest_box(archive, operator, from_directory(box))
    _acceptance_batches(world, archive, operator)
    # an upload of household a's archivist, waiting for a worker (none runs here)
    from ingest import jobs as background
    from records.catalogue import get_user, principal_of

    with archive.Session() as s:
        archivist = principal_of(get_user(s, "d-archivist"))
    PLACES["job_id"] = background.submit_ingest(
        archive, archivist, background.IngestJobRequest(world.a.number, "申请书"),
        [background.Upload("door.pdf", record.read_bytes())])


# the batch (and document) each acceptance route or command acts on, in the state it needs
ACCEPT_BATCHES = {"batches.accept_draw": "ingested", "batches_api.acceptance_draw_json": "ingested",
                  "batches.accept_report": "rejected", "batches.accept_rework": "rejected",
                  "batches_api.acceptance_judge_json": "sampling",
                  "accept draw": "ingested", "accept judge": "sampling",
                  "accept report": "rejected", "accept rework": "rejected"}


def _acceptance_batches(world, archive, operator) -> None:
    """One batch of one document per acceptance route and command, brought into the state
    it acts on (ingest.acceptance): ingested, a sample being judged, or rejected with its
    document waiting for rework."""
    from ingest import acceptance
    from ingest.box import from_directory, ingest_box

    inspector = Principal("d-inspector", frozenset({Role.inspector}))
    for n, (use, state) in enumerate(ACCEPT_BATCHES.items()):
        box = world.root / f"door-accept-{n}"
        box.mkdir()
        text_pdf(box / "accept.pdf", f"acceptance door batch {n}")
        (box / "manifest.csv").write_text(
            f"file,household_no,doc_type\naccept.pdf,{world.a.number},申请书\n",
            encoding="utf-8")
        batch_id = ingest_box(archive, operator, from_directory(box)).batch_id
        if state != "ingested":
            document_id = acceptance.draw(archive, inspector, batch_id).items[0].document_id
            if state == "rejected":
                acceptance.judge(archive, inspector, batch_id, document_id, "fail", "门卫返工")
            PLACES[f"{use}:document"] = document_id
        PLACES[use] = batch_id


def _body(rule, world) -> dict:
    """What a route that acts on a body is sent: a rescan, a verdict."""
    import io

    if rule.endpoint == "batches.accept_rework":
        rescan = text_pdf(world.root / "door-accept-rescan.pdf", "acceptance door rescan")
        return {"data": {"file": (io.BytesIO(rescan.read_bytes()), "rescan.pdf")}}
    if rule.endpoint == "batches_api.acceptance_judge_json":
        return {"json": {"document": PLACES[f"{rule.endpoint}:document"], "verdict": "pass"}}
    return {}


@pytest.fixture(scope="module")
def archive(world):
    arch = world.open()
    yield arch
    arch.close()


@pytest.fixture(scope="module")
def app(archive):
    return create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, archive=archive)


def _client(app, user: str | None):
    client = app.test_client()
    if user is not None:
        r = client.post("/login", data={"username": user, "password": PASSWORD})
        assert r.status_code == 302, user
    return client


def _last_id(archive) -> int:
    with archive.Session() as s:
        return s.scalar(select(func.max(AuditEvent.id))) or 0


def _refused_since(archive, after: int) -> list[AuditEvent]:
    with archive.Session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.id > after,
                                                       AuditEvent.outcome == "refused")))


def _role_without(action: Action) -> str | None:
    """An account (of ACCOUNTS or the world's staff) whose roles lack ``action``."""
    accounts = {**{k: v[0] for k, v in ACCOUNTS.items()}, "clerk": "staff"}
    for user, role in accounts.items():
        if action not in ROLE_ACTIONS[Role(role)]:
            return user
    return None


def _role_with(action: Action) -> str:
    for user, role in {"clerk": "staff", **{k: v[0] for k, v in ACCOUNTS.items()}}.items():
        if action in ROLE_ACTIONS[Role(role)]:
            return user
    raise AssertionError(f"no account may {action.value}")


# -- every route and command declares ---------------------------------------------------
def test_every_route_declares_its_action_at_the_door(app):
    undeclared = sorted(rule.endpoint for rule in app.url_map.iter_rules()
                        if rule.endpoint not in FRAMEWORK_ENDPOINTS
                        and declaration(app.view_functions[rule.endpoint]) is None)
    assert not undeclared, f"routes that declare nothing at the door: {undeclared}"


def _commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    found = {}
    for name, command in group.commands.items():
        path = f"{prefix} {name}".strip()
        if isinstance(command, click.Group):
            found.update(_commands(command, path))
        else:
            found[path] = command
    return found


def test_every_command_declares_its_action_at_the_door():
    undeclared = sorted(path for path, command in _commands(main).items()
                        if declaration(command.callback) is None)
    assert not undeclared, f"commands that declare nothing at the door: {undeclared}"


def test_no_view_catches_a_refusal_itself():
    for path in (REPO / "web").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"except\s*\(?[^)\n]*\bRefused\b", text), path


# -- routes walked for real ---------------------------------------------------------------
def _request(world, archive, endpoint: str) -> int:
    """A self-lookup request of household a in the state ``endpoint`` acts on: approved for
    a new code, pending for everything else."""
    from datetime import datetime, timedelta, timezone

    from records import self_lookup as rules
    from records.catalogue import get_household

    with archive.Session() as s, s.begin():
        household = get_household(s, world.a.number)
        req = AccessRequest(household=household, status=RequestStatus.pending,
                            requested_at=datetime.now(timezone.utc))
        s.add(req)
        s.flush()
        if endpoint.endswith("reissue"):
            rules.approve(req, by="test", code_hash=f"{req.id:064d}",
                          now=datetime.now(timezone.utc), lifetime=timedelta(hours=1))
        return req.id


def _url(rule, world, request_id: int) -> str:
    values = {}
    for arg in rule.arguments:
        converter = rule._converters[arg].__class__.__name__
        if arg == "document_id" and rule.endpoint in ACCEPT_BATCHES:  # a failed sample
            values[arg] = PLACES[f"{rule.endpoint}:document"]
        elif arg == "document_id":
            values[arg] = world.a.document_id
        elif arg == "request_id":
            values[arg] = request_id
        elif arg == "number" and converter == "IntegerConverter":
            values[arg] = 1
        elif arg == "number":
            values[arg] = world.a.number
        elif arg == "code" and rule.endpoint.startswith("desk.doctype"):  # a document type
            values[arg] = "application"
        elif arg == "code" and rule.endpoint.startswith("retention."):  # a retention class
            values[arg] = "approval-3y"
        elif arg == "code":  # a region: household a's township
            values[arg] = world.a.township
        elif arg == "username":
            values[arg] = world.a.staff
        elif arg == "kind":  # a report
            values[arg] = "gaps"
        elif arg == "container":  # the box holding household a's dossier
            values[arg] = BOX
        elif arg == "volume_id":  # daily-management records of household a's village
            values[arg] = PLACES["volume_id"]
        elif arg == "list_no":  # a destruction list: the executed one, whose every paper exists
            values[arg] = LISTS[0].executed
        elif arg == "dossier_id":  # a dossier on it
            values[arg] = 1
        elif arg == "batch_id":  # the world's digitisation batch, or one for acceptance
            values[arg] = PLACES.get(rule.endpoint, 1)
        elif arg == "fmt":  # a batch report
            values[arg] = "csv"
        elif arg == "job_id":  # the archivist's waiting upload
            values[arg] = PLACES["job_id"]
        else:
            raise AssertionError(f"{rule.endpoint}: say here what to put in <{arg}>")
    return rule.build(values)[1]


def _method(rule) -> str:
    return "GET" if "GET" in rule.methods else "POST"


def test_every_guarded_route_passes_the_door_for_someone_allowed(app, world, archive):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        decl = declaration(app.view_functions.get(rule.endpoint))
        if decl is None or decl.action is None or decl.citizen:
            continue
        user = _role_with(decl.action)
        client = _client(app, user)
        client.post(f"/household/{world.a.number}/purpose", data={"purpose": "审核"})
        url = _url(rule, world, _request(world, archive, rule.endpoint))
        # TESTING propagates exceptions: a route that skipped the door raises DoorSkipped here
        r = client.open(url, method=_method(rule), query_string={"q": world.a.name},
                        **_body(rule, world))
        assert r.status_code < 400, (rule.endpoint, user, r.status_code)


def test_every_guarded_route_refuses_someone_not_allowed_as_if_missing(app, world, archive):
    checked = 0
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        decl = declaration(app.view_functions.get(rule.endpoint))
        if decl is None or decl.action is None or decl.citizen:
            continue
        # someone whose roles lack the action; failing that (every role may search),
        # staff of the other township, for routes about one object
        user = _role_without(decl.action)
        if user is None and decl.per_object and rule.arguments:
            user = world.b.staff
        if user is None:
            continue
        client = _client(app, user)
        url = _url(rule, world, _request(world, archive, rule.endpoint))
        before = _last_id(archive)
        r = client.open(url, method=_method(rule), query_string={"q": world.a.name})
        assert r.status_code == 404, (rule.endpoint, user, r.status_code)
        assert "Not found, or not yours to read" in r.text or "未找到" in r.text
        assert _refused_since(archive, before), (rule.endpoint, "no refused event recorded")
        checked += 1
    assert checked >= 10


def test_citizen_routes_pass_the_door_and_refuse_another_household(app, world, archive):
    a, b = world.a, world.b
    clerk = _client(app, a.staff)
    request_id = _request(world, archive, "approve")
    page = clerk.post(f"/self/queue/{request_id}/approve").text
    code = re.search(r'id="access-code">([^<]+)<', page).group(1)
    citizen = app.test_client()
    assert citizen.post("/self/read", data={"id_number": a.id_number,
                                            "code": code}).status_code == 302
    citizen_rules = [r for r in app.url_map.iter_rules()
                     if (d := declaration(app.view_functions.get(r.endpoint))) and d.citizen]
    assert len(citizen_rules) >= 4
    for rule in citizen_rules:
        if rule.endpoint.endswith(".end"):
            continue  # ends the session: walked last
        r = citizen.open(_url(rule, world, request_id), method=_method(rule))
        assert r.status_code == 200, rule.endpoint
        if "document_id" in rule.arguments:
            before = _last_id(archive)
            other = rule.build({"document_id": b.document_id, "number": 1})[1]
            assert citizen.get(other).status_code == 404, rule.endpoint
            assert _refused_since(archive, before), rule.endpoint
    assert citizen.post("/self/read/end").status_code == 302


# -- commands walked for real ------------------------------------------------------------
# commands about one object, refused to staff of another township
ONE_OBJECT = {"ingest", "text", "reader", "reocr", "region show", "household show", "document edit",
              "document move", "review record", "location show", "records show"}


def _rescan(scan: Path, words: str = "门卫换页") -> Path:
    """A one-page rescan of its own (not the file 'ingest' puts in the dossier)."""
    from PIL import Image, ImageDraw

    from ingest.fonts import cjk_font

    path = scan.with_name(f"rescan-{words.encode().hex()}.png")
    image = Image.new("L", (600, 200), 255)
    ImageDraw.Draw(image).text((30, 60), words, font=cjk_font(48), fill=0)
    image.save(path, dpi=(150, 150))
    return path


def _command_args(world, scan: Path) -> dict[str, list[str]]:
    """A use of every guarded command; a new command without one here fails the test."""
    a, lists = world.a, LISTS[0]
    regions_csv = scan.with_name("regions.csv")
    regions_csv.write_text("代码,名称\n220381105098,门卫村\n", encoding="utf-8")
    households_csv = scan.with_name("households.csv")
    households_csv.write_text("户号,户主姓名,家庭成员\n220381105099-0001,赵六,赵小/子女\n",
                              encoding="utf-8")
    roster = scan.with_name("roster.csv")
    roster.write_text(f"户号,户主,金额\n{a.number},{a.name},500\n", encoding="utf-8")
    return {
        "doctype add": ["door_test", "门卫测试材料"],
        "doctype set-required": ["door_test", "yes"],
        "document edit": [str(a.document_id), "--responsible", "红星村委会", "--reason", "门卫"],
        "document move": [str(a.document_id), "--to-seq", "1"],
        "review record": [a.number, "--date", "2026-01-15", "--note", "门卫测试"],
        "review due": ["--region", "220381105"],
        "report": ["gaps", "--region", "220381105", "--format", "csv",
                   "--out", str(scan.with_name("gaps.csv"))],
        "reconcile": [str(roster), "--region", "220381105"],
        "region add": ["220381105099", "新村"],
        "region rename": ["220381105099", "新村二"],
        "region import": [str(regions_csv)],
        "region show": [a.township],
        "household add": ["220381105099-0001", "--head", "赵六", "--region", "220381105099"],
        "household edit": [a.number, "--address", "红星村一组"],
        "household member add": [a.number, "王小红", "子女"],
        "household member remove": [a.number, "1"],
        "household import": [str(households_csv)],
        "household status": [a.number, "--raise", "--date", "2025-01-02", "--reason", "门卫"],
        "household show": [a.number],
        "user add": ["newclerk", "--role", "staff", "--password-stdin"],
        "user edit": ["newclerk", "--role", "staff,auditor"],
        "user lock": ["newclerk"],
        "user unlock": ["newclerk"],
        "user reset-password": ["newclerk"],
        "user list": [],
        "reindex": [],
        "recover": [],
        "jobs list": [],
        "jobs retry": [str(PLACES["job_id"])],  # queued: exit 0, nothing done
        "ingest": [str(scan), "--household", a.number, "--type", "申请书"],
        "search": [a.name],
        "text": [str(a.document_id)],
        "reader": [str(a.document_id), "--json"],
        "pages low-confidence": ["--below", "101"],
        "pages findings": ["--batch", "1"],
        "ingest-box": [str(world.root / "door-box")],
        "separators": ["--household", a.number, "--type", "申请书", "--out",
                       str(scan.with_name("separators.pdf"))],
        "batch list": [],
        "batch show": ["1"],
        "batch manifest-template": ["--out", str(scan.with_name("manifest.csv"))],
        "batch report": ["1", "--format", "pdf", "--out", str(scan.with_name("batch.pdf"))],
        "accept draw": [str(PLACES["accept draw"])],
        "accept judge": [str(PLACES["accept judge"]), str(PLACES["accept judge:document"]),
                         "pass"],
        "accept show": ["1", "--json"],
        "accept report": [str(PLACES["accept report"]), "-o",
                          str(scan.with_name("acceptance.pdf"))],
        "accept rework": [str(PLACES["accept rework"]), str(PLACES["accept rework:document"]),
                          str(text_pdf(scan.with_name("accept-rescan.pdf"),
                                       "acceptance command rescan"))],
        "reocr": [str(a.document_id), "--ocr-engine", "tesseract"],
        "pages lines": [str(a.document_id), "1", "--json"],
        "pages correct": [str(a.document_id), "1", "--line", "1=门卫测试"],
        "pages rotate": [str(a.document_id), "1", "--degrees", "180"],
        "pages replace": [str(a.document_id), "1", str(_rescan(scan))],
        "replace-document": [str(a.document_id), str(_rescan(scan, "门卫重扫"))],
        "audit verify": [],
        "location add": ["folder", "F-DOOR", "--in", BOX, "--title", "门卫测试"],
        "location move": [VOLUME, "--to", BOX, "--note", "门卫"],
        "location show": [BOX],
        "location list": [],
        "labels": [BOX, "--out", str(scan.with_name("labels.pdf"))],
        "records list": ["--region", world.a.township],
        "records show": [VOLUME],
        "audit export": [],
        "audit anchor": [],
        "household certificate": [a.number, "DB2203810042"],
        "verify": [],
        "backup": [str(scan.parent / "backup")],
        "key export": [str(scan.parent / "key-export.json"), "--passphrase-stdin"],
        "key rotate": [],
        "key status": [],
        "retention classes": [],
        "retention due": ["--region", "220381105", "--json"],
        "retention class add": ["door-5y", "--name", "门卫五年", "--years", "5",
                                "--trigger", "document_date", "--action", "review"],
        "retention class edit": ["door-5y", "--name", "门卫六年", "--years", "6",
                                 "--trigger", "document_date", "--action", "review"],
        "retention map": ["door_test", "door-5y"],
        "retention set": ["dossier", a.number, "door-5y", "--reason", "门卫"],
        "hold add": ["household", a.number, "--reason", "门卫争议"],
        "hold lift": ["household", a.number, "--reason", "争议已了结"],
        "hold list": ["--all", "--json"],
        "destruction draft": ["--region", "220381105"],
        "destruction submit": [str(lists.draft)],
        "destruction approve": [str(lists.submitted)],
        "destruction return": [str(lists.to_return), "--comment", "门卫意见"],
        "destruction witness": [str(lists.approved)],
        "destruction execute": [str(lists.executed)],
        "destruction certificate": [str(lists.executed), "--out",
                                    str(scan.with_name("certificate.pdf"))],
        "destruction show": [str(lists.executed), "--json"],
        "destruction list": [],
        "destruction remove": [str(lists.to_return), "--dossier", f"{a.number[:12]}-9903"],
        "destruction cancel": [str(lists.to_return), "--comment", "门卫撤回"],
        "destruction reapply": [],
    }


def test_every_guarded_command_passes_the_door_and_refuses_as_if_missing(
        world, archive, tmp_path, monkeypatch):
    from PIL import Image, ImageDraw

    from ingest.fonts import cjk_font

    for name in ("HUDANG_HOME", "HUDANG_MASTER_KEY_FILE", "HUDANG_MASTER_KEY",
                 "HUDANG_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    scan = tmp_path / "scan.png"
    image = Image.new("L", (900, 400), 255)
    ImageDraw.Draw(image).text((40, 150), "入户调查表 门卫测试", font=cjk_font(48), fill=0)
    image.save(scan, dpi=(150, 150))
    samples = _command_args(world, scan)
    base = ["--home", str(world.home), "--key-file", str(world.key_file)]
    runner = CliRunner()
    for path, command in _commands(main).items():
        decl = declaration(command.callback)
        if decl.action is None:
            continue
        assert path in samples, f"add a use of 'hudang {path}' to _command_args"
        words = [*path.split(), *samples[path]]
        refused_as = _role_without(decl.action)
        if refused_as is None and path in ONE_OBJECT:
            refused_as = world.b.staff  # another township's staff, for one object
        if refused_as is not None:
            before = _last_id(archive)
            result = runner.invoke(main, [*base, *words, "--as", refused_as],
                                   input="Another-password-1\n")
            assert result.exit_code == 3, (path, refused_as, result.output)
            assert ("was not found" in result.output or "may not" in result.output), path
            assert _refused_since(archive, before), (path, "no refused event recorded")
        ok = runner.invoke(main, [*base, *words], input="Another-password-1\n")
        assert ok.exit_code == 0, (path, ok.output, ok.exception)
