"""Retention in the browser: the review queue (with CSV and JSON), the retention classes
(administrators), a dossier's or document's class (archivists, with a reason), and holds.

Each view declares its action at the door (``web.door``); the services in
``ingest.retention`` admit each object and record each change. Problems are said at the
top of the form and beside their field.
"""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, g, jsonify, redirect, render_template, request, url_for

from ingest import retention
from records.door import NOTHING, Knock
from records.exceptions import Conflict, NotFound
from records.model import EndAction, RetentionTrigger
from records.policy import Action
from records.problems import Problems
from records.retention import read_class_facts
from web.downloads import attachment
from web.door import archive, guarded
from web.forms import field_errors, text
from web.i18n import _, current_language
from web.report_views import regions_in_scope

bp = Blueprint("retention", __name__)
api = Blueprint("retention_api", __name__, url_prefix="/api/retention")

PAGE_SIZE = 100
TRIGGERS = [t.value for t in RetentionTrigger]
ACTIONS = [a.value for a in EndAction]


def paged(rows: list, endpoint: str, **args) -> dict:
    """One page of ``rows`` (``?page=N``) with the links to its neighbours, for a template's
    ``pager``: ``rows``, ``page``, ``pages``, ``prev_url``, ``next_url``."""
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(max(1, request.args.get("page", 1, type=int) or 1), pages)
    return {"rows": rows[(page - 1) * PAGE_SIZE:page * PAGE_SIZE], "page": page, "pages": pages,
            "prev_url": url_for(endpoint, **args, page=page - 1) if page > 1 else None,
            "next_url": url_for(endpoint, **args, page=page + 1) if page < pages else None}


def _within() -> int:
    return min(max(0, request.args.get("within", 90, type=int) or 0), 3660)


def _queue_csv(report) -> Response:
    return attachment(report.csv(), "text/csv", report.filename("csv"))


# -- the review queue ------------------------------------------------------------------------------
@bp.route("/retention/")
@guarded(Action.retention_due, per_object=True)
def due():
    code = request.args.get("region", "").strip()[:12] or None
    within = _within()
    fmt = "csv" if request.args.get("format") == "csv" else "screen"
    report = retention.due(archive(), g.principal, code, within, fmt)
    if fmt == "csv":
        return _queue_csv(report)
    queue = report.data
    args = {k: v for k, v in (("region", code), ("within", within)) if v is not None}
    return render_template(
        "retention_due.html", queue=queue, regions=regions_in_scope(), region=report.region,
        within=within, csv_url=url_for("retention.due", **args, format="csv"),
        **paged(queue.rows, "retention.due", **args))


@api.route("/due")
@guarded(Action.retention_due, per_object=True)
def due_json():
    """``/api/retention/due?region=CODE&within=DAYS``: the queue, as ``hudang retention due
    --json`` prints it."""
    report = retention.due(archive(), g.principal,
                           request.args.get("region", "").strip()[:12] or None, _within(), "json")
    q = report.data
    return jsonify(today=q.today.isoformat(), within=q.within, due=len(q.rows),
                   overdue=q.overdue(),
                   by_region=[{"region": c, "name": n, "due": k} for c, n, k in q.by_region],
                   dossiers=[{"household": d.household, "region": d.region_code,
                              "archival_code": d.archival_code, "class": d.class_code,
                              "action": d.action.value, "due_on": d.due_on.isoformat(),
                              "overdue_days": d.overdue_days(q.today),
                              "held": d.dossier_id in q.held,
                              "on_a_list": d.dossier_id in q.listed} for d in q.rows])


# -- the classes ----------------------------------------------------------------------------------
def _class_values(source=None) -> dict:
    source = source or {}
    return {"code": source.get("code", ""), "name_zh": source.get("name_zh", ""),
            "name_en": source.get("name_en", ""), "years": source.get("years", ""),
            "trigger": source.get("trigger", "stop_date"),
            "action": source.get("action", "destroy"),
            "default_for_dossiers": bool(source.get("default_for_dossiers"))}


def _facts(values: dict):
    return read_class_facts(values["name_zh"], values["name_en"], values["years"],
                            values["trigger"], values["action"], values["default_for_dossiers"])


@bp.route("/retention/classes", methods=["GET", "POST"])
@guarded(Action.manage, event="retention_classes")
def classes():
    values, errors = _class_values(), {}
    done = request.args.get("done", "")
    if request.method == "POST" and request.form.get("do") == "map":
        retention.map_type(archive(), g.principal, text("type", 40), text("class", 40))
        return redirect(url_for("retention.classes", done="mapped"))
    if request.method == "POST":
        values = _class_values({k: text(k, 100) for k in ("code", "name_zh", "name_en", "years",
                                                          "trigger", "action")}
                               | {"default_for_dossiers": request.form.get("default_for_dossiers")})
        if not values["code"]:
            errors["code"] = _("Give a code: lower-case letters, digits, '-' or '_'.")
        try:
            facts = _facts(values)
            if not errors:
                retention.add_class(archive(), g.principal, values["code"], facts)
                return redirect(url_for("retention.classes", done="added"))
        except Problems as exc:
            errors.update(field_errors(exc))
        except Conflict:
            errors["code"] = _("A class with this code exists already.")
    body = render_template("retention_classes.html", classes=retention.classes(archive()),
                           types=retention.type_classes(archive()), values=values,
                           errors=errors, done=done, triggers=TRIGGERS, actions=ACTIONS)
    return body, 400 if errors else 200


@bp.route("/retention/classes/<code>", methods=["GET", "POST"])
@guarded(Action.manage, event="retention_classes")
def retention_class(code: str):
    found = [c for c in retention.classes(archive()) if c.code == code]
    if not found:
        raise NotFound(f"retention class {code} does not exist")
    values, errors = _class_values(found[0].as_json()), {}
    if request.method == "POST":
        values = _class_values({k: text(k, 100) for k in ("name_zh", "name_en", "years",
                                                          "trigger", "action")}
                               | {"code": code, "default_for_dossiers":
                                  request.form.get("default_for_dossiers")})
        try:
            retention.edit_class(archive(), g.principal, code, _facts(values))
        except Problems as exc:
            errors.update(field_errors(exc))
        else:
            return redirect(url_for("retention.classes", done="changed"))
    body = render_template("retention_class.html", c=found[0], values=values, errors=errors,
                           triggers=TRIGGERS, actions=ACTIONS)
    return body, 400 if errors else 200


# -- a dossier's or a document's class ------------------------------------------------------------
def _set_form(kind: str, ident, current: str, is_default: bool, back: str, save):
    values = {"retention_class": "" if is_default else current, "reason": ""}
    errors = {}
    if request.method == "POST":
        values = {"retention_class": text("retention_class", 40), "reason": text("reason")}
        try:
            save(values["retention_class"] or None, values["reason"])
        except Problems as exc:
            errors = field_errors(exc)
        else:
            return redirect(back)
    zh = current_language() == "zh"
    options = [("", _("The default"))] + [
        (c.code, f"{c.code} · {c.name_zh if zh else c.name_en}")
        for c in retention.classes(archive())]
    body = render_template("retention_set.html", kind=kind, ident=ident, current=current,
                           is_default=is_default, options=options, values=values,
                           errors=errors, back=back)
    return body, 400 if errors else 200


@bp.route("/household/<number>/retention", methods=["GET", "POST"])
@guarded(Action.set_retention, per_object=True)
def dossier_class(number: str):
    facts = retention.dossier_for_class(archive(), g.principal, number)
    back = url_for("views.household", number=number, retention="1")
    return _set_form("dossier", number, facts.class_code, facts.is_default, back,
                     lambda code, reason: retention.set_dossier_class(
                         archive(), g.principal, number, code, reason))


@bp.route("/document/<int:document_id>/retention", methods=["GET", "POST"])
@guarded(Action.set_retention, per_object=True)
def document_class(document_id: int):
    doc, number = retention.document_for_class(archive(), g.principal, document_id)
    back = url_for("views.household", number=number, retention="1")
    types = {t[0]: t[3] for t in retention.type_classes(archive())}
    return _set_form("document", document_id, doc.retention_class or types[doc.type_code],
                     doc.retention_class is None, back,
                     lambda code, reason: retention.set_document_class(
                         archive(), g.principal, document_id, code, reason))


# -- holds -------------------------------------------------------------------------------------------
@bp.route("/holds/")
@guarded(Action.hold, per_object=True)
def holds():
    everything = request.args.get("all") == "1"
    found = retention.hold_list(archive(), g.principal, standing=not everything)
    if request.args.get("format") == "csv":
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out)
        writer.writerow(["id", "kind", "object", "household", "reason", "placed_by",
                         "placed_at", "lifted_by", "lifted_at", "lift_reason"])
        for h in found:
            writer.writerow([h.id, h.kind, h.ident, h.household, h.reason, h.placed_by,
                             h.placed_at.isoformat(), h.lifted_by or "",
                             h.lifted_at.isoformat() if h.lifted_at else "", h.lift_reason or ""])
        return attachment(out.getvalue(), "text/csv", "hudang-holds.csv")
    return render_template("holds.html", everything=everything, done=request.args.get("done", ""),
                           **paged(found, "retention.holds", **({"all": 1} if everything else {})))


def _hold_form(lift: bool):
    kind = (request.values.get("kind") or "household").strip()
    ident = (request.values.get("ident") or "").strip()[:64]
    event = "hold_lift" if lift else "hold_add"
    household = None
    if ident and kind in ("household", "dossier", "document"):
        _kind, _ident, household = retention.hold_target(archive(), g.principal, kind, ident,
                                                         event)
    else:  # an empty form: nothing named yet
        archive().admit(Knock(g.principal, Action.hold, NOTHING, event=event))
    values, errors = {"kind": kind, "ident": ident, "reason": ""}, {}
    if request.method == "POST":
        values["reason"] = text("reason")
        if not ident:
            errors["ident"] = _("Say what to hold: a household number, a dossier or a "
                                "document number.")
        else:
            try:
                if lift:
                    retention.lift_hold(archive(), g.principal, kind, ident, values["reason"])
                else:
                    retention.add_hold(archive(), g.principal, kind, ident, values["reason"])
            except Problems as exc:
                errors = field_errors(exc)
            except Conflict:
                errors["ident"] = _("This is held already; lift that hold first.")
            except NotFound:
                errors["ident"] = _("There is no hold on this to lift.")
            else:
                return redirect(url_for("views.household", number=household, held="lifted"
                                        if lift else "placed"))
    body = render_template("hold_form.html", lift=lift, values=values, errors=errors,
                           household=household)
    return body, 400 if errors else 200


@bp.route("/holds/new", methods=["GET", "POST"])
@guarded(Action.hold, per_object=True)
def hold_new():
    return _hold_form(lift=False)


@bp.route("/holds/lift", methods=["GET", "POST"])
@guarded(Action.hold, per_object=True)
def hold_lift():
    return _hold_form(lift=True)
