"""The reading screens: search, the purpose form, the household's dossier, the page viewer
and the download of a watermarked archival PDF.

Every view declares its action at the door (``web.door``) and asks ``web.reading``, which
admits each object through the one door and records the read. A refusal is answered by
the app's one error handler with the same 404 as a missing object.
"""
from __future__ import annotations

import time

from flask import (Blueprint, Response, g, jsonify, redirect, render_template,
                   request, session, url_for)

from records.exceptions import Invalid
from records.problems import Problems
from records.idnumbers import mask_in_text
from records.policy import Action
from records.purposes import OTHER, stated_purpose
from search import QueryTooLong, SearchTimedOut
from search.index import MAX_QUERY_CHARS
from ingest import batches
from web import reading
from web.downloads import attachment
from web.door import archive, guarded
from web.errors import binding_for
from web.forms import say
from web.i18n import _
from web.narrowing import Narrowing, choices, read_narrowing

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


def _narrowing() -> Narrowing:
    """The filters and order asked for in the query string (``Problems`` if one is bad)."""
    return read_narrowing(request.args.get, request.args.getlist("type"))


def _no_match_message(found: reading.SearchPage) -> str:
    if found.narrowing.filtering:
        return _("No documents match these words and filters.")
    return _("No documents found.")


@bp.route("/")
@guarded(Action.search)
def search():
    query = request.args.get("q", "").strip()
    found, problem_message, status = None, None, 200
    narrowing = Narrowing()
    try:
        narrowing = _narrowing()
        if query or narrowing.filtering:
            found = reading.search(archive(), g.principal, query, limit=PAGE_SIZE,
                                   offset=_offset(), narrowing=narrowing, facets=True)
    except (QueryTooLong, SearchTimedOut) as exc:  # others: the app's error pages
        problem_message, status = _search_problem(exc), _status(exc)
    except Problems as exc:  # a query of punctuation only, a bad date, region or type
        problem_message, status = say(exc.problems[0]), 400
    with archive().Session() as s:
        offered = choices(s, g.principal)

    def search_url(**changes) -> str:
        """This search's address with ``changes`` (None drops a value), from its first page
        unless an ``offset`` is given."""
        args = {"q": query, **narrowing.as_args()}
        for key, value in changes.items():
            if value is None:
                args.pop(key, None)
            else:
                args[key] = value
        return url_for("views.search", **{k: v for k, v in args.items() if v not in ("", 0)})

    body = render_template("search.html", query=query, found=found, problem=problem_message,
                           problem_message=problem_message, narrowing=narrowing,
                           choices=offered, search_url=search_url,
                           no_match=found is not None and _no_match_message(found),
                           page_size=PAGE_SIZE, query_limit=QUERY_LIMIT)
    return body, status


@bp.route("/api/search")
@guarded(Action.search)
def api_search():
    query = request.args.get("q", "").strip()
    limit = min(max(1, request.args.get("limit", PAGE_SIZE, type=int) or PAGE_SIZE), 100)
    try:
        narrowing = _narrowing()
        if not query and not narrowing.filtering:
            return jsonify(error=_("The query parameter 'q' is empty; give words to search "
                                   "for, or a filter (type, from, to, region, status).")), 400
        found = reading.search(archive(), g.principal, query, limit=limit, offset=_offset(),
                               narrowing=narrowing, facets=True)
    except (QueryTooLong, SearchTimedOut) as exc:
        return jsonify(error=_search_problem(exc)), _status(exc)
    except Problems as exc:
        problem = exc.problems[0]
        return jsonify(error=say(problem), field=problem.field), 400
    suggestion = None
    if found.suggest_close:
        suggestion = {"close_match": True,
                      "message": _("Search for close matches: a word may differ in one "
                                   "character (perhaps misread)."),
                      "url": url_for("views.api_search", q=query,
                                     **{**narrowing.as_args(), "close": "1"})}
    return jsonify(total=int(found.total), estimated=getattr(found.total, "estimated", False),
                   offset=found.offset, limit=found.limit, has_next=found.has_next,
                   hits=[h.as_json() for h in found.hits],
                   narrowing=narrowing.as_json(),
                   facets=found.facets.as_json() if found.facets else None,
                   message=None if found.hits or found.offset else _no_match_message(found),
                   suggestion=suggestion)


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


# -- the viewer: the dossier reader (阅卷) ------------------------------------------------
ZOOMS = (50, 75, 100, 150, 200, 300)  # percent of the view's width; 100: fit the width
TURNS = (0, 90, 180, 270)  # degrees clockwise; the stored page never changes


def view_settings() -> dict[str, int]:
    """How the reader shows the page (``zoom``, ``rotate`` from the query), kept in every
    link it makes, so that without JavaScript zoom and rotation work by links too."""
    zoom = request.args.get("zoom", 100, type=int)
    rotate = request.args.get("rotate", 0, type=int)
    return {"zoom": zoom if zoom in ZOOMS else 100, "rotate": rotate % 360 if rotate % 90 == 0
            else 0}


def reader_page(template: str, reader: reading.Reader, **links) -> Response:
    """The reader's page; ``links``: the endpoints of its pages, images and thumbnails."""
    view = view_settings()
    i = ZOOMS.index(view["zoom"])
    zoom = {"out": ZOOMS[max(0, i - 1)], "fit": 100, "in": ZOOMS[min(len(ZOOMS) - 1, i + 1)]}
    turn = {"left": (view["rotate"] - 90) % 360, "right": (view["rotate"] + 90) % 360}
    return _no_store(Response(render_template(template, r=reader, doc=reader.doc,
                                              number=reader.number, view=view, zoom=zoom,
                                              turn=turn, zooms=ZOOMS, **links)))


READER_LINKS = {"page_endpoint": "views.viewer", "image_endpoint": "views.page_image",
                "thumbnail_endpoint": "views.page_thumbnail"}


@bp.route("/document/<int:document_id>/page/<int:number>")
@guarded(Action.read_page, per_object=True)
def viewer(document_id: int, number: int):
    reader = reading.open_reader(archive(), g.principal, document_id, number,
                                 purposes=stated_purposes())
    findings = batches.page_findings(archive(), document_id).get(number, [])
    return reader_page("viewer.html", reader, scan_findings=findings, **READER_LINKS)


@bp.route("/api/document/<int:document_id>/page/<int:number>")
@guarded(Action.read_page, per_object=True)
def api_reader(document_id: int, number: int):
    """The reading order around a page (where next and previous lead), as JSON."""
    reader = reading.open_reader(archive(), g.principal, document_id, number,
                                 purposes=stated_purposes())
    return _no_store(jsonify(reader.as_json()))


@bp.route("/document/<int:document_id>/page/<int:number>/image")
@guarded(Action.read_page, per_object=True)
def page_image(document_id: int, number: int):
    jpeg = reading.page_image(archive(), g.principal, document_id, number,
                              purposes=stated_purposes())
    return _no_store(Response(jpeg, mimetype="image/jpeg"))


@bp.route("/document/<int:document_id>/page/<int:number>/thumbnail")
@guarded(Action.read_page, per_object=True)
def page_thumbnail(document_id: int, number: int):
    jpeg = reading.page_thumbnail(archive(), g.principal, document_id, number,
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
    return attachment(got.pdf, "application/pdf", got.filename)
