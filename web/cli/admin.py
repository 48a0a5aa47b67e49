"""Setting up and keeping an archive: init, regions, users, the index, settings.

The same services as the administrators' screens (``ingest.accounts``, ``ingest.regions``):
each change is admitted at the door for ``manage`` and recorded in the audit log.
"""
from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import click

from ingest import accounts, regions
from ingest.archive import Archive
from records import audit
from records.policy import Action, Principal, parse_roles
from web.cli.root import main
from web.cli.context import Context, progress
from web.cli.door import guarded, unguarded
from web.errors import ExitCode


@main.command()
@click.option("--home", "home_opt", metavar="DIR", help="Data home to create.")
@unguarded
def init(c: Context, home_opt: str | None) -> None:
    """Create a data home and (if missing) its master key."""
    if home_opt:
        c.settings = c.settings.with_values({"HUDANG_HOME": home_opt})
    archive = Archive.init(c.settings)
    archive.close()
    click.echo(f"created archive at {c.settings.home}")
    click.echo(f"master key: {c.settings.master_key_file} "
               "(keep it safe and separate from the data)")


@main.command("settings")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@unguarded
def show_settings(c: Context, as_json: bool) -> None:
    """Show every HUDANG_* setting as hudang reads it (secrets only as set or not set)."""
    shown = c.settings.shown()
    if as_json:
        click.echo(json.dumps(shown, ensure_ascii=False, indent=1))
        return
    for name, value in shown.items():
        click.echo(f"{name}={value}")


# -- regions --------------------------------------------------------------------
@main.group()
def region() -> None:
    """Administrative regions (county, township, village)."""


@region.command("add")
@click.argument("code")
@click.argument("name")
@guarded(Action.manage, per_object=True)
def region_add(c: Context, who: Principal, code: str, name: str) -> None:
    """Add a region; its level follows from the code's length (6, 9 or 12 digits) and the
    region above it from the code's prefix."""
    added = regions.add(c.archive, who, code, name)
    click.echo(f"added {added.level.value} {added.code} {added.name}")


@region.command("rename")
@click.argument("code")
@click.argument("name")
@guarded(Action.manage, per_object=True)
def region_rename(c: Context, who: Principal, code: str, name: str) -> None:
    """Give a region a new name."""
    changed = regions.rename(c.archive, who, code, name)
    click.echo(f"renamed region {code} to {name}" if changed else
               f"region {code} is already called {name}")


@region.command("import")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.manage)
def region_import(c: Context, who: Principal, file: Path, as_json: bool) -> None:
    """Add or rename regions from a CSV of statistical area codes.

    Columns: 代码 (code), 名称 (name), 级别 (level: county/township/village or 县/乡镇/村,
    optional), 上级代码 (parent, optional). 12-digit codes padded with zeros are read as
    counties and townships. Prints one line per bad row, then a summary; exits 2 when any
    row was refused. Importing the same file again changes nothing.
    """
    report = regions.import_file(c.archive, who, file.read_bytes(), file.name)
    print_report(report, file.name, as_json)


def print_report(report, name: str, as_json: bool) -> None:
    """An import's report: one line per bad row on stderr, then a summary (or one JSON
    object); exit 2 when any row was refused."""
    if as_json:
        click.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=1))
    else:
        for problem in report.problems:
            click.echo(f"{name}: {problem}", err=True)
        click.echo(f"{name}: {report.summary()}")
    if not report.ok:
        raise SystemExit(int(ExitCode.bad_input))


@region.command("show")
@click.argument("code", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--offset", default=0, show_default=True, help="Skip this many households.")
@click.option("--limit", default=50, show_default=True, help="Households to list.")
@guarded(Action.read_household, per_object=True)
def region_show(c: Context, who: Principal, code: str | None, as_json: bool, offset: int,
                limit: int) -> None:
    """A region of the tree: the regions under it, and its households with status, review
    class and what each dossier lacks (within your jurisdiction). A recorded read."""
    place = regions.browse(c.archive, who, code, offset=max(0, offset),
                           limit=max(1, min(limit, 1000)))
    if as_json:
        click.echo(json.dumps(place.as_json(), ensure_ascii=False, indent=1))
        return
    if place.region:
        click.echo(" > ".join(f"{n.name} ({n.code})" for n in place.lineage))
    for n in place.children:
        click.echo(f"  {n.code}  {n.name}  {n.level}  {n.households} households")
    click.echo(f"{place.total} households")
    for h in place.households:
        lacks = "complete" if not h.missing else "lacks " + "、".join(h.missing)
        click.echo(f"  {h.number}  {h.head_name}  {h.status}  class {h.review_class or '-'}  "
                   f"{lacks}")
    if place.has_next:
        click.echo(f"more: --offset {place.offset + len(place.households)}")


# -- users ---------------------------------------------------------------------------
@main.group()
def user() -> None:
    """User accounts."""


@user.command("add")
@click.argument("name")
@click.option("--role", "roles", required=True, multiple=True,
              help="administrator, archivist, staff, reviewer, approver, witness or auditor; "
                   "repeat the option or separate with commas for several "
                   "(--role staff,auditor).")
@click.option("--region", "region_code", metavar="CODE", help="Jurisdiction (default: all).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--one-time-code", is_flag=True,
              help="Set no password: print a one-time code the person signs in with once, "
                   "then chooses their own password.")
@guarded(Action.manage, per_object=True)
def user_add(c: Context, who: Principal, name: str, roles: tuple[str, ...],
             region_code: str | None, password_stdin: bool, one_time_code: bool) -> None:
    """Add a user; the password is asked for (or read from stdin), or a one-time code is
    printed.

    Passwords: at least 10 characters, at least two kinds of character
    (lower case, upper case, digits, other), not the user name.
    """
    parse_roles(roles)  # an unknown role is named before anything is asked
    password = None
    if not one_time_code:
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    code = accounts.create(c.archive, who, name, roles, region_code, password=password)
    stored = accounts.account(c.archive, who, name).roles
    click.echo(f"added user {name} ({', '.join(stored)})")
    if code:
        _show_code(c, name, code)


def _show_code(c: Context, name: str, code: str) -> None:
    hours = f"{c.settings.reset_code_hours:g}"
    click.echo(f"one-time code for {name}: {code}")
    click.echo(f"(they sign in with it once within {hours} hours and then choose a password; "
               "it is not shown again)")


@user.command("edit")
@click.argument("name")
@click.option("--role", "roles", multiple=True, help="The account's roles (all of them).")
@click.option("--region", "region_code", metavar="CODE",
              help="Jurisdiction; --region '' for the whole deployment.")
@guarded(Action.manage, per_object=True)
def user_edit(c: Context, who: Principal, name: str, roles: tuple[str, ...],
              region_code: str | None) -> None:
    """Change an account's roles or region (what is not given stays)."""
    current = accounts.account(c.archive, who, name)
    changed = accounts.update(c.archive, who, name, roles or current.roles,
                              current.region if region_code is None else region_code)
    click.echo(f"changed {', '.join(changed)} of user {name}" if changed else
               f"user {name} already is so: nothing changed")


@user.command("lock")
@click.argument("name")
@guarded(Action.manage, per_object=True)
def user_lock(c: Context, who: Principal, name: str) -> None:
    """Lock an account: it cannot sign in (its open sessions end)."""
    changed = accounts.set_active(c.archive, who, name, False)
    click.echo(f"locked user {name}" if changed else f"user {name} was already locked")


@user.command("unlock")
@click.argument("name")
@guarded(Action.manage, per_object=True)
def user_unlock(c: Context, who: Principal, name: str) -> None:
    """Unlock an account locked by an administrator."""
    changed = accounts.set_active(c.archive, who, name, True)
    click.echo(f"unlocked user {name}" if changed else f"user {name} was not locked")


@user.command("reset-password")
@click.argument("name")
@guarded(Action.manage, per_object=True)
def user_reset_password(c: Context, who: Principal, name: str) -> None:
    """Replace a user's password by a one-time code (printed once): they sign in with it
    and must then choose a new password."""
    _show_code(c, name, accounts.reset_password(c.archive, who, name))


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
@guarded(Action.manage)
def user_list(c: Context, who: Principal, as_json: bool) -> None:
    """The accounts you keep (inside your jurisdiction)."""
    found, _ = accounts.listing(c.archive, who, limit=100_000)
    if as_json:
        click.echo(json.dumps([a.as_json() for a in found], ensure_ascii=False, indent=1))
        return
    for a in found:
        state = ("locked" if not a.active else "must choose a password"
                 if a.must_change_password else "active")
        click.echo(f"{a.username:<20} {','.join(a.roles):<24} {a.region or '(all)':<13} {state}")


# -- the index ---------------------------------------------------------------------
class _StopAtNextBatch:
    """Ctrl-C during a reindex stops it after the batch at work, its checkpoint written:
    raised from the progress callback, never from inside the index's or the catalogue's
    own code (where a clean-up could swallow it). A second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.asked = False
        self._previous = None

    def _ask(self, signum: int, frame: object) -> None:
        self.asked = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def check(self) -> None:
        if self.asked:
            raise KeyboardInterrupt

    def __enter__(self) -> _StopAtNextBatch:
        self._previous = signal.signal(signal.SIGINT, self._ask)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)


@main.command()
@click.option("--batch", type=click.IntRange(min=1), default=None,
              help="Documents per commit (default 200); an interruption loses at most one batch.")
@click.option("--background", is_flag=True, help="Queue it as a job for 'hudang worker'.")
@guarded(Action.manage, event="reindex")
def reindex(c: Context, who: Principal, batch: int | None, background: bool) -> None:
    """Rebuild the search index from the catalogue and the blob store.

    Interrupted (Ctrl-C, a kill, a crash), it goes on where it stopped when run again."""
    if background:
        from ingest.jobs import submit
        from records.kinds import JobKind

        click.echo(f"queued as job {submit(c.archive, who, JobKind.reindex)}")
        return
    from ingest.indexing import REINDEX_BATCH, ReindexProgress
    from ingest.indexing import reindex as rebuild

    stop = _StopAtNextBatch()
    with progress("reindexing", None, unit="document") as bar, stop:
        def show(p: ReindexProgress) -> None:
            if bar.total != p.total:
                if p.resumed:
                    click.echo(f"hudang: going on with an interrupted reindex: {p.done} of "
                               f"{p.total} documents were done", err=True)
                bar.reset(total=p.total)
            bar.update(p.done - bar.n)
            stop.check()

        try:
            pages = rebuild(c.archive, batch=batch or REINDEX_BATCH, progress=show)
        except KeyboardInterrupt:
            click.echo("hudang: reindex interrupted; run 'hudang reindex' again to go on "
                       "where it stopped", err=True)
            raise SystemExit(int(ExitCode.interrupted)) from None
    c.archive.record(audit.Event(actor=who.name, action="reindex", detail={"pages": pages}))
    click.echo(f"reindexed {pages} pages")
