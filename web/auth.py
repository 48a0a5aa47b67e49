"""Signing in and out, idle sessions, and who the current reader is."""
from __future__ import annotations

import functools
import time
from datetime import datetime, timedelta, timezone

from flask import (Blueprint, abort, current_app, g, redirect, render_template, request, session,
                   url_for)

from records import audit
from records.catalogue import Lockout, principal_of, sign_in
from records.idnumbers import mask_in_text
from records.model import User
from records.policy import Action, decide
from web.i18n import translate

bp = Blueprint("auth", __name__)


def archive():
    return current_app.extensions["hudang"]


def _end_session() -> None:
    """Forget everything about the signed-in user; keep only the interface language."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


@bp.before_app_request
def load_user() -> None:
    g.user = None
    g.principal = None
    user_id = session.get("user_id")
    if user_id is None:
        return
    now = time.time()
    idle = current_app.config["HUDANG_IDLE_MINUTES"] * 60
    seen = session.get("seen", 0)
    if now - seen > idle:
        # idle too long: the session ends server-side, whatever the cookie says
        archive().record(audit.Event(actor=session.get("username", "-"), action="logout",
                                     detail={"reason": "idle"}))
        _end_session()
        return
    with archive().Session() as s:
        user = s.get(User, user_id)
        if user is None or not user.active:
            _end_session()
            return
        g.user = user.username
        g.principal = principal_of(user, current_app.config["HUDANG_GRANT_TABLE"])
    session["seen"] = int(now)


def may(action: str | Action, region_code: str | None = None,
        household: str | None = None) -> bool:
    """For templates: may the current reader do ``action``? (the one policy decides)"""
    if g.get("principal") is None:
        return False
    return bool(decide(g.principal, Action(action), region_code, household))


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.principal is None:
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped


def _lockout() -> Lockout:
    config = current_app.config
    return Lockout(failures=config["HUDANG_LOCKOUT_FAILURES"],
                   window=timedelta(minutes=config["HUDANG_LOCKOUT_MINUTES"]),
                   lock=timedelta(minutes=config["HUDANG_LOCKOUT_MINUTES"]))


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        with archive().Session() as s, s.begin():
            result = sign_in(s, username, password, now=datetime.now(timezone.utc),
                             lockout=_lockout())
        archive().record(audit.Event(
            actor=mask_in_text(username)[:100] or "-", action="login",
            outcome=audit.ALLOWED if result.ok else audit.REFUSED,
            detail={} if result.ok else {"reason": result.outcome}))
        if result.ok:
            session.clear()
            session["user_id"] = result.user_id
            session["username"] = username
            session["seen"] = int(time.time())
            session.permanent = True
            target = request.args.get("next", "")
            # only local paths: never an open redirect
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("views.search")
            return redirect(target)
        # the same sentence for a wrong password, an unknown name and a locked account
        error = translate("login_refused")
    return render_template("login.html", error=error), 401 if error else 200


@bp.route("/logout", methods=["POST"])
def logout():
    if g.user:
        archive().record(audit.Event(actor=g.user, action="logout"))
    _end_session()
    return redirect(url_for("auth.login"))


def forbid_if_anonymous() -> None:
    if g.principal is None:
        abort(401)
