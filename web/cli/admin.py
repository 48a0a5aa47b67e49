"""Setting up and keeping an archive: init, regions, households, users, the index, settings.

Each change is admitted at the door for ``manage`` and recorded in the audit log.
"""
from __future__ import annotations

import json
import sys

import click

from ingest.archive import Archive
from records import audit
from records.catalogue import add_household, add_region, add_user
from records.exceptions import Invalid
from records.idnumbers import is_valid, mask
from records.policy import Action, Principal
from records.self_lookup import set_certificate
from web.cli.root import main
from web.cli.context import Context
from web.cli.door import guarded, unguarded


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
@click.option("--parent", metavar="CODE", help="Parent region (default: implied by the code).")
@guarded(Action.manage, event="region_add")
def region_add(c: Context, who: Principal, code: str, name: str, parent: str | None) -> None:
    """Add a region; its level follows from the code's length (6, 9 or 12 digits)."""
    with c.archive.Session() as s, s.begin():
        level = add_region(s, code, name, parent).level.value
    c.archive.record(audit.Event(actor=who.name, action="region_add", object_type="region",
                                 object_id=code, detail={"level": level}))
    click.echo(f"added {level} {code} {name}")


# -- households -------------------------------------------------------------------
@main.group()
def household() -> None:
    """Households (低保户) and their dossiers."""


@household.command("add")
@click.argument("number")
@click.option("--head", required=True, help="Name of the head of household (户主).")
@click.option("--region", "region_code", required=True, metavar="CODE",
              help="12-digit village code.")
@click.option("--id-number", help="Head's ID number; stored encrypted, shown masked.")
@click.option("--certificate", metavar="NO",
              help="Allowance-certificate number (低保证号); only its blind index is stored.")
@guarded(Action.manage, event="household_add")
def household_add(c: Context, who: Principal, number: str, head: str, region_code: str,
                  id_number: str | None, certificate: str | None) -> None:
    """Add a household and open its dossier."""
    sealed = index = None
    if id_number:
        if not is_valid(id_number):
            raise Invalid(f"ID number {mask(id_number)} is not a valid 18-digit number "
                          "(its check digit does not match)")
        sealed, index = c.archive.seal_id_number(id_number)
    with c.archive.Session() as s, s.begin():
        added = add_household(s, number, head, region_code, head_id_sealed=sealed,
                              head_id_index=index)
        if certificate and certificate.strip():
            s.flush()
            sealed_no, index_no = c.archive.seal_certificate(certificate)
            set_certificate(s, added, index_no, sealed=sealed_no)
    c.archive.record(audit.Event(actor=who.name, action="household_add",
                                 object_type="household", object_id=number, household=number))
    click.echo(f"added household {number}")


@household.command("certificate")
@click.argument("number")
@click.argument("certificate")
@guarded(Action.manage, event="household_certificate")
def household_certificate(c: Context, who: Principal, number: str, certificate: str) -> None:
    """Record (or enter again) a household's allowance-certificate number (低保证号); only its
    blind index and the number sealed are stored."""
    from records.catalogue import get_household

    sealed_no, index_no = c.archive.seal_certificate(certificate)
    with c.archive.Session() as s, s.begin():
        set_certificate(s, get_household(s, number), index_no, sealed=sealed_no)
    c.archive.record(audit.Event(actor=who.name, action="household_certificate",
                                 object_type="household", object_id=number, household=number))
    click.echo(f"recorded the certificate number of household {number}")


# -- users ---------------------------------------------------------------------------
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
@guarded(Action.manage, event="user_add")
def user_add(c: Context, who: Principal, name: str, roles: tuple[str, ...],
             region_code: str | None, password_stdin: bool) -> None:
    """Add a user; the password is asked for (or read from stdin).

    Passwords: at least 10 characters, at least two kinds of character
    (lower case, upper case, digits, other), not the user name.
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with c.archive.Session() as s, s.begin():
        stored = add_user(s, name, password, roles, region_code).roles
    c.archive.record(audit.Event(actor=who.name, action="user_add", object_type="user",
                                 object_id=name, detail={"roles": stored,
                                                         "region": region_code or ""}))
    click.echo(f"added user {name} ({stored.replace(',', ', ')})")


# -- the index ---------------------------------------------------------------------
@main.command()
@guarded(Action.manage, event="reindex")
def reindex(c: Context, who: Principal) -> None:
    """Rebuild the search index from the catalogue and the blob store."""
    from ingest.indexing import reindex as rebuild

    pages = rebuild(c.archive)
    c.archive.record(audit.Event(actor=who.name, action="reindex", detail={"pages": pages}))
    click.echo(f"reindexed {pages} pages")
