"""Digitisation batches (批次) in the browser: the list, a batch's page (each row's outcome,
the findings of its pages, the process metadata) with its report as CSV and PDF, and the
separator sheets to print; a batch's sampling acceptance (验收: draw a sample, judge it,
the report as PDF, the rework of failed documents). ``/api/batches[/<id>[/acceptance]]``
answers the same as JSON.

Every view calls ``ingest.batches``, ``ingest.acceptance`` or ``ingest.box``, which pass the
one door (``batches`` to see, ``accept`` to draw and judge, ``ingest`` to rework) and record
each read.
"""
from __future__ import annotations

from flask import (Blueprint, Response, abort, flash, g, jsonify, redirect, render_template,
                   request, url_for)
from sqlalchemy import select
from werkzeug.utils import secure_filename

from ingest import acceptance
from ingest import batches as service
from ingest import jobs as background
from ingest.box import MANIFEST, BoxError, manifest_template, separator_sheets
from ingest.exceptions import IngestError
from ingest.journal import work_dir
from ingest.scanquality import Finding
from records.exceptions import Invalid
from records.kinds import ScanProfile
from records.model import DocumentType
from records.problems import Problems
from records.policy import Action
from web.door import archive, guarded
from web.downloads import attachment
from web.forms import field_errors, page_offset, say, text
from web.i18n import _, gettext, label
from web.sentences import for_form
from web.report_views import _download

bp = Blueprint("batches", __name__)
api = Blueprint("batches_api", __name__, url_prefix="/api/batches")

PAGE_SIZE = 50


@bp.app_template_global("finding_text")
def finding_text(finding: Finding) -> str:
    """A finding's sentence in the reader's language (the rule's words stay as the standard
    says them)."""
    values = dict(finding.values)
    if "mode" in values:
        values["mode"] = label("colour_mode", values["mode"])
    if "page" in values:  # the page a duplicate repeats
        values["where"] = _("page %(page)s of document %(document)s", page=values["page"],
                            document=values["document"]) if values.get("document") else \
            _("page %(page)s of this document", page=values["page"])
    return gettext(finding.template, **values)


@bp.route("/batches/")
@guarded(Action.batches, per_object=True)
def index():
    page, offset = page_offset(PAGE_SIZE)
    found = service.batches(archive(), g.principal, offset=offset, limit=PAGE_SIZE + 1)
    more = len(found) > PAGE_SIZE
    return render_template(
        "batches.html", batches=found[:PAGE_SIZE], page=page,
        prev_url=url_for("batches.index", page=page - 1) if page > 1 else None,
        next_url=url_for("batches.index", page=page + 1) if more else None)


@bp.route("/batches/upload", methods=["GET", "POST"])
@guarded(Action.ingest, event="ingest_box")
def upload():
    """A box in the browser: its scans and its manifest.csv (chosen on their own, or among the
    files of a folder), run as one batch by a background job, as ``hudang ingest-box``."""
    settings = archive().settings
    values = {"profile": ScanProfile.standard.value, "box": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {"profile": text("profile", 20), "box": text("box", 40)}
        files = [f for f in request.files.getlist("files") if f and f.filename]
        given = request.files.get("manifest")
        if given is not None and given.filename:
            manifest = background.Upload(given.filename, given.read())
        else:  # a folder's files, its manifest among them
            found = [f for f in files if background.shown_name(f.filename) == MANIFEST]
            manifest = background.Upload(MANIFEST, found[0].read()) if found else \
                background.Upload(MANIFEST, b"")
            files = [f for f in files if f not in found]
        uploads = [background.Upload(f.filename, f.read()) for f in files]
        try:
            profile = ScanProfile(values["profile"]) if values["profile"] in \
                ScanProfile.__members__ else ScanProfile.standard
            job_id = background.submit_box(
                archive(), g.principal,
                background.BoxJobRequest(manifest, profile, values["box"] or None), uploads)
        except Problems as exc:  # the limits, the files, the manifest, the box
            errors = field_errors(exc)
        except BoxError as exc:  # a manifest that cannot be read
            errors["manifest"] = for_form(str(exc))
        else:
            flash(_("%(n)s files are queued as job %(job)s.", n=len(uploads), job=job_id))
            return redirect(url_for("jobs.index") + f"#job-{job_id}")
    profiles = [(p.value, label("scan_profile", p.value)) for p in ScanProfile]
    body = render_template("batch_upload.html", values=values, errors=errors,
                           profiles=profiles, max_mb=settings.upload_max_mb,
                           max_files=settings.upload_max_files)
    return body, 400 if errors else 200


@bp.route("/batches/manifest.csv")
@guarded(Action.ingest, event="manifest_template")
def manifest():
    """A blank manifest.csv to fill in (the columns of ingest.box, an example row)."""
    return attachment(manifest_template(), "text/csv", MANIFEST)


@bp.route("/batches/<int:batch_id>")
@guarded(Action.batches, per_object=True)
def show(batch_id: int):
    return _batch_page(batch_id)


def _batch_page(batch_id: int, errors: dict[str, str] | None = None, status: int = 200):
    view = service.batch(archive(), g.principal, batch_id)
    accepting = acceptance.show(archive(), g.principal, batch_id)
    return render_template("batch.html", batch=view, acc=accepting, errors=errors or {},
                           done=request.args.get("done")), status


@bp.route("/batches/<int:batch_id>/report.<fmt>")
@guarded(Action.batches, per_object=True)
def report(batch_id: int, fmt: str):
    if fmt not in ("csv", "pdf"):
        service.batch(archive(), g.principal, batch_id)  # knock first: no one learns more
        abort(404)
    return _download(service.report(archive(), g.principal, batch_id, fmt), fmt)


@bp.route("/batches/separators", methods=["GET", "POST"])
@guarded(Action.ingest)
def separators():
    """Separator sheets to print: households (one a line) and the types of their documents."""
    with archive().Session() as s:
        types = list(s.scalars(select(DocumentType).where(DocumentType.daily.is_(False))
                               .order_by(DocumentType.sort_order)))
    households = request.form.get("households", "")[:4000]
    chosen = request.form.getlist("types")[:40]
    error = None
    if request.method == "POST":
        numbers = [n.strip() for n in households.splitlines() if n.strip()][:200]
        if not numbers or not chosen:
            error = _("Give at least one household number and one document type.")
        else:
            try:
                data, _count = separator_sheets(archive(), g.principal, numbers, chosen)
            except Invalid as exc:
                error = str(exc)
            else:
                response = Response(data, mimetype="application/pdf")
                response.headers["Content-Disposition"] = \
                    'attachment; filename="hudang-separators.pdf"'
                response.headers["Cache-Control"] = "no-store"
                return response
    body = render_template("batch_separators.html", types=types, households=households,
                           chosen=chosen, error=error)
    return body, 400 if error else 200


# -- sampling acceptance (验收) ------------------------------------------------------------------
def _refusal(exc: Problems) -> dict[str, str]:
    return {"acceptance": say(exc.problems[0])} if exc.problems else {"acceptance": str(exc)}


@bp.route("/batches/<int:batch_id>/acceptance/draw", methods=["POST"])
@guarded(Action.accept, per_object=True)
def accept_draw(batch_id: int):
    try:
        acceptance.draw(archive(), g.principal, batch_id)
    except Problems as exc:
        return _batch_page(batch_id, _refusal(exc), 409)
    return redirect(url_for("batches.show", batch_id=batch_id, done="drawn",
                            _anchor="acceptance"))


@bp.route("/batches/<int:batch_id>/acceptance/judge", methods=["POST"])
@guarded(Action.accept, per_object=True)
def accept_judge(batch_id: int):
    """Every verdict chosen on the sample's form, one document after the other; a problem
    is shown beside its document, the others are kept."""
    # knock first, even for an empty form
    acceptance.admit(archive(), g.principal, batch_id, Action.accept, "accept_judge")
    errors: dict[str, str] = {}
    status = 200
    for key in request.form:
        if not key.startswith("verdict-") or not key[8:].isdigit():
            continue
        document_id = int(key[8:])
        try:
            acceptance.judge(archive(), g.principal, batch_id, document_id,
                             request.form[key], request.form.get(f"reason-{document_id}"))
        except acceptance.AcceptanceRefused as exc:
            return _batch_page(batch_id, _refusal(exc), 409)
        except Problems as exc:
            errors[f"reason-{document_id}"] = next(iter(field_errors(exc).values()))
            status = 400
    if errors:
        return _batch_page(batch_id, errors, status)
    return redirect(url_for("batches.show", batch_id=batch_id, done="judged",
                            _anchor="acceptance"))


@bp.route("/batches/<int:batch_id>/acceptance/rework/<int:document_id>", methods=["POST"])
@guarded(Action.ingest, per_object=True)
def accept_rework(batch_id: int, document_id: int):
    """The archivist's rescan of a failed sampled document (multipart: ``file``)."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        acceptance.admit(archive(), g.principal, batch_id, Action.ingest, "accept_rework")
        return _batch_page(batch_id, {f"file-{document_id}": _(
            "Choose the rescanned file to upload.")}, 400)
    try:
        with work_dir(archive().settings.tmp_dir, "upload") as work:
            path = work / (secure_filename(upload.filename) or "rescan")
            upload.save(path)
            acceptance.rework(archive(), g.principal, batch_id, document_id, path,
                              reason=request.form.get("reason"))
    except Problems as exc:
        return _batch_page(batch_id, _refusal(exc), 409)
    except IngestError as exc:
        return _batch_page(batch_id, {f"file-{document_id}": str(exc)}, 422)
    return redirect(url_for("batches.show", batch_id=batch_id, done="reworked",
                            _anchor="acceptance"))


@bp.route("/batches/<int:batch_id>/acceptance/report.pdf")
@guarded(Action.batches, per_object=True)
def accept_report(batch_id: int):
    data = acceptance.report(archive(), g.principal, batch_id)
    return attachment(data, "application/pdf", f"hudang-acceptance-batch-{batch_id}.pdf")


# -- the JSON door ------------------------------------------------------------------------------
@api.route("")
@guarded(Action.batches, per_object=True)
def list_json():
    page, offset = page_offset(PAGE_SIZE)
    found = service.batches(archive(), g.principal, offset=offset, limit=PAGE_SIZE)
    return jsonify(page=page, batches=[b.summary_json() for b in found])


@api.route("/<int:batch_id>")
@guarded(Action.batches, per_object=True)
def show_json(batch_id: int):
    return jsonify(service.batch(archive(), g.principal, batch_id).as_json())


@api.route("/<int:batch_id>/acceptance")
@guarded(Action.batches, per_object=True)
def acceptance_json(batch_id: int):
    return jsonify(acceptance.show(archive(), g.principal, batch_id).as_json())


def _json_refusal(exc: Problems):
    return jsonify(error=say(exc.problems[0]) if exc.problems else str(exc)), \
        409 if isinstance(exc, acceptance.AcceptanceRefused) else 400


@api.route("/<int:batch_id>/acceptance/draw", methods=["POST"])
@guarded(Action.accept, per_object=True)
def acceptance_draw_json(batch_id: int):
    try:
        return jsonify(acceptance.draw(archive(), g.principal, batch_id).as_json())
    except Problems as exc:
        return _json_refusal(exc)


@api.route("/<int:batch_id>/acceptance/judge", methods=["POST"])
@guarded(Action.accept, per_object=True)
def acceptance_judge_json(batch_id: int):
    """POST {"document": id, "verdict": "pass"|"fail", "reason": "..."}."""
    body = request.get_json(silent=True) or {}
    document = body.get("document")
    if not isinstance(document, int):
        acceptance.admit(archive(), g.principal, batch_id, Action.accept, "accept_judge")
        return jsonify(error=_("'document' must be the id of a sampled document.")), 400
    try:
        return jsonify(acceptance.judge(archive(), g.principal, batch_id, document,
                                        str(body.get("verdict", "")),
                                        body.get("reason")).as_json())
    except Problems as exc:
        return _json_refusal(exc)
