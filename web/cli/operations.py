"""Keeping the archive: verify (四性检测), back up, restore, and the master key.

Thin: each command gathers its input, calls the service in ``ingest`` (``verify``,
``repair``, ``backup``, ``keyrotation``) or ``storage`` (key export and import), shows a
progress bar for long work and prints the outcome. ``docs/operations.md`` says when to use
which.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from ingest.archive import inside
from ingest.verify import PROPERTY_NAMES, Report
from records import audit
from records.policy import Action, Principal
from storage import KeyFileError, MasterKey, check_passphrase, export_key, import_key
from web.cli.context import Context, progress
from web.cli.door import guarded, unguarded
from web.cli.root import main
from web.errors import ExitCode


# -- verify -----------------------------------------------------------------------------
@main.command()
@click.option("--repair", is_flag=True,
              help="Rebuild what can be rebuilt (index entries, access images and page text "
                   "from the archival PDF) and list what cannot.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option("--background", is_flag=True,
              help="Queue it as a job for 'hudang worker' (without --repair).")
@guarded(Action.verify)
def verify(c: Context, who: Principal, repair: bool, as_json: bool, background: bool) -> None:
    """Check the archive's authenticity, integrity, usability and security (四性检测)."""
    if background:
        from ingest.jobs import submit
        from records.kinds import JobKind

        if repair:
            raise click.UsageError("--repair runs in the foreground only")
        click.echo(f"queued as job {submit(c.archive, who, JobKind.verify)}")
        return
    from ingest import repair as repairs
    from ingest import verify as checks

    archive = c.archive
    with progress("verifying", len(checks.document_ids(archive)), unit="document") as bar:
        report = checks.check(archive, progress=bar.update)
    if repair and report.problems:
        with progress("repairing", None, unit="document") as bar:
            repairs.repair(archive, report, progress=bar.update)
    checks.record_run(archive, who.name, report, repair=repair)
    if as_json:
        click.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=1))
    else:
        _print_report(c, report, repair)
    if not report.passed:
        sys.exit(int(ExitCode.verify_findings))


def _print_report(c: Context, report: Report, repair: bool) -> None:
    n = report.counts
    click.echo(f"verification (四性检测) of {c.settings.home}: {_count(n.documents, 'document')}, "
               f"{_count(n.pages, 'page')}, {_count(n.blobs, 'blob')}, "
               f"{_count(n.audit_events, 'audit event')}")
    for prop, findings in report.by_property().items():
        failures = [f for f in findings if not f.note]
        click.echo(f"{prop.value} ({PROPERTY_NAMES[prop]}): "
                   + (_count(len(failures), "finding") if failures else "no findings"))
        for f in failures:
            mark = " [repaired]" if f in report.repaired else ""
            click.echo(f"  {f.message}{mark}")
        _print_notes([f for f in findings if f.note])
    if report.not_repaired:
        click.echo("not repaired:" if repair else "what to do:")
        for f, advice in report.not_repaired:
            click.echo(f"  {f.message}: {advice}")
    elif report.problems and not repair:
        repairable = sum(f.repairable for f in report.problems)
        click.echo(f"{repairable} of {len(report.problems)} can be rebuilt with "
                   "'hudang verify --repair'")
    click.echo("result: passed" if report.passed else
               f"result: {_count(len(report.problems), 'finding')}")


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _print_notes(notes: list) -> None:
    originals = [f.document_id for f in notes if f.kind == "original_not_kept"]
    if originals:
        from ingest.verify import ORIGINALS_SINCE

        shown = ", ".join(map(str, originals[:20])) + (" …" if len(originals) > 20 else "")
        click.echo(f"  note: original not kept (ingested before {ORIGINALS_SINCE}) for "
                   f"{_count(len(originals), 'document')}: {shown}")
    for f in notes:
        if f.kind != "original_not_kept":
            click.echo(f"  note: {f.message}")


# -- backup and restore -------------------------------------------------------------------
@main.command()
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--prune", is_flag=True,
              help="Remove blobs from the backup that the catalogue no longer refers to.")
@guarded(Action.backup)
def backup(c: Context, who: Principal, dest: Path, prune: bool) -> None:
    """Copy the catalogue (a consistent snapshot) and the encrypted blobs to DEST.

    Safe while the server serves and ingests run. Again to the same DEST copies only what
    changed. The master key is never in a backup: keep it apart ('hudang key export').
    """
    from ingest.backup import backup as make_backup

    with progress("backing up", None, unit="blob") as bar:
        result = make_backup(c.archive, dest, actor=who.name, prune=prune,
                             progress=bar.update, on_total=bar.reset)
    click.echo(f"backed up {_count(result.documents, 'document')} to {result.dest}: "
               f"{_count(result.blobs, 'blob')} "
               f"({result.copied} copied now, {result.removed} removed), the catalogue "
               "replaced; the search index is rebuilt on restore")
    click.echo("the master key is not in the backup: keep a 'hudang key export' of it apart")


@main.command()
@click.argument("src", type=click.Path(path_type=Path, exists=True, file_okay=False))
@unguarded
def restore(c: Context, src: Path) -> None:
    """Restore the backup in SRC into an empty data home; rebuild the index.

    Needs the master key the backup was made under (import it first with 'hudang key
    import'). Asks no one: there is no catalogue yet to ask.
    """
    from ingest.archive import console_user
    from ingest.backup import restore as restore_backup

    with progress("restoring", None, unit="blob") as bar:
        archive, result = restore_backup(c.settings, src, progress=bar.update,
                                         on_total=bar.reset)
    c.adopt(archive)
    archive.record(audit.Event(actor=console_user(), action="restore",
                               detail={"source": str(src), "made_at": result.made_at,
                                       "documents": result.documents,
                                       "destroyed_again": result.destroyed_again}))
    checked = archive.verify_audit()
    click.echo(f"restored {_count(result.documents, 'document')} "
               f"({_count(result.pages, 'page')}) from the backup "
               f"made {result.made_at} into {result.home}; search index rebuilt")
    if result.destroyed_again:
        click.echo(f"destroyed again, as the destruction register says: "
                   f"{_count(result.destroyed_again, 'dossier')}")
    if not checked.ok:
        click.echo(f"hudang: the restored audit log is broken at event {checked.first_bad}: "
                   f"{checked.reason}", err=True)
        sys.exit(int(ExitCode.audit_broken))
    click.echo(f"audit log intact: {checked.events} events")


# -- the master key -----------------------------------------------------------------------
@main.group("key")
def key_group() -> None:
    """The master key: export, import, rotate, status."""


def _passphrase(from_stdin: bool, confirm: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)


@key_group.command("export")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--passphrase-stdin", is_flag=True, help="Read the passphrase from standard input.")
@guarded(Action.manage_keys, event="key_export")
def key_export(c: Context, who: Principal, file: Path, passphrase_stdin: bool) -> None:
    """Write the master key to FILE, encrypted under a passphrase (Argon2id, AES-GCM)."""
    file = file.expanduser().absolute()
    if inside(file, c.settings.home):
        raise KeyFileError(f"'{file}' lies inside the data home; keep the key apart from the data")
    passphrase = _passphrase(passphrase_stdin, confirm=True)
    check_passphrase(passphrase)
    master = c.archive.master
    export_key(master, file, passphrase)
    c.archive.record(audit.Event(actor=who.name, action="key_export",
                                 detail={"file": str(file), "key": master.fingerprint()}))
    click.echo(f"exported master key {master.fingerprint()} to {file}; keep it and its "
               "passphrase apart from the backups")


@key_group.command("import")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--passphrase-stdin", is_flag=True, help="Read the passphrase from standard input.")
@click.option("--force", is_flag=True,
              help="Replace a key file that holds another key (it is kept aside, renamed).")
@unguarded
def key_import(c: Context, file: Path, passphrase_stdin: bool, force: bool) -> None:
    """Read a key export back into the key file (HUDANG_MASTER_KEY_FILE)."""
    if c.settings.master_key:
        raise KeyFileError("HUDANG_MASTER_KEY is set, so hudang would not read the key file; "
                           "unset it first")
    key = import_key(file, _passphrase(passphrase_stdin, confirm=False))
    target = c.settings.master_key_file
    if inside(target, c.settings.home):
        raise KeyFileError(f"the key file '{target}' must not lie inside the data home")
    if target.exists():
        try:
            existing = MasterKey.load(target)
        except KeyFileError:
            existing = None
        if existing is not None and existing.same_key(key):
            click.echo(f"{target} already holds master key {key.fingerprint()}")
            return
        if not force:
            held = existing.fingerprint() if existing else "an unreadable key"
            raise KeyFileError(f"'{target}' holds another master key ({held}); refusing to "
                               "overwrite it (use --force to replace it; it is kept aside)")
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
        aside = target.with_name(f"{target.name}.replaced-{stamp}")
        target.rename(aside)
        click.echo(f"kept the key file it replaces as {aside}")
    key.save_as(target)
    click.echo(f"imported master key {key.fingerprint()} into {target}")


@key_group.command("rotate")
@click.option("--batch", default=200, show_default=True, help="Rows re-wrapped per transaction.")
@guarded(Action.manage_keys, event="key_rotate")
def key_rotate(c: Context, who: Principal, batch: int) -> None:
    """Make a new master key and re-wrap every data key under it (the blobs stay as they are).

    Resumable: run it again after an interruption and it goes on where it stopped.
    """
    from ingest import keyrotation

    archive = c.archive
    begun = keyrotation.begin(archive, who.name)
    total = keyrotation.rows_to_rotate(archive, begun[0].new_key)
    with progress("re-wrapping", total, unit="row") as bar:
        result = keyrotation.rotate(archive, who.name, batch=max(1, batch), progress=bar.update,
                                    begun=begun)
    click.echo(("finished the interrupted rotation: " if result.resumed else "rotated: ")
               + f"master key {result.old_key} -> {result.new_key}, {result.rows} rows re-wrapped")
    if result.retired_file:
        click.echo(f"the old key is kept as {result.retired_file}: keep it while you keep "
                   "backups made before today, then remove it")
    for number in result.not_carried:
        click.echo(f"household {number}: its certificate number was recorded before it was "
                   "kept sealed and must be entered again", err=True)
    click.echo("a server started before the rotation signs everyone out when restarted; "
               "export the new key ('hudang key export') and make a new backup")


@key_group.command("status")
@guarded(Action.manage_keys, event="key_status")
def key_status(c: Context, who: Principal) -> None:
    """Show the master key's fingerprint, a rotation in progress and retired key files."""
    from ingest.archive import running_rotation
    from storage import KeyFiles

    archive = c.archive
    click.echo(f"master key {archive.master.fingerprint()} (from {archive.master.source})")
    rotation = running_rotation(archive.engine)
    if rotation is not None:
        click.echo(f"rotation {rotation.old_key} -> {rotation.new_key} in progress: "
                   f"{rotation.rows_done} rows done, at {rotation.stage}; run 'hudang key rotate'")
    if not c.settings.master_key:
        for path in KeyFiles(c.settings.master_key_file).retired():
            try:
                click.echo(f"retired key {MasterKey.load(path).fingerprint()}: {path}")
            except KeyFileError as exc:
                click.echo(f"retired key file {path} cannot be read: {exc}", err=True)
    archive.record(audit.Event(actor=who.name, action="key_status"))

