"""The admin pages' blueprint, on its own so that every route module imports it (and the
package imports the route modules) without an import cycle. Every page is behind login
(`auth.require_login`, a before_request of this blueprint)."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
