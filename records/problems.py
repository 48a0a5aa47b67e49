"""Problems with what a person typed or imported, said once, in two languages.

A :class:`Problem` names the field (or CSV column) and holds an English sentence
template marked with :func:`N_`; the command line prints it as it is, the web app
translates the template (``make translations`` extracts ``N_`` strings from
``records/`` into the interface's catalogues) and fills in the values. So each
sentence is written once, and a form can show it beside its field.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from records.exceptions import Conflict, Invalid


def N_(message: str) -> str:  # noqa: N802 (gettext's name for a marked, untranslated string)
    """Mark ``message`` for the interface's catalogues; it is translated where it is shown."""
    return message


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field: ``message % params`` is the English sentence."""

    field: str  # the form field or CSV column key (``head_id_number``)
    message: str  # an N_-marked template: "the ID number %(masked)s is not valid"
    params: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message % self.params if self.params else self.message


class Problems(Invalid):
    """One or more problems with what was given; ``str`` says the first (one sentence)."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__(str(self.problems[0]) if self.problems else "invalid input")

    def by_field(self) -> dict[str, Problem]:
        """The first problem of each field, for a form."""
        found: dict[str, Problem] = {}
        for p in self.problems:
            found.setdefault(p.field, p)
        return found


class Taken(Conflict, Problems):
    """The name is taken: a problem of one field, and a conflict (its exit code is 4)."""


def fail(field_name: str, message: str, **params) -> Problems:
    """A :class:`Problems` of one problem, to raise."""
    return Problems([Problem(field_name, message, params)])


def gather(*steps: Callable[[], object]) -> list:
    """Run every step (each reads one field); return their results, or raise the problems
    of all of them together, so that a form says everything wrong at once."""
    results, problems = [], []
    for step in steps:
        try:
            results.append(step())
        except Problems as exc:
            problems.extend(exc.problems)
            results.append(None)
    if problems:
        raise Problems(problems)
    return results


def taken(field_name: str, message: str, **params) -> Taken:
    return Taken([Problem(field_name, message, params)])


@dataclass(frozen=True)
class RowProblem:
    """A bad row of an imported file: its number (the header is row 1), the column as the
    file names it, and the problem."""

    row: int
    column: str
    problem: Problem

    def __str__(self) -> str:
        where = f"row {self.row}, column {self.column}" if self.column else f"row {self.row}"
        return f"{where}: {self.problem}"

    def as_json(self) -> dict:
        return {"row": self.row, "column": self.column, "problem": str(self.problem)}
