"""Forms: problems said in the reader's language, beside their field and in a summary at
the top (``templates/_forms.html``), and the small readings of posted values.

The sentences come from the services (``records.problems``): written once in English,
translated here through the catalogues.
"""
from __future__ import annotations

from collections.abc import Callable

from flask import request

from records.csvfiles import ImportReport
from records.problems import Problem, Problems, RowProblem
from web.i18n import _, gettext


def say(problem: Problem) -> str:
    """The problem's sentence in the reader's language (on a screen, a capital first: the
    command line writes them after ``hudang:``)."""
    sentence = _translated(problem)
    return sentence[:1].upper() + sentence[1:]


def _translated(problem: Problem) -> str:
    return gettext(problem.message, **problem.params)


def field_errors(exc: Problems) -> dict[str, str]:
    """``{field: sentence}``, the first problem of each field, in the order they came."""
    return {name: say(p) for name, p in exc.by_field().items()}


def row_sentence(p: RowProblem) -> str:
    if p.column:
        return _("Row %(row)s, column “%(column)s”: %(problem)s", row=p.row, column=p.column,
                 problem=_translated(p.problem))
    return _("Row %(row)s: %(problem)s", row=p.row, problem=_translated(p.problem))


def uploaded_import(run: Callable[[bytes, str], ImportReport]) -> tuple[ImportReport | None,
                                                                      dict[str, str]]:
    """Run an import on the uploaded ``file``: (its report, no errors), or (None, the
    problem of the file beside the file field)."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return None, {"file": _("Choose the CSV file to import.")}
    try:
        return run(upload.read(), upload.filename), {}
    except Problems as exc:
        return None, {"file": say(exc.problems[0])}


def report_lines(report: ImportReport | None) -> list[str]:
    """One sentence per refused row, in the reader's language."""
    return [row_sentence(p) for p in report.problems] if report else []


def text(name: str, limit: int = 500) -> str:
    return request.form.get(name, "").strip()[:limit]


def page_offset(page_size: int) -> tuple[int, int]:
    """(page number from 1, offset) of ``?page=``."""
    page = max(1, request.args.get("page", 1, type=int) or 1)
    return page, min((page - 1) * page_size, 1_000_000)
