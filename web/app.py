"""The Flask application factory.

``create_app`` opens one archive (a data home and its master key) and wires
the blueprints: ``auth`` (sign in/out) and ``views`` (search, dossier,
viewer). The CLI builds the same :class:`ingest.archive.Archive`.
"""
from __future__ import annotations

from datetime import timedelta

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect

from ingest.archive import Archive, Settings
from web import audit_views, auth, selflookup, views
from web.i18n import current_language, other_language, translate

csrf = CSRFProtect()


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
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=30),
        MAX_CONTENT_LENGTH=200 * 1024 * 1024,
        JSON_AS_ASCII=False,
    )
    if test_config:
        app.config.update(test_config)
    app.json.ensure_ascii = False
    csrf.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(audit_views.bp)
    app.register_blueprint(selflookup.bp)
    app.jinja_env.globals.update(t=translate, lang=current_language, other_lang=other_language)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; frame-ancestors 'none'; object-src 'none'")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.errorhandler(404)
    def not_found(_e):
        return render_template("error.html", message=translate("not_found")), 404

    @app.errorhandler(400)
    @app.errorhandler(CSRFError)
    def bad_request(_e):
        return render_template("error.html", message=translate("bad_request")), 400

    return app
