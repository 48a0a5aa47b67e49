"""Keeping households in the browser: create, edit, members, status changes (停发, 增发,
减发, 停保, 恢复), CSV import, and ``/api/households/<number>``.

Each view gathers the form and calls ``ingest.households``, which passes the one door
for the household and records the change; problems come back as sentences beside their
fields (``web.forms``). The dossier page itself (``/household/<number>``, with members,
status history and what the dossier lacks) is ``web.views``.
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for

from ingest import households as service
from records import households as rules
from records.model import StatusChange
from records.policy import Action
from records.problems import N_, Problems, fail, gather
from web.door import archive, guarded
from web.forms import field_errors, report_lines, text, uploaded_import
from web.i18n import _, label

bp = Blueprint("households", __name__)

FIELDS = ("head_name", "head_id_number", "address", "area", "review_class", "certificate_no",
          "enrolled_on")


def _posted(fields=FIELDS) -> dict[str, str]:
    return {name: text(name, 300) for name in fields}


def _choices() -> dict:
    return {"areas": [(a, label("area", a)) for a in ("urban", "rural")],
            "classes": [(str(c), label("class_long", c)) for c in rules.CLASSES]}


@bp.route("/households/new", methods=["GET", "POST"])
@guarded(Action.edit_household)
def new():
    errors: dict[str, str] = {}
    village = request.args.get("village", "")[:12]
    values = {"number": f"{village}-" if village else ""}
    if request.method == "POST":
        values = {"number": text("number", 40), **_posted()}
        try:
            number = service.create(archive(), g.principal, values["number"], _posted())
        except Problems as exc:
            errors = field_errors(exc)
        else:
            flash(_("Household %(number)s has been created. Now record its members.",
                    number=number))
            return redirect(url_for("households.members", number=number))
    return render_template("household_form.html", creating=True, values=values,
                           errors=errors, sheet=None, **_choices()), 400 if errors else 200


@bp.route("/household/<number>/edit", methods=["GET", "POST"])
@guarded(Action.edit_household, per_object=True)
def edit(number: str):
    sheet = service.for_editing(archive(), g.principal, number)
    errors: dict[str, str] = {}
    values = {"head_name": sheet.head_name, "address": sheet.address or "",
              "area": sheet.area or "", "review_class": str(sheet.review_class or ""),
              "enrolled_on": sheet.enrolled_on.isoformat() if sheet.enrolled_on else ""}
    if request.method == "POST":
        values = _posted()
        try:
            changed = service.edit(archive(), g.principal, number, values)
        except Problems as exc:
            errors = field_errors(exc)
        else:
            flash(_("Household %(number)s has been changed.", number=number) if changed else
                  _("Nothing was changed."))
            return redirect(url_for("views.household", number=number))
    return render_template("household_form.html", creating=False, values=values,
                           errors=errors, sheet=sheet, **_choices()), 400 if errors else 200


@bp.route("/household/<number>/members", methods=["GET", "POST"])
@guarded(Action.edit_household, per_object=True)
def members(number: str):
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    if request.method == "POST" and request.form.get("do") == "remove":
        try:
            name = service.remove_member(archive(), g.principal, number,
                                         request.form.get("position", 0, type=int))
        except Problems as exc:
            errors = field_errors(exc)
        else:
            flash(_("%(name)s is no longer listed as a member.", name=name))
            return redirect(url_for("households.members", number=number))
    elif request.method == "POST":
        values = _posted(("member_name", "member_relation", "member_id_number"))
        try:
            member = rules.read_member(values["member_name"], values["member_relation"],
                                       values["member_id_number"])
            service.add_member(archive(), g.principal, number, member)
        except Problems as exc:
            errors = field_errors(exc)
        else:
            flash(_("%(name)s has been added as a member.", name=member.name))
            return redirect(url_for("households.members", number=number))
    sheet = service.for_editing(archive(), g.principal, number)
    values.pop("member_id_number", None)  # an ID number is never shown back in full
    return render_template("household_members.html", sheet=sheet, values=values,
                           errors=errors), 400 if errors else 200


@bp.route("/household/<number>/status", methods=["GET", "POST"])
@guarded(Action.edit_household, per_object=True)
def status(number: str):
    errors: dict[str, str] = {}
    values = {"change": "", "date": service.today(archive()).isoformat(), "reason": ""}
    if request.method == "POST":
        values = {"change": text("change", 10), "date": text("date", 20),
                  "reason": text("reason", 600)}
        try:
            change, on = _read_change(values)
            service.change_status(archive(), g.principal, number, change, on,
                                  values["reason"])
        except Problems as exc:
            errors = field_errors(exc)
        else:
            flash(_("%(change)s on %(date)s has been recorded.",
                    change=label("change", change.value), date=on.isoformat()))
            return redirect(url_for("views.household", number=number))
    sheet = service.for_editing(archive(), g.principal, number)
    return render_template("household_status.html", sheet=sheet, values=values,
                           errors=errors, change_options=[
                               (c, label("change", c)) for c in sheet.allowed_changes]), \
        400 if errors else 200


def _read_change(values: dict[str, str]) -> tuple[StatusChange, date]:
    def change() -> StatusChange:
        try:
            return StatusChange(values["change"])
        except ValueError:
            raise fail("change", N_("choose the change to record")) from None

    def when() -> date:
        on = rules.read_date(values["date"], "date")
        if on is None:
            raise fail("date", N_("give the date the change takes effect"))
        return on

    def reason() -> None:
        if not values["reason"].strip():
            raise fail("reason", rules.NO_REASON)

    chosen, on, _ = gather(change, when, reason)
    return chosen, on


@bp.route("/households/import", methods=["GET", "POST"])
@guarded(Action.edit_household)
def import_csv():
    report, errors = None, {}
    if request.method == "POST":
        report, errors = uploaded_import(
            lambda data, name: service.import_file(archive(), g.principal, data, name))
    return render_template("household_import.html", errors=errors, report=report,
                           report_lines=report_lines(report)), 400 if errors else 200


@bp.route("/api/households/<number>")
@guarded(Action.read_household, per_object=True)
def api_household(number: str):
    purpose = request.args.get("purpose", "").strip()[:200] or None
    return jsonify(service.show(archive(), g.principal, number, purpose=purpose).as_json())
