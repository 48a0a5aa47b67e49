"""The services' sentences, as stored and shown, in the reader's language.

A refused file of a job (``JobFile.sentence``), a job's error and a batch row's failure
(``BatchRow.message``) are kept as the one English sentence the service said (the command
line prints the same). Where the interface speaks Chinese they are shown through this table:
each known sentence's form, as a pattern with its values, and the template of its words
(``N_``-marked, so ``make translations`` gathers it). A sentence may hold another (a row's
failure holds the file's refusal): those parts are translated in turn. A sentence no pattern
knows is shown as it was said, never dropped.

Keep a pattern beside each new refusal a user meets often; tests/test_jobs_web.py checks the
batch and jobs screens show the ones of a failed box in Chinese.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.scanquality import RULES
from records.problems import N_
from web.i18n import current_language, gettext

@dataclass(frozen=True)
class Form:
    pattern: re.Pattern
    template: str  # N_-marked, with the pattern's group names as %(name)s
    nested: tuple[str, ...] = ()  # groups that are sentences themselves


def _form(pattern: str, template: str, *nested: str) -> Form:
    return Form(re.compile(pattern + r"\Z", re.S), template, nested)


FORMS: tuple[Form, ...] = (
    # a job's error: the first of its failures
    _form(r"(?P<failed>\d+) of (?P<rows>\d+) rows of batch (?P<batch>\d+) failed; the first: "
          r"(?P<first>.+)",
          N_("%(failed)s of %(rows)s rows of batch %(batch)s failed; the first: %(first)s"),
          "first"),
    _form(r"(?P<refused>\d+) of (?P<files>\d+) files were refused; the first: (?P<first>.+)",
          N_("%(refused)s of %(files)s files were refused; the first: %(first)s"), "first"),
    # a row of a box (ingest.box)
    _form(r"row (?P<row>\d+) (?P<item>.+?): failed: (?P<why>.+)",
          N_("row %(row)s %(item)s: failed: %(why)s"), "why"),
    _form(r"row (?P<row>\d+) the (?P<column>\w+) “(?P<value>.*)” is not a whole number from 1",
          N_("row %(row)s: the %(column)s “%(value)s” is not a whole number from 1")),
    _form(r"row (?P<row>\d+) the date “(?P<value>.*)” is not YYYY-MM-DD",
          N_("row %(row)s: the date “%(value)s” is not YYYY-MM-DD")),
    _form(r"row (?P<row>\d+) names no file", N_("row %(row)s names no file")),
    _form(r"row (?P<row>\d+) gives a household without a type or a type without a household .*",
          N_("row %(row)s gives a household without a type or a type without a household "
             "(give both, or neither for a long scan with separator sheets)")),
    # a file refused by ingest (ingest.pipeline, ingest.sources, ingest.box, ingest.separators)
    _form(r"cannot ingest '(?P<name>.+?)': (?P<why>.+)",
          N_("cannot ingest '%(name)s': %(why)s"), "why"),
    _form(r"no such file in the box", N_("no such file in the box")),
    _form(r"no such file", N_("no such file")),
    _form(r"the file is empty", N_("the file is empty")),
    _form(r"it is not a PDF, TIFF, JPEG or PNG file", N_("it is not a PDF, TIFF, JPEG or PNG file")),
    _form(r"it is (?P<what>.+), not a PDF, TIFF, JPEG or PNG file",
          N_("it is %(what)s, not a PDF, TIFF, JPEG or PNG file")),
    _form(r"the image file is damaged or uses a variant that cannot be read",
          N_("the image file is damaged or uses a variant that cannot be read")),
    _form(r"the image data is truncated", N_("the image data is truncated")),
    _form(r"the PDF has no pages", N_("the PDF has no pages")),
    _form(r"the PDF is password-protected; remove the password and try again",
          N_("the PDF is password-protected; remove the password and try again")),
    _form(r"it is not a readable PDF \(no document structure found; the file may be "
          r"truncated\)", N_("it is not a readable PDF (no document structure found; the file "
                             "may be truncated)")),
    _form(r"(?P<found>\d+) pages were scanned but the manifest says (?P<declared>\d+); the page "
          r"count must agree with the catalogue \(DA/T 31-2017 数据质检\)",
          RULES["page_count"].message),
    _form(r"document number (?P<seq>\d+) is already used in household (?P<number>\S+)",
          N_("document number %(seq)s is already used in household %(number)s")),
    _form(r"pages (?P<pages>[\d, ]+) come before the first separator sheet; scan a separator "
          r"before them",
          N_("pages %(pages)s come before the first separator sheet; scan a separator before "
             "them")),
    _form(r"separator (?P<n>\d+) is followed by no pages",
          N_("separator %(n)s is followed by no pages")),
    _form(r"no separator sheet was found in the scan; .*",
          N_("no separator sheet was found in the scan; print them with 'hudang separators' "
             "and scan one before each document")),
    _form(r"the file changed while it was being ingested; ingest it again once it is complete",
          N_("the file changed while it was being ingested; ingest it again once it is "
             "complete")),
    # a manifest that cannot be read (ingest.box; an upload's other problems are
    # records.problems, said beside their field by web.forms)
    _form(r"cannot read (?P<name>\S+): (?P<why>.+)", N_("cannot read %(name)s: %(why)s")),
    # the door, the vocabulary
    _form(r"household (?P<number>\S+) was not found", N_("household %(number)s was not found")),
    _form(r"unknown document type '(?P<type>.+?)'; use a code or one of: (?P<names>.+)",
          N_("unknown document type '%(type)s'; use a code or one of: %(names)s")),
    _form(r"the run stopped before this file was reached",
          N_("the run stopped before this file was reached")),
    # a finished job's summary (ingest.jobs.Worker), and a verification job's error
    _form(r"reindexed (?P<pages>\d+) pages", N_("reindexed %(pages)s pages")),
    _form(r"verification (?P<run>\d+): no findings", N_("verification %(run)s: no findings")),
    _form(r"verification (?P<run>\d+) found (?P<n>\d+) problems; see 'hudang verify' or the "
          r"verification screen",
          N_("verification %(run)s found %(n)s problems; see 'hudang verify' or the "
             "verification screen")),
    _form(r"re-OCR'd (?P<pages>\d+) pages of document (?P<document>\d+) with (?P<engine>\S+)",
          N_("re-OCR'd %(pages)s pages of document %(document)s with %(engine)s")),
    _form(r"batch (?P<batch>\d+): (?P<stored>\d+) stored, (?P<duplicate>\d+) already stored, "
          r"(?P<failed>\d+) failed; (?P<flagged>\d+) page findings",
          N_("batch %(batch)s: %(stored)s stored, %(duplicate)s already stored, %(failed)s "
             "failed; %(flagged)s page findings")),
    _form(r"list (?P<list>\d+) was executed before: (?P<counts>.+)",
          N_("list %(list)s was executed before: %(counts)s"), "counts"),
    _form(r"list (?P<list>\d+): (?P<counts>.+)", N_("list %(list)s: %(counts)s"), "counts"),
    _form(r"(?P<n>\d+) destroyed", N_("%(n)s destroyed")),
    _form(r"(?P<n>\d+) held", N_("%(n)s held")),
    _form(r"(?P<n>\d+) skipped", N_("%(n)s skipped")),
    _form(r"(?P<n>\d+) pending", N_("%(n)s pending")),
    _form(r"no dossiers", N_("no dossiers")),
    # counts joined by commas ("2 destroyed, 1 held"): each in turn
    _form(r"(?P<first>\d+ [a-z]+), (?P<rest>.+)", N_("%(first)s, %(rest)s"), "first", "rest"),
)


def in_language(sentence: str | None) -> str:
    """``sentence`` as the reader's language says it (English: as it was said)."""
    if not sentence or current_language() == "en":
        return sentence or ""
    return _translate(sentence)


def _translate(sentence: str, depth: int = 0) -> str:
    if depth > 4:
        return sentence
    for form in FORMS:
        match = form.pattern.match(sentence)
        if match is None:
            continue
        values = match.groupdict()
        for name in form.nested:
            values[name] = _translate(values[name], depth + 1)
        return gettext(form.template, **values)
    return sentence


def for_form(sentence: str) -> str:
    """A refusal shown beside a form's field: in the reader's language, begun as a sentence."""
    shown = in_language(sentence)
    return shown[:1].upper() + shown[1:]
