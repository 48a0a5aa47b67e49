"""The ``hudang`` command line: a thin layer over the same services the web app uses.

Every failure a person can act on is one line on stderr and a non-zero exit
code, decided in one place (:class:`HudangGroup`), never a traceback.
"""
from __future__ import annotations

import json
import os
import sys
from datetime import date
from pathlib import Path

import click

from ingest.archive import Archive, ArchiveError, Settings, console_user
from ingest.exceptions import IngestError
from records import audit
from records.catalogue import (add_household, add_region, add_user, get_household, get_user,
                               principal_of)
from records.exceptions import NotFound, RecordsError
from records.policy import Action, Principal, Role, decide, parse_grants
from storage import StorageError
from web import reading

USER_ERRORS = (ArchiveError, IngestError, RecordsError, StorageError, reading.Refused)


class HudangGroup(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            click.echo(f"hudang: {exc}", err=True)
            sys.exit(getattr(exc, "exit_code", 2) or 2)
        except ValueError as exc:  # e.g. an unknown role or OCR engine name
            click.echo(f"hudang: {exc}", err=True)
            sys.exit(2)


class Context:
    def __init__(self, home: str | None, key_file: str | None):
        self.settings = Settings.from_env(home, key_file)
        self._archive: Archive | None = None

    @property
    def archive(self) -> Archive:
        if self._archive is None:
            self._archive = Archive.open(self.settings)
        return self._archive

    def principal(self, as_user: str | None) -> Principal:
        """``--as USER`` reads under that account's rights; otherwise the console user's."""
        if as_user is None:
            return Principal(console_user(), frozenset({Role.operator}))
        grants = parse_grants(os.environ.get("HUDANG_GRANTS"))
        with self.archive.Session() as s:
            return principal_of(get_user(s, as_user), grants)

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()


pass_ctx = click.make_pass_decorator(Context)
as_option = click.option("--as", "as_user", metavar="USER",
                         help="Act as this hudang user (default: the operating-system user).")


@click.group(cls=HudangGroup)
@click.option("--home", envvar="HUDANG_HOME", metavar="DIR",
              help="Data home (default ./hudang-data, or HUDANG_HOME).")
@click.option("--key-file", envvar="HUDANG_MASTER_KEY_FILE", metavar="FILE",
              help="Master key file (default ~/.config/hudang/master.key).")
@click.version_option(package_name="hudang")
@click.pass_context
def main(ctx: click.Context, home: str | None, key_file: str | None) -> None:
    """户档 hudang: the archive of scanned 低保 household dossiers."""
    ctx.obj = Context(home, key_file)
    ctx.call_on_close(ctx.obj.close)


@main.command()
@click.option("--home", "home_opt", metavar="DIR", help="Data home to create.")
@pass_ctx
def init(c: Context, home_opt: str | None) -> None:
    """Create a data home and (if missing) its master key."""
    if home_opt:
        c.settings = Settings.from_env(home_opt, c.settings.key_file)
    archive = Archive.init(c.settings)
    archive.close()
    click.echo(f"created archive at {c.settings.home}")
    click.echo(f"master key: {c.settings.key_file} (keep it safe and separate from the data)")


# -- administration ------------------------------------------------------------
@main.group()
def region() -> None:
    """Administrative regions (county, township, village)."""


@region.command("add")
@click.argument("code")
@click.argument("name")
@click.option("--parent", metavar="CODE", help="Parent region (default: implied by the code).")
@pass_ctx
def region_add(c: Context, code: str, name: str, parent: str | None) -> None:
    """Add a region; its level follows from the code's length (6, 9 or 12 digits)."""
    with c.archive.Session() as s, s.begin():
        r = add_region(s, code, name, parent)
        level = r.level.value
    click.echo(f"added {level} {code} {name}")


@main.group()
def household() -> None:
    """Households (低保户) and their dossiers."""


@household.command("add")
@click.argument("number")
@click.option("--head", required=True, help="Name of the head of household (户主).")
@click.option("--region", "region_code", required=True, metavar="CODE", help="12-digit village code.")
@click.option("--id-number", help="Head's ID number; stored encrypted, shown masked.")
@click.option("--certificate", metavar="NO",
              help="Allowance-certificate number (低保证号); only its blind index is stored.")
@pass_ctx
def household_add(c: Context, number: str, head: str, region_code: str,
                  id_number: str | None, certificate: str | None) -> None:
    """Add a household and open its dossier."""
    from records.idnumbers import is_valid, mask
    from records.self_lookup import set_certificate
    from web.selflookup import certificate_index

    sealed = index = None
    if id_number:
        if not is_valid(id_number):
            raise RecordsError(f"ID number {mask(id_number)} is not a valid 18-digit number "
                               "(its check digit does not match)")
        sealed, index = c.archive.seal_id_number(id_number)
    with c.archive.Session() as s, s.begin():
        added = add_household(s, number, head, region_code, head_id_sealed=sealed,
                              head_id_index=index)
        if certificate and certificate.strip():
            s.flush()
            set_certificate(s, added, certificate_index(c.archive, certificate))
    click.echo(f"added household {number}")


@main.group()
def user() -> None:
    """User accounts."""


@user.command("add")
@click.argument("name")
@click.option("--role", "roles", required=True, multiple=True,
              help="administrator, archivist, staff, reviewer or auditor; repeat the option "
                   "or separate with commas for several (--role staff,auditor).")
@click.option("--region", "region_code", metavar="CODE", help="Jurisdiction (default: all).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_ctx
def user_add(c: Context, name: str, roles: tuple[str, ...], region_code: str | None,
             password_stdin: bool) -> None:
    """Add a user; the password is asked for (or read from stdin).

    Passwords: at least 10 characters, at least two kinds of character
    (lower case, upper case, digits, other), not the user name.
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with c.archive.Session() as s, s.begin():
        user_row = add_user(s, name, password, roles, region_code)
        stored = user_row.roles
    c.archive.record(audit.Event(actor=console_user(), action="user_add", object_type="user",
                                 object_id=name, detail={"roles": stored,
                                                         "region": region_code or ""}))
    click.echo(f"added user {name} ({stored.replace(',', ', ')})")


# -- ingest, search, read ----------------------------------------------------
@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--household", "household_no", required=True, metavar="NO")
@click.option("--type", "doc_type", required=True, help="Document type: code or Chinese name.")
@click.option("--seq", type=int, help="Number in the dossier (default: next).")
@click.option("--date", "doc_date", type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD")
@click.option("--title")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--ocr-engine", envvar="HUDANG_OCR_ENGINE", metavar="NAME",
              help="OCR engine: rapidocr, tesseract or tesseract+rapidocr (alias auto); "
                   "default HUDANG_OCR_ENGINE, else rapidocr (docs/ocr.md).")
@as_option
@pass_ctx
def ingest(c: Context, file: Path, household_no: str, doc_type: str, seq: int | None,
           doc_date, title: str | None, as_json: bool, ocr_engine: str | None,
           as_user: str | None) -> None:
    """Ingest a scan (PDF, TIFF, JPEG or PNG) into a household's dossier."""
    from ingest.pipeline import IngestRequest, Ingestor

    who = c.principal(as_user)
    with c.archive.Session() as s:
        try:
            region_code = get_household(s, household_no).region_code
        except NotFound as exc:
            raise IngestError(f"cannot ingest '{file.name}': {exc}") from None
    if not decide(who, Action.ingest, region_code):
        c.archive.record(audit.Event(actor=who.name, action="ingest", outcome=audit.REFUSED,
                                     household=household_no))
        raise reading.Refused(f"household {household_no}")
    req = IngestRequest(path=file, household=household_no, doc_type=doc_type, seq=seq,
                        date=doc_date.date() if doc_date else None, title=title, actor=who.name)
    with _progress(f"{file.name}") as bar, Ingestor(c.archive, engine=ocr_engine) as ingestor:
        result = ingestor.ingest(req, progress=bar.update, on_pages=bar.reset)
    for warning in result.warnings:
        click.echo(f"warning: {file.name}: {warning}", err=True)
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
    elif result.duplicate:
        click.echo(f"duplicate: {file.name} is already document {result.document_id} of "
                   f"{result.household}")
    else:
        click.echo(f"ingested {file.name} as document {result.document_id} of "
                   f"{result.household} ({result.pages} pages)")


@main.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", default=20, show_default=True)
@as_option
@pass_ctx
def search(c: Context, query: str, as_json: bool, limit: int, as_user: str | None) -> None:
    """Search by a Chinese word, a name, a household number or an ID number."""
    hits, total = reading.search(c.archive, c.principal(as_user), query, limit=limit)
    if as_json:
        click.echo(json.dumps([h.as_json() for h in hits], ensure_ascii=False, indent=1))
        return
    if not hits:
        click.echo("no documents found")
        return
    click.echo(f"about {total} documents" if getattr(total, "estimated", False) else f"{total} documents")
    for h in hits:
        close = "  (close match: one character differs)" if h.approximate else ""
        click.echo(f"{h.household}  {h.head_name}  {h.type_name}  document {h.document_id} "
                   f"page {h.page}{close}\n    {h.snippet}")


@main.command()
@click.argument("document_id", type=int)
@click.option("--page", type=int, help="Only this page (default: all).")
@as_option
@pass_ctx
def text(c: Context, document_id: int, page: int | None, as_user: str | None) -> None:
    """Print a document's OCR text (recorded as a read; ID numbers masked)."""
    who = c.principal(as_user)
    count = reading.document_page_count(c.archive, document_id)
    numbers = [page] if page else list(range(1, (count or 1) + 1))
    for n in numbers:
        body = reading.page_text(c.archive, who, document_id, n)
        if len(numbers) > 1:
            click.echo(f"--- page {n} ---")
        click.echo(body)


@main.group()
def pages() -> None:
    """Pages that need an archivist's look."""


@pages.command("low-confidence")
@click.option("--below", default=70.0, show_default=True, metavar="N",
              help="List OCR'd pages whose confidence (0-100) is below N.")
@click.option("--flagged", is_flag=True,
              help="Also list flagged pages (ingest.ocr.fields) whatever their confidence.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
@as_option
@pass_ctx
def pages_low_confidence(c: Context, below: float, flagged: bool, as_json: bool,
                         as_user: str | None) -> None:
    """List low-confidence and flagged pages (worst first), to re-OCR with 'hudang reocr'."""
    from ingest.reocr import low_confidence_pages

    found = low_confidence_pages(c.archive, c.principal(as_user), below, flagged=flagged)
    if as_json:
        click.echo(json.dumps([p.as_json() for p in found], ensure_ascii=False, indent=1))
        return
    if not found:
        click.echo(f"no pages below confidence {below:g}")
        return
    for p in found:
        confidence = "-" if p.confidence is None else f"{p.confidence:5.1f}"
        click.echo(f"document {p.document_id:>6} page {p.page:>3}  {confidence}  {p.household}  "
                   f"{p.doc_type}  {p.engine or '-'}  {p.flag or ''}".rstrip())


@main.command()
@click.argument("document_id", type=int)
@click.option("--page", "page_numbers", type=int, multiple=True,
              help="Page to re-OCR (repeatable; default: every page).")
@click.option("--ocr-engine", required=True, metavar="NAME",
              help="Engine to read the pages with: rapidocr, tesseract or tesseract+rapidocr.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@as_option
@pass_ctx
def reocr(c: Context, document_id: int, page_numbers: tuple[int, ...], ocr_engine: str,
          as_json: bool, as_user: str | None) -> None:
    """Re-run OCR on pages of a stored document; replaces its text layer, text and index entries."""
    from ingest.reocr import reocr as run_reocr

    result = run_reocr(c.archive, c.principal(as_user), document_id, engine=ocr_engine,
                       pages=list(page_numbers) or None)
    if as_json:
        click.echo(json.dumps({"document_id": result.document_id, "pages": result.pages,
                               "engine": result.engine,
                               "confidence": {str(k): v for k, v in result.confidence.items()},
                               "flags": {str(k): v for k, v in result.flags.items()}}))
        return
    for number in result.pages:
        value = result.confidence[number]
        confidence = "-" if value is None else f"{value:.1f}"
        flag = f"  flag: {result.flags[number]}" if result.flags[number] else ""
        click.echo(f"document {document_id} page {number}: re-OCR'd with {result.engine}, "
                   f"confidence {confidence}{flag}")


@main.command()
@pass_ctx
def reindex(c: Context) -> None:
    """Rebuild the search index from the catalogue and the blob store."""
    from ingest.indexing import reindex as rebuild

    pages = rebuild(c.archive)
    c.archive.record(audit.Event(actor=console_user(), action="reindex", detail={"pages": pages}))
    click.echo(f"reindexed {pages} pages")


@main.group("audit")
def audit_group() -> None:
    """The audit log."""


@audit_group.command("verify")
@pass_ctx
def audit_verify(c: Context) -> None:
    """Check that the audit log is complete and unaltered."""
    result = audit.verify(c.archive.engine)
    if not result.ok:
        click.echo(f"hudang: audit log broken at event {result.first_bad}: {result.reason}", err=True)
        sys.exit(1)
    click.echo(f"audit log intact: {result.events} events")
    c.archive.record(audit.Event(actor=console_user(), action="audit_verify",
                                 detail={"events": result.events}))


@audit_group.command("export")
@click.option("--user", "user_name", default="", help="Only events of this user.")
@click.option("--household", default="", metavar="NO", help="Only events about this household.")
@click.option("--from", "date_from", default="", metavar="YYYY-MM-DD")
@click.option("--to", "date_to", default="", metavar="YYYY-MM-DD")
@click.option("--action", default="", help="e.g. read_page, download, login.")
@click.option("--outcome", default="", type=click.Choice(["", "allowed", "refused"]))
@as_option
@pass_ctx
def audit_export(c: Context, user_name: str, household: str, date_from: str, date_to: str,
                 action: str, outcome: str, as_user: str | None) -> None:
    """Write audit events as CSV to standard output (ID numbers masked; recorded)."""
    from web.audit_views import AuditFilter, BadFilter, write_csv

    who = c.principal(as_user)
    if not decide(who, Action.audit_view):
        c.archive.record(audit.Event(actor=who.name, action="audit_export",
                                     outcome=audit.REFUSED))
        raise reading.Refused("the audit log")
    try:
        flt = AuditFilter.from_args({"user": user_name, "household": household,
                                     "date_from": date_from, "date_to": date_to,
                                     "action": action, "outcome": outcome})
    except BadFilter as exc:
        raise click.BadParameter(f"'{exc}' is not a date; write YYYY-MM-DD") from None
    c.archive.record(audit.Event(actor=who.name, action="audit_export",
                                 detail=flt.query_args()))
    with c.archive.Session() as s:
        write_csv(s, flt, who, sys.stdout)


# -- serving -------------------------------------------------------------------
@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--threads", default=8, show_default=True)
@pass_ctx
def serve(c: Context, host: str, port: int, threads: int) -> None:
    """Serve the web app with a production WSGI server (waitress)."""
    _serve(c.archive, host, port, threads)


def _serve(archive: Archive, host: str, port: int, threads: int) -> None:
    import waitress

    from web.app import create_app

    app = create_app(archive=archive)
    click.echo(f"serving hudang at http://{host}:{port}/  (Ctrl-C to stop)")
    waitress.serve(app, host=host, port=port, threads=threads, ident="hudang")


@main.command()
@click.option("--households", default=6, show_default=True)
@click.option("--seed", default=2026, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--no-serve", is_flag=True, help="Build the demo archive and stop.")
@pass_ctx
def demo(c: Context, households: int, seed: int, host: str, port: int, no_serve: bool) -> None:
    """Build a demo archive of synthetic dossiers (once) and serve it."""
    from web.demo import DEMO_USERS, build_demo

    archive = build_demo(c.settings, households=households, seed=seed, progress=_progress)
    c._archive = archive
    click.echo("demo logins (user / password / what they see):")
    for name, password, role, scope in DEMO_USERS:
        click.echo(f"  {name:<10} {password:<16} {role} {scope}")
    if not no_serve:
        _serve(archive, host, port, 8)


def _progress(label: str, total: int | None = None):
    from tqdm import tqdm

    class Bar(tqdm):
        def reset(self, total=None):  # called with the page count once it is known
            super().reset(total=total)

    # disable=None: shown on a terminal, silent when output is piped or in CI
    return Bar(total=total, desc=label, unit="page", disable=None, leave=False, file=sys.stderr)
