"""Sampling acceptance (验收) of a digitisation batch: ``hudang accept draw|judge|show|report|
rework``. The same service as the batch screen's acceptance section (``ingest.acceptance``):
drawing and judging pass the door for ``accept``, reading for ``batches``, the rework of a
failed document for ``ingest``; a step the batch's state or the separation of duties does
not allow is one sentence (exit code 4, as every conflict).
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from ingest import acceptance
from records.policy import Action, Principal
from web.cli.context import Context, write_out
from web.cli.door import guarded
from web.cli.root import main


@main.group("accept")
def accept() -> None:
    """Sampling acceptance (验收) of digitisation batches: draw, judge, rework, report."""


def _round_lines(view: acceptance.RoundView) -> None:
    rate = f"{view.pass_rate:.1f}%" if view.pass_rate is not None else "-"
    click.echo(f"round {view.round}: sample {len(view.items)} ({view.sample_rate:g}%), "
               f"threshold {view.threshold:g}%, {view.passes} pass, {view.fails} fail, "
               f"pass rate {rate}, {view.outcome or 'being judged'}")
    for item in view.items:
        click.echo(f"  document {item.document_id} {item.household or ''} {item.doc_type}: "
                   f"{item.verdict or 'not judged'}"
                   + (f" ({item.reason})" if item.reason else "")
                   + (f" by {item.judged_by}" if item.judged_by else "")
                   + (f", rework {item.rework}" if item.rework != "none" else ""))


@accept.command("draw")
@click.argument("batch_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.accept, per_object=True)
def accept_draw(c: Context, who: Principal, batch_id: int, as_json: bool) -> None:
    """Draw a random sample of BATCH's stored documents (HUDANG_ACCEPT_SAMPLE_PERCENT)."""
    view = acceptance.draw(c.archive, who, batch_id)
    if as_json:
        click.echo(json.dumps(view.as_json(), ensure_ascii=False, indent=1))
        return
    _round_lines(view)


@accept.command("judge")
@click.argument("batch_id", type=int)
@click.argument("document_id", type=int)
@click.argument("verdict", type=click.Choice(["pass", "fail"]))
@click.option("--reason", default="", help="Why it fails (required for fail).")
@guarded(Action.accept, per_object=True)
def accept_judge(c: Context, who: Principal, batch_id: int, document_id: int, verdict: str,
                 reason: str) -> None:
    """Judge one sampled DOCUMENT of BATCH pass or fail; the last verdict decides."""
    view = acceptance.judge(c.archive, who, batch_id, document_id, verdict, reason)
    _round_lines(view)


@accept.command("show")
@click.argument("batch_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.batches, per_object=True)
def accept_show(c: Context, who: Principal, batch_id: int, as_json: bool) -> None:
    """BATCH's acceptance: its state and every round with its verdicts."""
    view = acceptance.show(c.archive, who, batch_id)
    if as_json:
        click.echo(json.dumps(view.as_json(), ensure_ascii=False, indent=1))
        return
    click.echo(f"batch {view.batch_id}: {view.state}, {view.stored} stored documents, "
               f"operator {view.operator}" + (", a sample can be drawn" if view.can_draw
                                               else ""))
    for round_view in view.rounds:
        _round_lines(round_view)


@accept.command("report")
@click.argument("batch_id", type=int)
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True)
@guarded(Action.batches, per_object=True)
def accept_report(c: Context, who: Principal, batch_id: int, out: Path) -> None:
    """The acceptance report (验收报告) of BATCH's latest decided round, as PDF."""
    write_out(out, acceptance.report(c.archive, who, batch_id))
    click.echo(f"wrote the acceptance report of batch {batch_id} to {out}")


@accept.command("rework")
@click.argument("batch_id", type=int)
@click.argument("document_id", type=int)
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--reason", default="", help="What the rescan mends (default: the failure).")
@guarded(Action.ingest, per_object=True)
def accept_rework(c: Context, who: Principal, batch_id: int, document_id: int, path: Path,
                  reason: str) -> None:
    """Replace a failed sampled DOCUMENT of BATCH with its rescan at PATH."""
    item = acceptance.rework(c.archive, who, batch_id, document_id, path, reason=reason)
    click.echo(f"document {document_id} replaced by the rescan (correction "
               f"{item.correction_id}); rework done")
