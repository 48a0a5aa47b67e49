"""The archivist's desk in the browser: correct a document, move it, record a review, print
a dossier's cover and table of contents (卷内目录), and keep the document-type vocabulary.

Each view declares its action at the door (``web.door``); the services in
``ingest.cataloguing`` and ``ingest.reports`` admit each object and record each change.
Errors are shown at the top of the form and beside the field they concern.
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, g, redirect, render_template, request, url_for

from ingest import cataloguing, reports
from records import doctypes
from records.exceptions import Invalid, NotFound, RecordsError
from records.model import ReviewOutcome
from records.policy import Action
from web.downloads import attachment
from web.door import archive, guarded
from web.i18n import _
from web import reading
from web.reading import PurposeRequired
from web.views import stated_purposes

bp = Blueprint("desk", __name__)


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def _types(daily: bool | None = None):
    with archive().Session() as s:
        return [(t.code, t.name_zh, t.name_en, t.required)
                for t in doctypes.all_types(s, daily)]


def _back(doc: cataloguing.DocumentForm, **args) -> str:
    """The page a document is listed on: its dossier, or its volume."""
    if doc.household is None:
        return url_for("daily.volume", volume_id=doc.volume_id, **args)
    return url_for("views.household", number=doc.household, **args)


# -- a document's metadata ----------------------------------------------------------------------
@bp.route("/document/<int:document_id>/edit", methods=["GET", "POST"])
@guarded(Action.catalogue, per_object=True)
def edit(document_id: int):
    doc = cataloguing.document_form(archive(), g.principal, document_id)
    values = {"type": doc.type_code, "date": doc.date, "title": doc.title,
              "responsible": doc.responsible, "reason": ""}
    errors: dict[str, str] = {}
    problem = None
    if request.method == "POST":
        values = {k: request.form.get(k, "").strip() for k in values}
        day = _date(values["date"]) if values["date"] else None
        if values["date"] and day is None:
            errors["date"] = _("Write the date as YYYY-MM-DD, or leave it empty.")
        if not values["title"]:
            errors["title"] = _("The title cannot be empty.")
        if not values["reason"]:
            errors["reason"] = _("Say why the document is corrected.")
        if not errors:
            changes = cataloguing.Changes(
                type=values["type"] if values["type"] != doc.type_code else None,
                date=day, clear_date=not values["date"] and bool(doc.date),
                title=values["title"] if values["title"] != doc.title else None,
                responsible=values["responsible"]
                if values["responsible"] != doc.responsible else None)
            if changes.empty():
                problem = _("Nothing was changed.")
            else:
                try:
                    cataloguing.edit_document(archive(), g.principal, document_id, changes,
                                              values["reason"])
                except RecordsError as exc:
                    problem = str(exc)
                else:
                    return redirect(_back(doc, corrected=document_id))
    body = render_template("document_edit.html", doc=doc, values=values, errors=errors,
                           problem=problem, types=_types(daily=doc.volume_id is not None),
                           back=_back(doc))
    return body, 400 if errors or problem else 200


@bp.route("/document/<int:document_id>/move", methods=["GET", "POST"])
@guarded(Action.catalogue, per_object=True)
def move(document_id: int):
    doc = cataloguing.document_form(archive(), g.principal, document_id, event="document_move")
    if doc.volume_id is not None:
        raise Invalid(f"document {document_id} is a daily-management record: its volume keeps "
                      "the order in which records were filed")
    error = None
    if request.method == "POST":
        position = request.form.get("to_seq", type=int)
        if position is None or not 1 <= position <= doc.count:
            error = _("Choose a place from 1 to %(count)s.", count=doc.count)
        else:
            cataloguing.move_document(archive(), g.principal, document_id, position,
                                      request.form.get("reason", ""))
            return redirect(url_for("views.household", number=doc.household,
                                    moved=document_id))
    body = render_template("document_move.html", doc=doc, error=error)
    return body, 400 if error else 200


# -- reviews ---------------------------------------------------------------------------------
@bp.route("/household/<number>/review", methods=["GET", "POST"])
@guarded(Action.record_review, per_object=True)
def review(number: str):
    household, head_name, _region = cataloguing.review_target(archive(), g.principal, number)
    values = {"date": reports.today(archive()).isoformat(), "outcome": "continued", "note": ""}
    errors: dict[str, str] = {}
    problem = None
    if request.method == "POST":
        values = {k: request.form.get(k, "").strip() for k in values}
        day = _date(values["date"])
        if day is None:
            errors["date"] = _("Write the date as YYYY-MM-DD.")
        if values["outcome"] not in {o.value for o in ReviewOutcome}:
            errors["outcome"] = _("Choose an outcome.")
        if not errors:
            try:
                cataloguing.record_review(archive(), g.principal, household, day,
                                          values["outcome"], values["note"])
            except RecordsError as exc:
                problem = str(exc)
            else:
                return redirect(url_for("views.household", number=household, reviewed=1))
    body = render_template("review_form.html", number=household, head_name=head_name,
                           values=values, errors=errors, problem=problem,
                           outcomes=[o.value for o in ReviewOutcome])
    return body, 400 if errors or problem else 200


# -- cover and table of contents --------------------------------------------------------------------
@bp.route("/household/<number>/contents.pdf")
@guarded(Action.read_household, per_object=True)
def contents(number: str):
    """The dossier's cover and 卷内目录 as a PDF, under the purpose stated for it."""
    reading.check_household(archive(), g.principal, number)
    purpose = stated_purposes().get(number)
    if purpose is None:
        raise PurposeRequired(number)
    report = reports.contents(archive(), g.principal, number, "pdf", purpose=purpose)
    return attachment(report.pdf(), "application/pdf", report.filename("pdf"))


# -- the vocabulary --------------------------------------------------------------------------------
@bp.route("/doctypes/", methods=["GET", "POST"])
@guarded(Action.manage, event="doctypes")
def doctypes_index():
    values = {"code": "", "name_zh": "", "name_en": "", "required": ""}
    errors: dict[str, str] = {}
    problem = None
    if request.method == "POST":
        values = {k: request.form.get(k, "").strip() for k in values}
        if not values["code"]:
            errors["code"] = _("Give a code: lower-case letters, digits or _.")
        if not values["name_zh"]:
            errors["name_zh"] = _("Give the Chinese name.")
        if not errors:
            try:
                cataloguing.add_doctype(archive(), g.principal, values["code"],
                                        values["name_zh"], values["name_en"],
                                        bool(values["required"]))
            except RecordsError as exc:
                problem = str(exc)
            else:
                return redirect(url_for("desk.doctypes_index", added=values["code"]))
    body = render_template("doctypes.html", types=_types(), values=values, errors=errors,
                           problem=problem, added=request.args.get("added", ""))
    return body, 400 if errors or problem else 200


@bp.route("/doctypes/<code>", methods=["GET", "POST"])
@guarded(Action.manage, event="doctypes")
def doctype(code: str):
    if request.method == "POST":
        cataloguing.set_doctype_required(archive(), g.principal, code,
                                         request.form.get("required") == "yes")
        return redirect(url_for("desk.doctypes_index"))
    found = [t for t in _types() if t[0] == code]
    if not found:
        raise NotFound(f"document type {code} does not exist")
    return render_template("doctype.html", t=found[0])
