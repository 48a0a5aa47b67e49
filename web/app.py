"""The Flask application factory.

``create_app`` opens one archive (a data home and its master key) and wires
the blueprints: ``auth`` (sign in/out) and ``views`` (search, dossier,
viewer). The CLI builds the same :class:`ingest.archive.Archive`.
"""
from __future__ import annotations

import os
from datetime import timedelta

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect

from ingest.archive import Archive, Settings
from records.policy import parse_grants
from search import IndexOutOfDate
from records.purposes import configured_purposes
from web import audit_views, auth, selflookup, views
from web.i18n import current_language, other_language, translate

csrf = CSRFProtect()

# No inline script or style anywhere: templates use classes and static files only.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self'; frame-ancestors 'none'; object-src 'none'; "
                           "base-uri 'none'; form-action 'self'")


def access_settings(environ) -> dict:
    """Access and account-security settings from ``HUDANG_*`` variables (docs/access.md)."""
    return {
        "HUDANG_IDLE_MINUTES": int(environ.get("HUDANG_IDLE_MINUTES", "30")),
        "HUDANG_LOCKOUT_FAILURES": int(environ.get("HUDANG_LOCKOUT_FAILURES", "5")),
        "HUDANG_LOCKOUT_MINUTES": int(environ.get("HUDANG_LOCKOUT_MINUTES", "15")),
        "HUDANG_PURPOSES": environ.get("HUDANG_PURPOSES", ""),
        # 0: a stated purpose holds for the rest of the session
        "HUDANG_PURPOSE_MINUTES": int(environ.get("HUDANG_PURPOSE_MINUTES", "0")),
        "HUDANG_GRANTS": environ.get("HUDANG_GRANTS", ""),
    }


def create_app(test_config: dict | None = None, archive: Archive | None = None) -> Flask:
    app = Flask(__name__)
    if archive is None:
        archive = Archive.open(Settings.from_env())
    app.extensions["hudang"] = archive
    app.config.update(
        # the session key is derived from the master key: nothing extra to keep secret
        SECRET_KEY=archive.master.derive("flask-session"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="hudang_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        MAX_CONTENT_LENGTH=200 * 1024 * 1024,
        JSON_AS_ASCII=False,
        **access_settings(os.environ),
    )
    if test_config:
        app.config.update(test_config)
    # fail at start-up, not on the first request, when HUDANG_GRANTS is wrong
    app.config["HUDANG_GRANT_TABLE"] = parse_grants(app.config["HUDANG_GRANTS"])
    app.config["HUDANG_PURPOSE_LIST"] = configured_purposes(app.config["HUDANG_PURPOSES"])
    app.json.ensure_ascii = False
    csrf.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(audit_views.bp)
    app.register_blueprint(selflookup.bp)
    app.jinja_env.globals.update(t=translate, lang=current_language, other_lang=other_language)
    # templates ask the one policy too: {% if may('download', region, household) %}
    app.jinja_env.globals.update(may=auth.may)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @app.errorhandler(404)
    def not_found(_e):
        return render_template("error.html", message=translate("not_found")), 404

    @app.errorhandler(400)
    @app.errorhandler(CSRFError)
    def bad_request(_e):
        return render_template("error.html", message=translate("bad_request")), 400

    @app.errorhandler(IndexOutOfDate)
    def index_out_of_date(_e):
        # the operator's job, not the reader's: say so plainly, and that it passes
        return render_template("error.html", message=translate("index_out_of_date")), 503

    return app
