"""The subscriber pages' blueprint, on its own so that every route module imports it
(and the package imports the route modules) without an import cycle."""

from flask import Blueprint

bp = Blueprint("public", __name__)
