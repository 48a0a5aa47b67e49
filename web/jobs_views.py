"""Background jobs in the browser: the jobs page (progress, each file's outcome, retry), its
JSON at ``/api/jobs``, and the upload of scans into a household's dossier, which runs as a
job (``ingest.jobs``). The page works without JavaScript (reload it); ``static/jobs.js``
refreshes the progress bars, and ``static/upload.js`` adds dropping files onto the form.
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for

from ingest import jobs as background
from records.catalogue import find_household
from records.doctypes import all_types
from records.exceptions import Invalid, RecordsError
from records.kinds import JobKind, JobState
from records.policy import Action
from records.problems import N_, Problems, fail
from web.door import archive, guarded
from web.forms import field_errors, text
from web.i18n import _, current_language
from web.sentences import for_form

bp = Blueprint("jobs", __name__)

LIMIT = 50


@bp.route("/jobs")
@guarded(Action.jobs, event="jobs")
def index():
    states = [JobState(s) for s in request.args.getlist("state") if s in JobState.__members__]
    found = background.listing(archive(), g.principal, states=states, limit=LIMIT)
    return render_template("jobs.html", jobs=found, states=[s.value for s in states])


@bp.route("/api/jobs")
@guarded(Action.jobs, event="jobs")
def api():
    states = [JobState(s) for s in request.args.getlist("state") if s in JobState.__members__]
    return jsonify(background.listing(archive(), g.principal, states=states, limit=LIMIT))


@bp.route("/jobs/<int:job_id>/retry", methods=["POST"])
@guarded(Action.jobs, per_object=True)
def retry(job_id: int):
    try:
        queued = background.retry(archive(), g.principal, job_id)
    except Invalid:
        flash(_("Job %(n)s is done; there is nothing to retry.", n=job_id))
    else:
        flash(_("Job %(n)s is queued again.", n=job_id) if queued else
              _("Job %(n)s is queued or running already.", n=job_id))
    return redirect(url_for("jobs.index") + f"#job-{job_id}")


@bp.route("/jobs/start", methods=["POST"])
@guarded(Action.jobs, event="jobs")
def start():
    """Start a verification or a rebuild of the index as a job (the service admits the
    action of the work: ``verify`` or ``manage``)."""
    kinds = {"verify": JobKind.verify, "reindex": JobKind.reindex}
    kind = kinds.get(request.form.get("kind", ""))
    if kind is None:
        flash(_("Choose the work to start."))
        return redirect(url_for("jobs.index"))
    job_id = background.submit(archive(), g.principal, kind)
    flash(_("Job %(n)s is queued.", n=job_id))
    return redirect(url_for("jobs.index") + f"#job-{job_id}")


@bp.route("/household/<number>/upload", methods=["GET", "POST"])
@guarded(Action.ingest, per_object=True)
def upload(number: str):
    """Scans into a household's dossier: one or many files, one type, date and title; they
    are stored encrypted at once and ingested by a worker."""
    from records.door import Knock
    from ingest.cataloguing import household_target

    with archive().Session() as s:
        household = find_household(s, number)
        archive().admit(Knock(g.principal, Action.ingest, household_target(household, number)))
        zh = current_language() == "zh"
        types = [(t.code, t.name_zh if zh else t.name_en) for t in all_types(s, daily=False)]
    settings = archive().settings
    values = {"type": types[0][0] if types else "", "date": "", "title": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {name: text(name, 200) for name in ("type", "date", "title")}
        files = [f for f in request.files.getlist("files") if f and f.filename]
        uploads = [background.Upload(f.filename, f.read()) for f in files]
        try:
            doc_date = _date(values["date"])
            job_id = background.submit_ingest(
                archive(), g.principal,
                background.IngestJobRequest(number, values["type"], doc_date,
                                            values["title"] or None), uploads)
        except Problems as exc:  # the limits, the date: each beside its field
            errors = field_errors(exc)
        except RecordsError as exc:  # an unknown document type
            errors["type"] = for_form(str(exc))
        else:
            flash(_("%(n)s files are queued as job %(job)s.", n=len(uploads), job=job_id))
            return redirect(url_for("jobs.index") + f"#job-{job_id}")
    return render_template("upload.html", number=number, types=types, values=values,
                           errors=errors, max_mb=settings.upload_max_mb,
                           max_files=settings.upload_max_files), 400 if errors else 200


def _date(value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail("date", N_("the date '%(value)s' is not a date like 2026-03-01"),
                   value=value[:20]) from None
