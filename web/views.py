"""The reading screens: search, the purpose form, the household's dossier, the page viewer
and the download of a watermarked archival PDF.

Every view declares its action at the door (``web.door``) and asks ``web.reading``, which
admits each object through the one door and records the read. A refusal is answered by
the app's one error handler with the same 404 as a missing object.
"""
from __future__ import annotations

import time

from flask import (Blueprint, Response, abort, g, jsonify, redirect, render_template,
                   request, session, url_for)

from records.exceptions import Invalid
from records.idnumbers import mask_in_text
from records.policy import Action
from records.purposes import OTHER, stated_purpose
from search import QueryTooLong, SearchTimedOut
from search.index import MAX_QUERY_CHARS
from ingest import batches
from web import reading
from web.door import archive, guarded
from web.errors import binding_for
from web.i18n import _

bp = Blueprint("views", __name__)

PAGE_SIZE = 20
QUERY_LIMIT = MAX_QUERY_CHARS  # characters; the search facade says so in a sentence beyond it
MAX_OFFSET = 10_000  # deeper than any reader pages; keeps a crafted offset cheap


# -- purpose of use, kept in the session per household (利用登记) ----------------------
def stated_purposes() -> dict[str, str]:
    """The purposes this session has stated and that are still valid, by household number."""
    minutes = archive().settings.purpose_minutes
    now = time.time()
    return {number: purpose for number, (purpose, at) in session.get("purposes", {}).items()
            if not minutes or now - at <= minutes * 60}


def _remember_purpose(number: str, purpose: str) -> None:
    purposes = dict(session.get("purposes", {}))
    purposes[number] = [purpose, int(time.time())]
    session["purposes"] = purposes


def _no_store(response: Response) -> Response:
    # page content is read once, under audit: never kept by a browser or proxy
    response.headers["Cache-Control"] = "no-store"
    return response


# -- search ------------------------------------------------------------------------------
def _search_problem(exc: QueryTooLong | SearchTimedOut) -> str:
    """A search that could not run, said in the reader's language."""
    if isinstance(exc, QueryTooLong):
        return _("The query is %(length)d characters long; searches are limited to "
                 "%(limit)d characters.", length=exc.length, limit=exc.limit)
    seconds = format(exc.seconds, "g")
    return _("The search took longer than %(seconds)s seconds and was stopped; narrow it "
             "with more specific words.", seconds=seconds)


def _status(exc: Exception) -> int:
    binding = binding_for(exc)
    return binding.http_status if binding else 400


def _offset() -> int:
    value = request.args.get("offset", 0, type=int) or 0
    return min(max(0, value), MAX_OFFSET)


@bp.route("/")
@guarded(Action.search)
def search():
    query = request.args.get("q", "").strip()
    found, problem = None, None
    if query:
        try:
            found = reading.search(archive(), g.principal, query, limit=PAGE_SIZE,
                                   offset=_offset())
        except (QueryTooLong, SearchTimedOut) as exc:  # others: the app's error pages
            problem = exc
    body = render_template("search.html", query=query, found=found, problem=problem,
                           problem_message=problem and _search_problem(problem),
                           page_size=PAGE_SIZE, query_limit=QUERY_LIMIT)
    return body, _status(problem) if problem is not None else 200


@bp.route("/api/search")
@guarded(Action.search)
def api_search():
    query = request.args.get("q", "").strip()
    if not query:
        return jsonify(error=_("The query parameter 'q' is empty.")), 400
    limit = min(max(1, request.args.get("limit", PAGE_SIZE, type=int) or PAGE_SIZE), 100)
    try:
        found = reading.search(archive(), g.principal, query, limit=limit, offset=_offset())
    except (QueryTooLong, SearchTimedOut) as exc:
        return jsonify(error=_search_problem(exc)), _status(exc)
    return jsonify(total=int(found.total), estimated=getattr(found.total, "estimated", False),
                   offset=found.offset, limit=found.limit, has_next=found.has_next,
                   hits=[h.as_json() for h in found.hits])


# -- the dossier ---------------------------------------------------------------------------
@bp.route("/household/<number>/purpose", methods=["GET", "POST"])
@guarded(Action.read_household, per_object=True)
def purpose(number: str):
    ref = reading.check_household(archive(), g.principal, number)
    return ask_purpose(ref.number, ref.number,
                       lambda stated: reading.record_purpose(archive(), g.principal, ref, stated),
                       url_for("views.purpose", number=ref.number),
                       url_for("views.household", number=ref.number))


def ask_purpose(key: str, subject: str, record, action: str, done: str):
    """The purpose form (利用登记) of a dossier or a volume (``key``, as stated purposes are
    kept): a posted purpose is recorded and remembered, and the reader goes on to ``done``."""
    purposes = archive().settings.purposes
    error = None
    chosen, other = "", ""
    if request.method == "POST":
        chosen = request.form.get("purpose", "")
        other = request.form.get("purpose_other", "")
        try:
            stated = stated_purpose(chosen, other, purposes)
        except Invalid:
            error = _("Choose a purpose from the list; with “其他” (other), describe it.")
        else:
            _remember_purpose(key, stated)
            record(stated)
            return redirect(done)
    # what was typed comes back masked: an ID number is never shown in full, even to its typist
    body = render_template("purpose.html", subject=subject, action=action, purposes=purposes,
                           other_label=OTHER, chosen=chosen, other=mask_in_text(other),
                           error=error)
    return body, 400 if error else 200


@bp.route("/household/<number>")
@guarded(Action.read_household, per_object=True)
def household(number: str):
    view = reading.open_household(archive(), g.principal, number, purposes=stated_purposes())
    flags = batches.document_findings(archive(), [d.id for d in view.documents])
    return _no_store(Response(render_template("household.html", h=view, scan_flags=flags)))


# -- the viewer ----------------------------------------------------------------------------
@bp.route("/document/<int:document_id>/page/<int:number>")
@guarded(Action.read_page, per_object=True)
def viewer(document_id: int, number: int):
    doc = reading.describe_document(archive(), g.principal, document_id,
                                    purposes=stated_purposes())
    if not 1 <= number <= doc.page_count:
        abort(404)
    findings = batches.page_findings(archive(), document_id).get(number, [])
    return _no_store(Response(render_template("viewer.html", doc=doc, number=number,
                                              scan_findings=findings)))


@bp.route("/document/<int:document_id>/page/<int:number>/image")
@guarded(Action.read_page, per_object=True)
def page_image(document_id: int, number: int):
    jpeg = reading.page_image(archive(), g.principal, document_id, number,
                              purposes=stated_purposes())
    return _no_store(Response(jpeg, mimetype="image/jpeg"))


@bp.route("/document/<int:document_id>/page/<int:number>/text")
@guarded(Action.read_text, per_object=True)
def page_text(document_id: int, number: int):
    doc = reading.describe_document(archive(), g.principal, document_id,
                                    purposes=stated_purposes(), action=Action.read_text)
    text = reading.page_text(archive(), g.principal, document_id, number,
                             purposes=stated_purposes())
    findings = batches.page_findings(archive(), document_id).get(number, [])
    return _no_store(Response(render_template("page_text.html", doc=doc, number=number,
                                              text=text, scan_findings=findings)))


@bp.route("/document/<int:document_id>/download")
@guarded(Action.download, per_object=True)
def download(document_id: int):
    got = reading.download(archive(), g.principal, document_id, purposes=stated_purposes())
    response = Response(got.pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{got.filename}"'
    return _no_store(response)
