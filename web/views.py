"""The reading screens: search, the purpose form, the household's dossier, the page viewer
and the download of a watermarked archival PDF.

Every view asks ``web.reading``, which asks the one policy and records the read. A refused
read answers 404 exactly like a missing object.
"""
from __future__ import annotations

import time

from flask import (Blueprint, Response, abort, current_app, g, jsonify, redirect,
                   render_template, request, session, url_for)

from records.exceptions import Invalid
from records.purposes import OTHER, stated_purpose
from web import reading
from web.auth import archive, login_required

bp = Blueprint("views", __name__)


# -- purpose of use, kept in the session per household (利用登记) ----------------------
def stated_purposes() -> dict[str, str]:
    """The purposes this session has stated and that are still valid, by household number."""
    minutes = current_app.config["HUDANG_PURPOSE_MINUTES"]
    now = time.time()
    return {number: purpose for number, (purpose, at) in session.get("purposes", {}).items()
            if not minutes or now - at <= minutes * 60}


def _remember_purpose(number: str, purpose: str) -> None:
    purposes = dict(session.get("purposes", {}))
    purposes[number] = [purpose, int(time.time())]
    session["purposes"] = purposes


def _ask_purpose(number: str):
    return redirect(url_for("views.purpose", number=number))


def _no_store(response: Response) -> Response:
    # page content is read once, under audit: never kept by a browser or proxy
    response.headers["Cache-Control"] = "no-store"
    return response


# -- search ------------------------------------------------------------------------------
@bp.route("/")
@login_required
def search():
    query = request.args.get("q", "").strip()
    hits, total = ([], 0)
    if query:
        try:
            hits, total = reading.search(archive(), g.principal, query)
        except reading.Refused:
            abort(404)
    return render_template("search.html", query=query, hits=hits, total=total)


@bp.route("/api/search")
@login_required
def api_search():
    query = request.args.get("q", "").strip()
    if not query:
        return jsonify(error="the query parameter 'q' is empty"), 400
    try:
        hits, total = reading.search(archive(), g.principal, query)
    except reading.Refused:
        abort(404)
    return jsonify(total=total, hits=[h.as_json() for h in hits])


# -- the dossier ---------------------------------------------------------------------------
@bp.route("/household/<number>/purpose", methods=["GET", "POST"])
@login_required
def purpose(number: str):
    try:
        ref = reading.check_household(archive(), g.principal, number)
    except reading.Refused:
        abort(404)
    purposes = current_app.config["HUDANG_PURPOSE_LIST"]
    error = None
    chosen, other = "", ""
    if request.method == "POST":
        chosen = request.form.get("purpose", "")
        other = request.form.get("purpose_other", "")
        try:
            stated = stated_purpose(chosen, other, purposes)
        except Invalid:
            error = "purpose_invalid"
        else:
            _remember_purpose(ref.number, stated)
            reading.record_purpose(archive(), g.principal, ref, stated)
            return redirect(url_for("views.household", number=ref.number))
    body = render_template("purpose.html", ref=ref, purposes=purposes, other_label=OTHER,
                           chosen=chosen, other=other, error=error)
    return body, 400 if error else 200


@bp.route("/household/<number>")
@login_required
def household(number: str):
    try:
        view = reading.open_household(archive(), g.principal, number, purposes=stated_purposes())
    except reading.Refused:
        abort(404)
    except reading.PurposeRequired as need:
        return _ask_purpose(need.household)
    return _no_store(Response(render_template("household.html", h=view)))


# -- the viewer ----------------------------------------------------------------------------
@bp.route("/document/<int:document_id>/page/<int:number>")
@login_required
def viewer(document_id: int, number: int):
    try:
        doc = reading.describe_document(archive(), g.principal, document_id,
                                        purposes=stated_purposes())
    except reading.Refused:
        abort(404)
    except reading.PurposeRequired as need:
        return _ask_purpose(need.household)
    if not 1 <= number <= doc.page_count:
        abort(404)
    return _no_store(Response(render_template("viewer.html", doc=doc, number=number)))


@bp.route("/document/<int:document_id>/page/<int:number>/image")
@login_required
def page_image(document_id: int, number: int):
    try:
        jpeg = reading.page_image(archive(), g.principal, document_id, number,
                                  purposes=stated_purposes())
    except reading.Refused:
        abort(404)
    return _no_store(Response(jpeg, mimetype="image/jpeg"))


@bp.route("/document/<int:document_id>/page/<int:number>/text")
@login_required
def page_text(document_id: int, number: int):
    try:
        doc = reading.describe_document(archive(), g.principal, document_id,
                                        purposes=stated_purposes())
        text = reading.page_text(archive(), g.principal, document_id, number,
                                 purposes=stated_purposes())
    except reading.Refused:
        abort(404)
    except reading.PurposeRequired as need:
        return _ask_purpose(need.household)
    return _no_store(Response(render_template("page_text.html", doc=doc, number=number,
                                              text=text)))


@bp.route("/document/<int:document_id>/download")
@login_required
def download(document_id: int):
    try:
        got = reading.download(archive(), g.principal, document_id, purposes=stated_purposes())
    except reading.Refused:
        abort(404)
    response = Response(got.pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{got.filename}"'
    return _no_store(response)
