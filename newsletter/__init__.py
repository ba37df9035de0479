"""Newsletter: a self-hosted newsletter sender, lawful by construction."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, render_template
from flask_babel import get_locale
from flask_babel import refresh as refresh_locale
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from . import database, embedded, error_pages, i18n, localization, mailer, security
from .config import instance_path, load_config
from .extensions import babel, csrf, db, limiter, login, mail, migrate


def create_app(overrides: dict | None = None) -> Flask:
    """Build the application. `overrides` win over every other configuration source."""
    app = Flask(
        __name__,
        template_folder="../templates",
        instance_path=instance_path(),
        instance_relative_config=True,
    )
    if overrides and overrides.get("TESTING"):
        app.testing = True
    load_config(app, overrides)
    if app.config["TRUSTED_PROXIES"]:
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    _init_extensions(app)

    from .views import media as media_views
    from .views import register_blueprints

    register_blueprints(app)  # pages (CSRF token) and programs (bearer token, CSRF-exempt)
    media_views.init_app(app)  # `branding` in every template, mail included (issue 16)
    security.init_app(app)  # Content-Security-Policy and the other response headers

    from .cli import register_commands

    register_commands(app)
    _register_error_pages(app)
    # Flask's built-in `flask run` cannot be replaced by an app command: the app itself
    # starts the sending loop and the jobs, only when served by that command.
    embedded.start_for_flask_run(app)
    return app


def _init_extensions(app: Flask) -> None:
    """The unbound extensions bound to this app, and what they need from it."""
    db.init_app(app)
    migrate.init_app(app, db, directory=str(_project_path(app, "migrations")))
    mail.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    login.init_app(app)
    babel.init_app(
        app,
        locale_selector=i18n.select_locale,
        default_translation_directories=str(Path(app.root_path) / "translations"),
    )
    app.jinja_env.globals.update(LANGUAGES=i18n.LANGUAGES, get_locale=get_locale)
    localization.init_app(app)  # dates in the zone and language; topic wording (issue 15)
    # The language is chosen afresh for every request (Flask-Babel caches it in `g`, which
    # outlives a request when an app context is already pushed: the CLI, the tests).
    app.before_request(refresh_locale)
    login.login_view = "admin.login"
    login.user_loader(_load_admin)
    mailer.install_session_hooks()
    database.init_database(app)


def _load_admin(admin_id: str):
    from .models import AdminUser

    admin = db.session.get(AdminUser, int(admin_id)) if admin_id.isdigit() else None
    return admin if admin is not None and admin.is_active else None  # deactivated: out


def _project_path(app: Flask, name: str) -> Path:
    return Path(app.root_path).parent / name


def _register_error_pages(app: Flask) -> None:
    """Every error is a readable page (or JSON under /api), never a bare 500."""

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        # The reason only: never the path (it may hold a token) nor the form's contents.
        from flask import request

        app.logger.warning(
            "form refused (CSRF) on %s %s: %s", request.method, request.endpoint, error.description
        )
        from flask_babel import gettext

        return render_template(  # in the visitor's language: subscribers meet this page
            "public/message.html",
            title=gettext("This form has expired"),
            message=gettext("Please reload the page and try again."),
        ), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        from flask import request

        # The error's own headers (Allow on a 405, WWW-Authenticate, Retry-After) stay.
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        if request.path.startswith(("/api/", "/inbound/")):  # the JSON endpoints
            return {"error": error.name, "detail": error.description}, error.code, headers
        title, message = error_pages.texts(error)  # in the visitor's language (issue 15)
        return (
            render_template("public/message.html", title=title, message=message),
            error.code,
            headers,
        )

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        app.logger.exception("unhandled error")
        db.session.rollback()
        try:
            title, message = error_pages.texts(None)
            return render_template("public/message.html", title=title, message=message), 500
        except Exception:  # the page itself failed: answer in plain text
            return "Something went wrong. Nothing was changed.", 500, {"Content-Type": "text/plain"}
