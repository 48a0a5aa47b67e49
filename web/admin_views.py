"""Administrators' screens: accounts (create, roles, region, lock, unlock, one-time reset
codes) and regions (add, rename, import a CSV of statistical area codes).

Every screen passes the one door for ``manage``; each account or region is admitted
again with its region by the service (``ingest.accounts``, ``ingest.regions``), so an
administrator of one township keeps only that township. Every change is recorded there.
"""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from ingest import accounts, regions as region_service
from records.model import Region
from records.policy import ACCOUNT_ROLES, Action, region_scope
from records.problems import Problems
from web.door import archive, guarded
from web.forms import field_errors, page_offset, report_lines, text, uploaded_import
from web.i18n import _, label

bp = Blueprint("admin", __name__, url_prefix="/admin")

PAGE_SIZE = 50
REGION_PAGE = 100
ROLE_NAMES = [r.value for r in ACCOUNT_ROLES]


def _region_rows(offset: int = 0, limit: int = 5000) -> tuple[list[tuple[str, str]], int]:
    """Regions inside the administrator's jurisdiction, by code, and how many there are."""
    scope = region_scope(g.principal)
    q = select(Region.code, Region.name)
    if scope is not None:
        q = q.where(Region.code.startswith(scope, autoescape=True))
    with archive().Session() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = s.execute(q.order_by(Region.code).offset(offset).limit(limit)).all()
    return [(code, name) for code, name in rows], total


def _region_options() -> list[tuple[str, str]]:
    """Regions an account may be placed in by this administrator: inside their own."""
    indent = {6: "", 9: "\u3000", 12: "\u3000\u3000"}
    return [(code, f"{indent.get(len(code), '')}{name} ({code})")
            for code, name in _region_rows()[0]]


def _role_options() -> list[tuple[str, str]]:
    return [(name, label("role", name)) for name in ROLE_NAMES]


def _region_choices() -> list[tuple[str, str]]:
    whole = [] if region_scope(g.principal) else [("", _("Whole deployment (no region)"))]
    return whole + _region_options()


# -- accounts ------------------------------------------------------------------------------
@bp.route("/users")
@guarded(Action.manage)
def users():
    page, offset = page_offset(PAGE_SIZE)
    found, total = accounts.listing(archive(), g.principal, offset=offset, limit=PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template(
        "admin_users.html", admin={"users": found, "user_total": total}, page=page,
        pages=pages, prev_url=url_for("admin.users", page=page - 1) if page > 1 else None,
        next_url=url_for("admin.users", page=page + 1) if page < pages else None)


@bp.route("/users/new", methods=["GET", "POST"])
@guarded(Action.manage)
def new_user():
    errors: dict[str, str] = {}
    values = {"username": "", "roles": [], "region": region_scope(g.principal) or ""}
    if request.method == "POST":
        values = {"username": text("username", 64), "roles": request.form.getlist("roles"),
                  "region": text("region", 12)}
        try:
            code = accounts.create(archive(), g.principal, values["username"],
                                   values["roles"], values["region"])
        except Problems as exc:
            errors = field_errors(exc)
        else:
            return render_template("admin_code.html", username=values["username"], code=code,
                                   created=True,
                                   hours=archive().settings.reset_code_hours)
    return render_template("admin_user_new.html", errors=errors, values=values,
                           role_options=_role_options(), regions=_region_choices()), \
        400 if errors else 200


@bp.route("/users/<username>", methods=["GET", "POST"])
@guarded(Action.manage, per_object=True)
def user(username: str):
    acct = accounts.account(archive(), g.principal, username)  # the door, for this account
    errors: dict[str, str] = {}
    values = {"roles": acct.roles, "region": acct.region or ""}
    if request.method == "POST":
        do = request.form.get("do", "")
        try:
            if do == "save":
                values = {"roles": request.form.getlist("roles"), "region": text("region", 12)}
                if accounts.update(archive(), g.principal, username, values["roles"],
                                   values["region"]):
                    flash(_("The account %(name)s has been changed.", name=username))
                return redirect(url_for("admin.user", username=username))
            if do in ("lock", "reset") and request.form.get("confirmed") != "yes":
                # it takes effect at once and cannot be taken back: name it and ask once
                return render_template("admin_confirm.html", acct=acct, do=do)
            if do in ("lock", "unlock"):
                accounts.set_active(archive(), g.principal, username, do == "unlock")
                flash(_("The account %(name)s is locked: it cannot sign in.", name=username)
                      if do == "lock" else
                      _("The account %(name)s is unlocked.", name=username))
                return redirect(url_for("admin.user", username=username))
            if do == "reset":
                code = accounts.reset_password(archive(), g.principal, username)
                return render_template("admin_code.html", username=username, code=code,
                                       created=False,
                                       hours=archive().settings.reset_code_hours)
        except Problems as exc:
            errors = field_errors(exc)
    return render_template("admin_user.html", acct=acct, errors=errors, values=values,
                           role_options=_role_options(), regions=_region_choices()), \
        400 if errors else 200


# -- regions -------------------------------------------------------------------------------
@bp.route("/regions", methods=["GET", "POST"])
@guarded(Action.manage)
def regions():
    """The regions inside the administrator's jurisdiction; add one, or import a CSV."""
    errors: dict[str, str] = {}
    values = {"code": "", "name": ""}
    report = None
    if request.method == "POST" and request.form.get("do") == "add":
        values = {"code": text("code", 20), "name": text("name", 100)}
        try:
            region = region_service.add(archive(), g.principal, values["code"], values["name"])
        except Problems as exc:
            errors = field_errors(exc)
        else:
            flash(_("Region %(code)s %(name)s has been added.", code=region.code,
                    name=region.name))
            return redirect(url_for("admin.regions"))
    elif request.method == "POST" and request.form.get("do") == "import":
        report, errors = uploaded_import(
            lambda data, name: region_service.import_file(archive(), g.principal, data, name))
    page, offset = page_offset(REGION_PAGE)
    rows, total = _region_rows(offset, REGION_PAGE)
    pages = max(1, -(-total // REGION_PAGE))
    return render_template("admin_regions.html", regions=rows, errors=errors,
                           values=values, report=report, page=page, pages=pages,
                           prev_url=url_for("admin.regions", page=page - 1) if page > 1 else None,
                           next_url=url_for("admin.regions", page=page + 1)
                           if page < pages else None,
                           report_lines=report_lines(report)), 400 if errors else 200


@bp.route("/regions/<code>", methods=["GET", "POST"])
@guarded(Action.manage, per_object=True)
def region(code: str):
    errors: dict[str, str] = {}
    with archive().Session() as s:
        found = s.get(Region, code)
        name = found.name if found else ""
    if request.method == "POST":
        name = text("name", 100)
        try:
            if region_service.rename(archive(), g.principal, code, name):
                flash(_("The region %(code)s is now called %(name)s.", code=code, name=name))
            return redirect(url_for("admin.regions"))
        except Problems as exc:
            errors = field_errors(exc)
    else:
        region_service.check(archive(), g.principal, code)  # the door, for this region
    return render_template("admin_region.html", code=code, name=name, errors=errors), \
        400 if errors else 200
