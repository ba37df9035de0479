"""GET /media/<name>: the images of the media library, served by the app itself (no
third-party host sees who opens a mail); GET /branding.css: the pages' brand colours.
The branding of every page (`branding` in the templates) is added here too."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, abort
from sqlalchemy.exc import SQLAlchemyError

from .. import branding, media
from ..extensions import db

bp = Blueprint("media", __name__)

YEAR = 365 * 24 * 3600


@bp.get("/media/<name>")
def serve(name: str):
    """The stored bytes; a name is its content's hash, so it may be cached for good."""
    if not media.NAME.fullmatch(name):
        abort(404)
    data = media.storage().read(name)
    if data is None:
        abort(404)
    response = Response(data, mimetype=media.CONTENT_TYPES[name.rsplit(".", 1)[1]])
    response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "inline"
    # Webmail shows the image from its own origin; the image is public anyway.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@bp.get("/branding.css")
def branding_css():
    """The brand colours as a stylesheet (the pages' CSP allows no inline styles)."""
    response = Response(branding.stylesheet(branding.current()), mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def _page_branding() -> dict:
    try:
        return {"branding": branding.current()}
    except SQLAlchemyError:  # an error page while the database is away: the defaults
        db.session.rollback()
        return {"branding": branding.Branding()}


def init_app(app: Flask) -> None:
    """`branding` in every template (the routes are registered with the other pages)."""
    app.context_processor(_page_branding)
