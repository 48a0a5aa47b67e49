"""Background jobs: ``hudang worker`` runs them; ``hudang jobs`` lists them with their
progress and outcomes; ``hudang jobs retry ID`` queues a failed one again. Jobs are
submitted with ``--background`` on ``ingest``, ``reindex``, ``verify`` and ``reocr``, and by
the browser's upload (``ingest.jobs``)."""
from __future__ import annotations

import json
from datetime import datetime

import click

from ingest import jobs as background
from records.kinds import JobState
from records.policy import Action, Principal
from web.cli.context import Context
from web.cli.door import guarded, unguarded
from web.cli.root import main


@main.command()
@click.option("--ocr-engine", metavar="NAME",
              help="OCR engine for ingest jobs (default HUDANG_OCR_ENGINE, else rapidocr).")
@unguarded
def worker(c: Context, ocr_engine: str | None) -> None:
    """Run background jobs until stopped (Ctrl-C or SIGTERM); start one per core, on as many
    machines as share the catalogue, the blobs and the queue (docs/operations.md). Each job
    passes the door as the person who submitted it."""
    background.Worker(c.archive, engine=ocr_engine).serve()


@main.group(invoke_without_command=True)
@click.pass_context
def jobs(ctx: click.Context) -> None:
    """Background jobs: 'hudang jobs' lists them (as 'hudang jobs list')."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(jobs_list)


@jobs.command("list")
@click.option("--state", "states", type=click.Choice([s.value for s in JobState]),
              multiple=True, help="Only jobs in this state (repeatable).")
@click.option("--limit", default=50, show_default=True, help="The newest N jobs.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
@guarded(Action.jobs)
def jobs_list(c: Context, who: Principal, states: tuple[str, ...] = (), limit: int = 50,
              as_json: bool = False) -> None:
    """Queued, running, failed and done jobs you may see (yours; an administrator's: all),
    newest first, with progress and each file's outcome."""
    found = background.listing(c.archive, who, states=[JobState(s) for s in states],
                               limit=max(1, limit))
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=1))
        return
    if not found:
        click.echo("no jobs")
        return
    zone = c.settings.timezone
    for job in found:
        what = job["household"] or (f"document {job['document_id']}" if job["document_id"]
                                    else f"list {job['list']}" if job["list"] else "")
        progress = job["progress"]
        click.echo(f"job {job['id']}  {job['kind']} {what}".rstrip()
                   + f"  {job['state']}  {progress['done']}/{progress['total']}  "
                   f"by {job['submitted_by']}  {_when(job['created_at'], zone)}"
                   + (f"  attempts {job['attempts']}" if job["attempts"] > 1 else ""))
        if job["error"]:
            click.echo(f"    why: {job['error']}")
        elif job["summary"]:
            click.echo(f"    {job['summary']}")
        for f in job["files"]:
            pages = f["pages"]
            outcome = f["outcome"] or (f"{pages['done']}/{pages['total']} pages"
                                       if pages["total"] else "waiting")
            doc = f" (document {f['document_id']})" if f["document_id"] else ""
            click.echo(f"    {f['name']}: {outcome}{doc}"
                       + (f": {f['sentence']}" if f["sentence"] else ""))


@jobs.command("retry")
@click.argument("job_id", type=int)
@guarded(Action.jobs, per_object=True)
def jobs_retry(c: Context, who: Principal, job_id: int) -> None:
    """Queue a failed job again (the files it has stored are not ingested twice)."""
    if background.retry(c.archive, who, job_id):
        click.echo(f"job {job_id} is queued again")
    else:
        click.echo(f"job {job_id} is queued or running already")


def _when(iso: str, zone) -> str:
    return datetime.fromisoformat(iso).astimezone(zone).strftime("%Y-%m-%d %H:%M")
