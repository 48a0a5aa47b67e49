"""Corrections without re-ingesting: a page's OCR text line by line, a page turned, a page or
the whole document replaced by a rescan (``ingest.corrections``).

``hudang pages lines|correct|rotate|replace`` and ``hudang replace-document``; each takes
``--json`` and prints one object.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from ingest import corrections
from records.policy import Action, Principal
from web.cli.context import Context
from web.cli.documents import pages
from web.cli.door import guarded
from web.cli.root import main


def _done(result: corrections.CorrectionResult, as_json: bool, sentence: str) -> None:
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        click.echo(sentence)


@pages.command("lines")
@click.argument("document_id", type=int)
@click.argument("page", type=int)
@click.option("--purpose", help="Purpose of this reading (利用登记).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.ingest, per_object=True)
def pages_lines(c: Context, who: Principal, document_id: int, page: int,
                purpose: str | None, as_json: bool) -> None:
    """Print a page's text line by line, numbered, to correct with 'hudang pages correct'
    (a recorded read; ID numbers masked unless you may see them in full)."""
    found = corrections.page_lines(c.archive, who, document_id, page, purpose=purpose)
    if as_json:
        click.echo(json.dumps(found.as_json(), ensure_ascii=False))
        return
    for line in found.lines:
        marks = ("" if line.boxed else " (no box)") + ("" if line.editable else " (locked)")
        click.echo(f"{line.number:>3}{marks}: {line.text}")


@pages.command("correct")
@click.argument("document_id", type=int)
@click.argument("page", type=int)
@click.option("--line", "lines", multiple=True, required=True, metavar="N=TEXT",
              help="Line N (as 'hudang pages lines' numbers it) says TEXT (repeatable).")
@click.option("--reason", help="Why (kept with the correction).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.ingest, per_object=True)
def pages_correct(c: Context, who: Principal, document_id: int, page: int,
                  lines: tuple[str, ...], reason: str | None, as_json: bool) -> None:
    """Correct lines of a page's OCR text; the index, the page text and the PDF's text
    layer follow."""
    changes: dict[int, str] = {}
    for item in lines:
        number, sep, text = item.partition("=")
        if not sep or not number.strip().isdigit():
            raise click.BadParameter(f"'{item[:40]}' is not N=TEXT", param_hint="--line")
        changes[int(number)] = text
    result = corrections.correct_text(c.archive, who, document_id, page, changes,
                                      reason=reason)
    if result.correction_id is None:
        _done(result, as_json, f"document {document_id} page {page}: nothing changed")
        return
    layer = "text layer regenerated" if result.layer else "text layer kept (no boxes known)"
    _done(result, as_json, f"document {document_id} page {page}: corrected line(s) "
                           f"{', '.join(map(str, result.lines))}; {layer} "
                           f"(correction {result.correction_id})")


@pages.command("rotate")
@click.argument("document_id", type=int)
@click.argument("page", type=int)
@click.option("--degrees", type=click.Choice(["90", "180", "270"]), required=True,
              help="Clockwise turn to apply to the page as it is shown now.")
@click.option("--reason", help="Why (kept with the correction).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.ingest, per_object=True)
def pages_rotate(c: Context, who: Principal, document_id: int, page: int, degrees: str,
                 reason: str | None, as_json: bool) -> None:
    """Turn a page whose orientation was detected wrong, and read it again."""
    result = corrections.rotate_page(c.archive, who, document_id, page, int(degrees),
                                     reason=reason)
    _done(result, as_json, f"document {document_id} page {page}: turned {degrees}° and read "
                           f"again (correction {result.correction_id})")


@pages.command("replace")
@click.argument("document_id", type=int)
@click.argument("page", type=int)
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--reason", help="Why (kept with the correction).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.ingest, per_object=True)
def pages_replace(c: Context, who: Principal, document_id: int, page: int, file: Path,
                  reason: str | None, as_json: bool) -> None:
    """Replace one page with a rescan of it (a one-page image or PDF)."""
    result = corrections.replace_page(c.archive, who, document_id, page, file, reason=reason)
    _done(result, as_json, f"document {document_id} page {page}: replaced by '{file.name}' "
                           f"(correction {result.correction_id})")


@main.command("replace-document")
@click.argument("document_id", type=int)
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--reason", help="Why (kept with the correction), e.g. the failed check.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded(Action.ingest, per_object=True)
def replace_document(c: Context, who: Principal, document_id: int, file: Path,
                     reason: str | None, as_json: bool) -> None:
    """Replace a whole document with a rescan; it keeps its household, type and number."""
    result = corrections.replace_document(c.archive, who, document_id, file, reason=reason)
    _done(result, as_json, f"document {document_id}: replaced by '{file.name}' "
                           f"({result.after.get('page_count')} pages, correction "
                           f"{result.correction_id})")
