"""Correction screens and their JSON: a page's OCR text line by line beside the page image,
a page turned, a page or the whole document replaced by a rescan (``ingest.corrections``).

Each route passes the door as ``Action.ingest`` on the document (the service admits it).
The screens open under a stated purpose like the viewer (the page image beside the lines
is the viewer's audited image, ``views.page_image``); the text shown is recorded as a read
and masked as the page-text screen masks it.
"""
from __future__ import annotations

from flask import (Blueprint, g, jsonify, make_response, redirect, render_template, request,
                   url_for)
from werkzeug.utils import secure_filename

from ingest import corrections
from ingest.corrections import CorrectionRefused
from ingest.exceptions import IngestError
from ingest.journal import work_dir
from records.policy import Action
from web import reading
from web.door import archive, guarded
from web.errors import binding_for
from web.i18n import _, lazy_gettext
from web.views import _no_store, stated_purposes

bp = Blueprint("corrections", __name__)
api = Blueprint("corrections_api", __name__, url_prefix="/api")

# what a screen says once a correction is saved, and what the list of corrections calls it
KIND_WORDS = {corrections.TEXT: lazy_gettext("The text was corrected."),
              corrections.ROTATE: lazy_gettext("The page was turned and read again."),
              corrections.REPLACE_PAGE: lazy_gettext("The page was replaced by the rescan."),
              corrections.REPLACE_DOCUMENT: lazy_gettext("The document was replaced by the "
                                                         "rescan.")}
KIND_NAMES = {corrections.TEXT: lazy_gettext("text corrected"),
              corrections.ROTATE: lazy_gettext("page turned"),
              corrections.REPLACE_PAGE: lazy_gettext("page rescanned"),
              corrections.REPLACE_DOCUMENT: lazy_gettext("document rescanned")}


def _frame(document_id: int):
    """The viewer's facts of the document, under a stated purpose (or the purpose form)."""
    return reading.describe_document(archive(), g.principal, document_id,
                                     purposes=stated_purposes())


def _status(exc: Exception) -> int:
    binding = binding_for(exc)
    return binding.http_status if binding else 422


def _saved() -> str | None:
    kind = request.args.get("done")
    return str(KIND_WORDS[kind]) if kind in KIND_WORDS else None


# -- the text, line by line ---------------------------------------------------------------
@bp.route("/document/<int:document_id>/page/<int:number>/correct", methods=["GET", "POST"])
@guarded(Action.ingest, per_object=True)
def correct(document_id: int, number: int):
    doc = _frame(document_id)
    problem, status = None, 200
    if request.method == "POST":
        try:
            result = corrections.correct_text(
                archive(), g.principal, document_id, number, _lines_from(request.form),
                base=request.form.get("base") or None, reason=request.form.get("reason"))
        except IngestError as exc:
            problem, status = str(exc), _status(exc)
        else:
            if result.correction_id is None:
                problem, status = _("Nothing was changed."), 200
            else:
                return redirect(url_for("corrections.correct", document_id=document_id,
                                        number=number, done=corrections.TEXT))
    lines = corrections.page_lines(archive(), g.principal, document_id, number,
                                   purpose=doc.purpose)
    body = render_template("correct_page.html", doc=doc, number=number, page=lines,
                           problem=problem, saved=_saved(), rotations=corrections.ROTATIONS)
    return _no_store(_response(body, status))


def _lines_from(form) -> dict[int, str]:
    return {int(key[5:]): value for key, value in form.items()
            if key.startswith("line-") and key[5:].isdigit()}


def _response(body: str, status: int):
    return make_response(body, status)


# -- a page turned, rescans ---------------------------------------------------------------------
def _screen(document_id: int, number: int | None, template: str, kind: str, act):
    """A correction's form: on POST ``act()``, then back to the page's correction screen
    saying it is done; a refusal is shown on the form in its sentence."""
    doc = _frame(document_id)
    problem, status = None, 200
    if request.method == "POST":
        try:
            act()
        except IngestError as exc:
            problem, status = str(exc), _status(exc)
        else:
            return redirect(url_for("corrections.correct", document_id=document_id,
                                    number=number or 1, done=kind))
    history = corrections.corrections_of(archive(), g.principal, document_id)
    body = render_template(template, doc=doc, number=number, problem=problem,
                           rotations=corrections.ROTATIONS, history=history,
                           kind_names=KIND_NAMES)
    return _no_store(_response(body, status))


@bp.route("/document/<int:document_id>/page/<int:number>/rotate", methods=["GET", "POST"])
@guarded(Action.ingest, per_object=True)
def rotate(document_id: int, number: int):
    return _screen(document_id, number, "correct_rotate.html", corrections.ROTATE,
                   lambda: corrections.rotate_page(
                       archive(), g.principal, document_id, number,
                       request.form.get("degrees", type=int) or 0,
                       reason=request.form.get("reason")))


def _with_upload(run):
    """Run ``run(path)`` on the uploaded file, kept only in a private work directory."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise CorrectionRefused("choose the rescanned file to upload")
    with work_dir(archive().settings.tmp_dir, "upload") as work:
        path = work / (secure_filename(upload.filename) or "rescan")
        upload.save(path)
        return run(path)


@bp.route("/document/<int:document_id>/page/<int:number>/replace", methods=["GET", "POST"])
@guarded(Action.ingest, per_object=True)
def replace_page(document_id: int, number: int):
    return _screen(document_id, number, "correct_replace.html", corrections.REPLACE_PAGE,
                   lambda: _with_upload(lambda path: corrections.replace_page(
                       archive(), g.principal, document_id, number, path,
                       reason=request.form.get("reason"))))


@bp.route("/document/<int:document_id>/replace", methods=["GET", "POST"])
@guarded(Action.ingest, per_object=True)
def replace_document(document_id: int):
    return _screen(document_id, None, "correct_replace.html", corrections.REPLACE_DOCUMENT,
                   lambda: _with_upload(lambda path: corrections.replace_document(
                       archive(), g.principal, document_id, path,
                       reason=request.form.get("reason"))))


# -- JSON ------------------------------------------------------------------------------------------
def _json_error(exc: Exception):
    return jsonify(error=str(exc)), _status(exc)


@api.route("/document/<int:document_id>/page/<int:number>/lines", methods=["GET", "POST"])
@guarded(Action.ingest, per_object=True)
def api_lines(document_id: int, number: int):
    """GET: the page's lines as the reader may see them; POST {"lines": {"N": "text"},
    "base": sha256, "reason": ...}: correct them."""
    if request.method == "GET":
        return jsonify(corrections.page_lines(archive(), g.principal, document_id, number,
                                              purpose=request.args.get("purpose")).as_json())
    body = request.get_json(silent=True) or {}
    try:
        changes = {int(k): str(v) for k, v in (body.get("lines") or {}).items()}
    except (TypeError, ValueError, AttributeError):
        return jsonify(error=_("'lines' must map line numbers to their text.")), 400
    return _acted(lambda: corrections.correct_text(
        archive(), g.principal, document_id, number, changes, base=body.get("base"),
        reason=body.get("reason")))


def _history(document_id: int):
    return jsonify(corrections=[c.as_json() for c in corrections.corrections_of(
        archive(), g.principal, document_id)])


def _acted(act):
    """JSON of a correction ``act()`` made, or of its refusal (one sentence)."""
    try:
        return jsonify(act().as_json())
    except IngestError as exc:
        return _json_error(exc)


@api.route("/document/<int:document_id>/page/<int:number>/rotate", methods=["GET", "POST"])
@guarded(Action.ingest, per_object=True)
def api_rotate(document_id: int, number: int):
    """GET: the document's corrections; POST {"degrees": 90|180|270, "reason": ...}."""
    if request.method == "GET":
        return _history(document_id)
    body = request.get_json(silent=True) or {}
    degrees = body.get("degrees")
    return _acted(lambda: corrections.rotate_page(
        archive(), g.principal, document_id, number,
        degrees if isinstance(degrees, int) else 0, reason=body.get("reason")))


@api.route("/document/<int:document_id>/page/<int:number>/replace", methods=["GET", "POST"])
@guarded(Action.ingest, per_object=True)
def api_replace_page(document_id: int, number: int):
    """GET: the document's corrections; POST multipart ``file`` (one page) and ``reason``."""
    if request.method == "GET":
        return _history(document_id)
    return _acted(lambda: _with_upload(lambda path: corrections.replace_page(
        archive(), g.principal, document_id, number, path,
        reason=request.form.get("reason"))))


@api.route("/document/<int:document_id>/replace", methods=["GET", "POST"])
@guarded(Action.ingest, per_object=True)
def api_replace_document(document_id: int):
    """GET: the document's corrections; POST multipart ``file`` and ``reason``."""
    if request.method == "GET":
        return _history(document_id)
    return _acted(lambda: _with_upload(lambda path: corrections.replace_document(
        archive(), g.principal, document_id, path, reason=request.form.get("reason"))))
