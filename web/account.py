"""The signed-in user's own account: changing one's password.

Every user may do it (``web.door.own_account``: no policy action, their own account
only). After signing in with a one-time code (``records.accounts``) it is the only page
open until a new password is chosen; then the current password is not asked again.
"""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from ingest import accounts
from records.problems import Problems
from web.door import archive, own_account
from web.forms import field_errors
from web.i18n import _

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.route("/password", methods=["GET", "POST"])
@own_account
def password():
    forced = g.must_change_password
    errors: dict[str, str] = {}
    if request.method == "POST":
        current = None if forced else request.form.get("current", "")
        try:
            accounts.change_own_password(archive(), g.user, current,
                                         request.form.get("new", ""),
                                         request.form.get("again", ""))
        except Problems as exc:
            errors = field_errors(exc)
        else:
            flash(_("Your password has been changed."))
            return redirect(url_for("home.index"))
    return render_template("account_password.html", forced=forced, errors=errors), \
        400 if errors else 200
