"""After a crash: ``hudang recover`` finishes or rolls back the writes of processes that
died (``ingest.recovery``). Opening the archive already does it; the command says what
was done, tries again what could not be, and exits non-zero if something is left."""
from __future__ import annotations

import json
import sys

import click

from records.policy import Action, Principal
from web.cli.context import Context
from web.cli.door import guarded
from web.cli.root import main
from web.errors import ExitCode


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.manage, event="recover")
def recover(c: Context, who: Principal, as_json: bool) -> None:
    """Finish or roll back ingests and re-OCRs interrupted by a crash (also done whenever
    hudang opens the archive)."""
    c.archive.recover(who.name)
    report = c.archive.recovered  # what opening the archive did, and this run
    if as_json:
        click.echo(json.dumps({
            "units": [{"unit": u.label, "pid": u.pid, "outcome": u.outcome,
                       "documents": list(u.documents), "blobs_removed": u.blobs_removed}
                      for u in report.units],
            "work_dirs_removed": report.work_dirs, "live": report.live,
            "problems": report.problems}, ensure_ascii=False))
    else:
        for unit in report.units:
            click.echo(unit.sentence())
        if report.work_dirs:
            n = report.work_dirs
            click.echo(f"removed {n} work {'directory' if n == 1 else 'directories'} of "
                       "stopped processes")
        if report.live:
            click.echo(f"left alone {report.live} writes of processes still running")
        if not report:
            click.echo("nothing to recover")
    for problem in report.problems:
        click.echo(f"hudang: {problem}", err=True)
    if report.problems:
        sys.exit(int(ExitCode.failed))
