"""The blueprints, each with its URL prefix set where it is created.

Pages for people (`public`, `admin` behind login) use Flask-WTF's CSRF token; the
endpoints for programs (`api`, `inbound`) are token-authenticated (`bearer.require_scope`)
and CSRF-exempt. A new area is one more name in one of the two tuples.
"""

from __future__ import annotations

from flask import Flask

from ..extensions import csrf
from . import admin, api, inbound, media, public, webversion

PAGES = (public.bp, admin.bp, webversion.bp, media.bp)
PROGRAMS = (api.bp, inbound.bp)  # Authorization: Bearer TOKEN; no cookie, no CSRF token


def register_blueprints(app: Flask) -> None:
    """Register every blueprint on the app; exempt the programs' ones from CSRF."""
    for blueprint in PAGES:
        app.register_blueprint(blueprint)
    for blueprint in PROGRAMS:
        app.register_blueprint(blueprint)
        csrf.exempt(blueprint)
