"""The reading screens: search, the household's dossier, and the page viewer."""
from __future__ import annotations

from flask import Blueprint, Response, abort, g, jsonify, render_template, request

from web.auth import archive, login_required
from web import reading

bp = Blueprint("views", __name__)


@bp.route("/")
@login_required
def search():
    query = request.args.get("q", "").strip()
    hits, total = ([], 0)
    if query:
        hits, total = reading.search(archive(), g.principal, query)
    return render_template("search.html", query=query, hits=hits, total=total)


@bp.route("/api/search")
@login_required
def api_search():
    query = request.args.get("q", "").strip()
    if not query:
        return jsonify(error="the query parameter 'q' is empty"), 400
    hits, total = reading.search(archive(), g.principal, query)
    return jsonify(total=total, hits=[h.as_json() for h in hits])


@bp.route("/household/<number>")
@login_required
def household(number: str):
    try:
        view = reading.open_household(archive(), g.principal, number)
    except reading.Refused:
        abort(404)
    return render_template("household.html", h=view)


@bp.route("/document/<int:document_id>/page/<int:number>")
@login_required
def viewer(document_id: int, number: int):
    try:
        doc = reading.describe_document(archive(), g.principal, document_id)
    except reading.Refused:
        abort(404)
    if not 1 <= number <= doc.page_count:
        abort(404)
    return render_template("viewer.html", doc=doc, number=number)


@bp.route("/document/<int:document_id>/page/<int:number>/image")
@login_required
def page_image(document_id: int, number: int):
    try:
        jpeg = reading.page_image(archive(), g.principal, document_id, number)
    except reading.Refused:
        abort(404)
    response = Response(jpeg, mimetype="image/jpeg")
    # a page image is read once, under audit: never kept by a browser or proxy
    response.headers["Cache-Control"] = "no-store"
    return response
