"""Signing in and out, and who the current reader is."""
from __future__ import annotations

import functools

from flask import (Blueprint, abort, current_app, g, redirect, render_template, request, session,
                   url_for)

from records import audit
from records.catalogue import authenticate, principal_of
from records.model import User
from web.i18n import translate

bp = Blueprint("auth", __name__)


def archive():
    return current_app.extensions["hudang"]


@bp.before_app_request
def load_user() -> None:
    g.user = None
    g.principal = None
    user_id = session.get("user_id")
    if user_id is None:
        return
    with archive().Session() as s:
        user = s.get(User, user_id)
        if user is None or not user.active:
            session.clear()
            return
        g.user = user.username
        g.principal = principal_of(user)


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.principal is None:
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        with archive().Session() as s:
            user = authenticate(s, username, password)
            user_id = user.id if user else None
        archive().record(audit.Event(actor=username[:100] or "-", action="login",
                                     outcome=audit.ALLOWED if user_id else audit.REFUSED))
        if user_id is not None:
            session.clear()
            session["user_id"] = user_id
            session.permanent = True
            target = request.args.get("next", "")
            # only local paths: never an open redirect
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("views.search")
            return redirect(target)
        error = translate("login_failed")
    return render_template("login.html", error=error), 401 if error else 200


@bp.route("/logout", methods=["POST"])
def logout():
    if g.user:
        archive().record(audit.Event(actor=g.user, action="logout"))
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth.login"))


def forbid_if_anonymous() -> None:
    if g.principal is None:
        abort(401)
