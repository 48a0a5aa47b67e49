"""Destruction lists (销毁清册) in the browser: the lists, drafting one, a list with its rows
and history, and each step on its own page that names what it will do and asks once
(submit, withdraw, take a dossier off, approve, return with a comment, witness, execute:
queued as a background job); the list and the certificate as PDF, and the list as JSON.

Each view declares its step's action at the door; ``ingest.destruction`` and
``ingest.shredding`` (through ``ingest.jobs.submit_destruction`` and the worker) admit the
list and check its state and the four-eyes rules again when the step is taken. A step the
rules refuse is shown at the top of its page, with why.
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import (Blueprint, Response, flash, g, jsonify, redirect, render_template, request,
                   url_for)

from ingest import destruction
from ingest import jobs as background
from records import destruction as rules
from records.destruction import Step
from records.door import NOTHING, Knock
from records.model import DestructionList
from records.policy import Action
from records.problems import Problems
from web.downloads import attachment
from web.door import archive, guarded
from web.forms import field_errors, say, text
from web.i18n import _
from web.report_views import regions_in_scope
from web.retention_views import paged

bp = Blueprint("destruction", __name__, url_prefix="/destruction")
api = Blueprint("destruction_api", __name__, url_prefix="/api/destruction")

STATUSES = ("draft", "submitted", "returned", "approved", "executing", "executed", "cancelled")


def _now() -> datetime:
    return datetime.now(timezone.utc)


@bp.route("/")
@guarded(Action.destruction_view, per_object=True)
def index():
    status = request.args.get("status", "")
    found = destruction.lists(archive(), g.principal, status if status in STATUSES else None)
    return render_template("destruction_lists.html", status=status, statuses=STATUSES,
                           **paged(found, "destruction.index",
                                   **({"status": status} if status else {})))


@bp.route("/new", methods=["GET", "POST"])
@guarded(Action.destruction_draft, per_object=True)
def new():
    values = {"region": g.principal.region or "", "due_within": "0"}
    errors, drafted = {}, None
    if request.method == "POST":
        values = {"region": text("region", 12), "due_within": text("due_within", 5) or "0"}
        within = int(values["due_within"]) if values["due_within"].isdigit() else None
        if within is None:
            errors["due_within"] = _("Write a whole number of days, 0 or more.")
        if not values["region"]:
            errors["region"] = _("Choose the region whose dossiers the list takes.")
        if not errors:
            drafted = destruction.draft(archive(), g.principal, values["region"], within)
            if drafted.number is not None:
                return redirect(url_for("destruction.show", list_no=drafted.number,
                                        done="drafted"))
    else:
        archive().admit(Knock(g.principal, Action.destruction_draft, NOTHING,
                              event="destruction_draft"))
    body = render_template("destruction_new.html", values=values, errors=errors,
                           regions=regions_in_scope(), drafted=drafted)
    return body, 400 if errors else 200


def _list_row(number: int) -> DestructionList:
    with archive().Session() as s:
        lst = s.get(DestructionList, number)
        lst.items, lst.region  # noqa: B018 - loaded for the rules, before the session ends
        s.expunge_all()
        return lst


@bp.route("/<int:list_no>")
@guarded(Action.destruction_view, per_object=True)
def show(list_no: int):
    view = destruction.show(archive(), g.principal, list_no)
    return render_template("destruction_list.html", lst=view, now=_now(),
                           done=request.args.get("done", ""),
                           job=background.destruction_job(archive(), list_no))


@api.route("/<int:list_no>")
@guarded(Action.destruction_view, per_object=True)
def show_json(list_no: int):
    """``/api/destruction/<n>``: the list, as ``hudang destruction show N --json`` prints it."""
    return jsonify(destruction.show(archive(), g.principal, list_no, fmt="json").as_json())


def _pdf(data: bytes, name: str) -> Response:
    return attachment(data, "application/pdf", name)


@bp.route("/<int:list_no>/list.pdf")
@guarded(Action.destruction_view, per_object=True)
def list_pdf(list_no: int):
    return _pdf(destruction.printed(archive(), g.principal, list_no, "list"),
                f"hudang-destruction-list-{list_no}.pdf")


@bp.route("/<int:list_no>/certificate.pdf")
@guarded(Action.destruction_view, per_object=True)
def certificate_pdf(list_no: int):
    return _pdf(destruction.printed(archive(), g.principal, list_no, "certificate"),
                f"hudang-destruction-certificate-{list_no}.pdf")


# -- the steps: each names what it will do and asks once ----------------------------------------
def _step(list_no: int, step: Step, action: Action, do, *, comment: bool = False,
          dossier_id: int | None = None, then=None):
    """The step's page; its POST runs ``do(comment)``, then shows the list (or returns
    ``then(what do returned)``)."""
    destruction.admit_list(archive(), g.principal, list_no, action,
                           f"destruction_{step.value}")
    view = destruction.show(archive(), g.principal, list_no)
    errors: dict[str, str] = {}
    values = {"comment": ""}
    refused = rules.refusal(_list_row(list_no), step, g.principal.name, _now(),
                            archive().settings.timezone)
    if refused is None and step is Step.execute:
        job = background.destruction_job(archive(), list_no)
        refused = rules.being_executed(list_no, job["id"]) if job else None
    if request.method == "POST" and refused is None:
        values["comment"] = text("comment", rules.COMMENT_LENGTH)
        try:
            done = do(values["comment"])
        except Problems as exc:
            errors = field_errors(exc)
        else:
            if then is not None:
                return then(done)
            return redirect(url_for("destruction.show", list_no=list_no, done=step.value))
    if refused is not None:
        errors = {"step": say(refused.problems[0])}
    item = next((i for i in view.items if i.dossier_id == dossier_id), None)
    body = render_template("destruction_confirm.html", lst=view, step=step.value,
                           refused=refused is not None, errors=errors, values=values,
                           comment=comment, item=item,
                           wait_days=archive().settings.destruction_wait_days)
    return body, 409 if refused is not None and request.method == "POST" else (
        400 if errors and refused is None else 200)


@bp.route("/<int:list_no>/submit", methods=["GET", "POST"])
@guarded(Action.destruction_draft, per_object=True)
def submit(list_no: int):
    return _step(list_no, Step.submit, Action.destruction_draft,
                 lambda _c: destruction.submit(archive(), g.principal, list_no))


@bp.route("/<int:list_no>/cancel", methods=["GET", "POST"])
@guarded(Action.destruction_draft, per_object=True)
def cancel(list_no: int):
    return _step(list_no, Step.cancel, Action.destruction_draft,
                 lambda c: destruction.cancel(archive(), g.principal, list_no, c), comment=True)


@bp.route("/<int:list_no>/remove/<int:dossier_id>", methods=["GET", "POST"])
@guarded(Action.destruction_draft, per_object=True)
def remove(list_no: int, dossier_id: int):
    return _step(list_no, Step.remove, Action.destruction_draft,
                 lambda _c: destruction.remove(archive(), g.principal, list_no, dossier_id),
                 dossier_id=dossier_id)


@bp.route("/<int:list_no>/approve", methods=["GET", "POST"])
@guarded(Action.destruction_approve, per_object=True)
def approve(list_no: int):
    return _step(list_no, Step.approve, Action.destruction_approve,
                 lambda _c: destruction.approve(archive(), g.principal, list_no))


@bp.route("/<int:list_no>/return", methods=["GET", "POST"])
@guarded(Action.destruction_approve, per_object=True)
def return_list(list_no: int):
    return _step(list_no, Step.return_, Action.destruction_approve,
                 lambda c: destruction.return_list(archive(), g.principal, list_no, c),
                 comment=True)


@bp.route("/<int:list_no>/witness", methods=["GET", "POST"])
@guarded(Action.destruction_witness, per_object=True)
def witness(list_no: int):
    return _step(list_no, Step.witness, Action.destruction_witness,
                 lambda _c: destruction.witness(archive(), g.principal, list_no))


@bp.route("/<int:list_no>/execute", methods=["GET", "POST"])
@guarded(Action.destruction_execute, per_object=True)
def execute(list_no: int):
    """Carrying out the list runs as a background job (``ingest.jobs.submit_destruction``):
    the list's page shows the job, with a link to it on the jobs page, until it ends."""
    def queued(job_id: int):
        flash(_("Carrying out list %(n)s runs as job %(job)s; the jobs page shows its "
                "progress.", n=list_no, job=job_id))
        return redirect(url_for("destruction.show", list_no=list_no))

    return _step(list_no, Step.execute, Action.destruction_execute,
                 lambda _c: background.submit_destruction(archive(), g.principal, list_no),
                 then=queued)
